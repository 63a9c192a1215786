# shellcheck shell=dash
# vm: udev=off hotplug
# hotplug-identity: helper mode trusts MAJOR:MINOR and checks DEVNAME, DM_NAME and DM_UUID
# against it. A multipath-looking event whose DEVNAME names a loop device, or a regular file
# holding a partition table, is refused (exit 2) and nothing is mapped or attached; the same
# event with the right DEVNAME maps the partitions (udev is off: nodes are made by hand).
. "$HARNESS/hotplug-lib.sh"

WWID=3600a0b80000000000000000000000077

helper() { # helper DEVNAME [VAR=VALUE...]: run the helper on mpid's event with that DEVNAME
    local devname=$1
    shift
    env -i ACTION=change MAJOR="$(map_field mpid major)" MINOR="$(map_field mpid minor)" \
        DEVNAME="$devname" DM_NAME=mpid DM_UUID="mpath-$WWID" "$@" /usr/sbin/kpartx --udev \
        2>"$VT/helper.err"
    HELPER_RC=$?
    sed 's/^/    helper: /' "$VT/helper.err" >&2
}

scenario() {
    local img lp other olp loops
    [ -x /usr/sbin/kpartx ] || die "the packaged kpartx is not installed in the VM (run with --overlay)"
    img=$(mkgpt hpid 64 2 16)
    lp=$(attach "$img")
    other=$(mkgpt hpidother 64 3 8)
    olp=$(attach "$other")
    hp_mpath mpid "$WWID" "$lp"
    loops=$(bound_loops | wc -l)

    helper "$olp"
    assert_eq "$HELPER_RC" 2 "helper exit status, DEVNAME of another block device"
    assert_eq "$(hp_maps mpid-)" "" "no partition maps for a mismatched DEVNAME"
    assert_eq "$(dm_names | grep -c "^$(basename "$olp")")" 0 "no maps of the other device"
    assert_contains "$(cat "$VT/helper.err")" "inconsistent" "the refusal is logged"

    helper "$other"
    assert_eq "$HELPER_RC" 2 "helper exit status, DEVNAME of a regular file"
    assert_eq "$(bound_loops | wc -l)" "$loops" "no loop attached for a file DEVNAME"
    assert_eq "$(hp_maps mpid-)" "" "no partition maps for a file DEVNAME"

    helper "/dev/dm-$(map_field mpid minor)" DM_NAME=mpother
    assert_eq "$HELPER_RC" 2 "helper exit status, DM_NAME that is not the device's"
    assert_eq "$(hp_maps mpid-)" "" "no partition maps for a mismatched DM_NAME"

    helper "/dev/dm-$(map_field mpid minor)"
    assert_eq "$HELPER_RC" 0 "helper exit status, consistent event"
    assert_eq "$(hp_maps mpid-)" "mpid-part1 mpid-part2" "partition maps for the real device"
    assert_node mpid-part1

    /usr/sbin/kpartx -d "/dev/dm-$(map_field mpid minor)" || fail "kpartx -d mpid"
    dmsetup remove mpid || fail "dmsetup remove mpid"
    losetup -d "$lp"
    losetup -d "$olp"
}
