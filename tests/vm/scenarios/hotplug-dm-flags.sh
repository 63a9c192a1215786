# shellcheck shell=dash
# vm: udev=any hotplug
# hotplug-dm-flags: a change event for a suspended multipath map, on either dm rules version.
# Version 2 (Debian 12) exports DM_SUSPENDED=1 to RUN programs; version 3 (Debian 13) keeps only
# the private .DM_SUSPENDED, which udev never passes to a program. Both set
# DM_UDEV_DISABLE_OTHER_RULES_FLAG for it, so 66-kpartx.rules starts no helper; udev settles
# (nothing reads the suspended map), no partition map is made, and after the resume (a change
# event of its own) the partition maps are there. The udev database shows which version decided.
. "$HARNESS/hotplug-lib.sh"

WWID=3600a0b80000000000000000000000042

scenario() {
    local img lp dm props runs
    hp_begin
    img=$(mkgpt hpfl 64 2 16)
    lp=$(attach "$img")
    hp_mpath mpfl "$WWID" "$lp"
    udev_settle
    hp_wait_maps mpfl- 2
    assert_eq "$(hp_maps mpfl-)" "mpfl-part1 mpfl-part2" "partition maps at creation"
    dmsetup remove mpfl-part1 mpfl-part2 || fail "dmsetup remove of the partition maps"
    udev_settle
    dm=$(hp_dm_kernel mpfl)

    dmsetup suspend mpfl || die "dmsetup suspend mpfl"
    hp_count_runs
    udevadm trigger --action=change "/sys/block/$dm"
    timeout 60 udevadm settle -t 50 || fail "udev did not settle with mpfl suspended"
    runs=$(hp_runs change)
    hp_count_runs --stop
    assert_eq "$(hp_maps mpfl-)" "" "partition maps made while mpfl was suspended"
    props=$(udevadm info -q property "/dev/$dm")
    assert_contains "$props" "DM_UDEV_DISABLE_OTHER_RULES_FLAG=1" "other rules disabled while suspended"
    assert_eq "$runs" "" "helper runs while suspended (66-kpartx.rules skips the event)"
    # What each rules version leaves in the udev database for the event (stack-specific facts,
    # not this project's behaviour, which is the same on both: asserted above).
    case $VM_STACK in
        12)
            assert_contains "$props" "DM_UDEV_RULES_VSN=2" "dm rules version (Debian 12)"
            assert_contains "$props" "DM_SUSPENDED=1" "exported suspended flag (version 2)"
            ;;
        13)
            assert_contains "$props" "DM_UDEV_RULES_VSN=3" "dm rules version (Debian 13)"
            case $props in *DM_SUSPENDED=*) fail "version 3 exported DM_SUSPENDED" ;; esac
            ;;
    esac

    dmsetup resume mpfl || fail "dmsetup resume mpfl"
    udev_settle
    hp_wait_maps mpfl- 2
    assert_eq "$(hp_maps mpfl-)" "mpfl-part1 mpfl-part2" "partition maps after the resume"

    /usr/sbin/kpartx -d /dev/mapper/mpfl || fail "kpartx -d mpfl"
    dmsetup remove mpfl || fail "dmsetup remove mpfl"
    losetup -d "$lp"
    hp_end
}
