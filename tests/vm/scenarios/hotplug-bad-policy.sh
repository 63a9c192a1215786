# shellcheck shell=dash
# vm: udev=any hotplug
# hotplug-bad-policy: a malformed policy file leaves the system working with the safe defaults
# (multipath maps still get partitions, loops still get none) and --check-config names the
# file, line and column; a dangling symlink among the drop-ins is reported, not skipped.
. "$HARNESS/hotplug-lib.sh"

WWID=3600a0b80000000000000000000000002

scenario() {
    local img lp out
    hp_begin
    hp_policy 10-broken '[[device]]
match = { kind = "loop" }
partitions = "enabled"
bogus_key = 1'
    out=$(/usr/sbin/kpartx --check-config 2>&1)
    assert_eq "$?" 1 "--check-config exit status on a bad file"
    assert_contains "$out" "$HP_DROPIN/10-broken.toml:4:1:" "error position"
    ln -s /nonexistent/policy.toml "$HP_DROPIN/20-gone.toml"
    out=$(/usr/sbin/kpartx --check-config 2>&1)
    assert_contains "$out" "$HP_DROPIN/20-gone.toml:1:1: dangling symbolic link" "dangling drop-in"
    img=$(mkgpt hpbad 64 2 16)
    lp=$(attach "$img")
    udev_settle
    assert_eq "$(hp_maps "${lp#/dev/}p")" "" "loops keep the safe default (no partitions)"
    hp_mpath mpathb "$WWID" "$lp"
    udev_settle
    assert_eq "$(hp_maps mpathb-)" "mpathb-part1 mpathb-part2" "multipath keeps its partitions"
    /usr/sbin/kpartx -d /dev/mapper/mpathb || fail "kpartx -d mpathb"
    dmsetup remove mpathb
    losetup -d "$lp"
    hp_end
}
