# shellcheck shell=dash
# vm: udev=any hotplug
# hotplug-multipath: a multipath map over a loop with a GPT gets NAME-partN maps and by-id links
# from the installed rules alone; repartition + change updates them; skip_kpartx and a policy
# no_partitions remove them; an unchanged reload (MPATH_UNCHANGED=1) maps the map only when nothing
# is stacked on it; a replayed remove event tears them down so the map can go, and no
# other remove event starts the helper.
. "$HARNESS/hotplug-lib.sh"

WWID=3600a0b80000000000000000000000001

scenario() {
    local img lp
    hp_begin
    img=$(mkgpt hpmp 64 2 16)
    lp=$(attach "$img")
    hp_mpath mpatha "$WWID" "$lp"
    udev_settle
    assert_eq "$(hp_maps mpatha-)" "mpatha-part1 mpatha-part2" "partition maps made by udev"
    assert_map mpatha-part1 "" "part1-mpath-$WWID"
    assert_node mpatha-part1
    assert_eq "$(readlink -f "/dev/disk/by-id/scsi-$WWID-part1")" \
        "/dev/$(hp_dm_kernel mpatha-part1)" "by-id scsi link of partition 1"
    assert_eq "$(readlink -f "/dev/disk/by-id/wwn-0x${WWID#?}-part2")" \
        "/dev/$(hp_dm_kernel mpatha-part2)" "by-id wwn link of partition 2"
    snap "after create"

    # Repartition through the image file: grow 1, drop 2, add 3; then a change event.
    sgdisk -d 1 -d 2 -n 1:2048:+24M -n 3:0:+8M "$img" >/dev/null
    hp_change mpatha
    assert_eq "$(hp_maps mpatha-)" "mpatha-part1 mpatha-part3" "maps after repartition + change"
    assert_map mpatha-part1 "0 49152 linear $(devno /dev/mapper/mpatha) 2048"
    snap "after repartition"

    # multipath's skip_kpartx arrives as DM_SUBSYSTEM_UDEV_FLAG1 (dmsetup cannot set it, so the
    # helper is called the way the rule calls it, with that event environment).
    env -i ACTION=change MAJOR="$(map_field mpatha major)" MINOR="$(map_field mpatha minor)" \
        DEVNAME="/dev/$(hp_dm_kernel mpatha)" DM_NAME=mpatha DM_UUID="mpath-$WWID" \
        DM_SUBSYSTEM_UDEV_FLAG1=1 /usr/sbin/kpartx --udev
    assert_eq "$?" 0 "helper exit status for skip_kpartx"
    assert_eq "$(hp_maps mpatha-)" "" "skip_kpartx removed the partition maps"
    hp_change mpatha
    assert_eq "$(hp_maps mpatha-)" "mpatha-part1 mpatha-part3" "maps back after a normal change"

    # An unchanged multipath reload (MPATH_UNCHANGED=1, from multipath's reload flag) leaves a
    # mapped map alone, and maps one that nothing is stacked on (its earlier events came while
    # it could not be read; in an initramfs, no other event may come). Called the way the
    # rule calls it, with that event environment.
    unchanged() {
        env -i ACTION=change MAJOR="$(map_field mpatha major)" MINOR="$(map_field mpatha minor)" \
            DEVNAME="/dev/$(hp_dm_kernel mpatha)" DM_NAME=mpatha DM_UUID="mpath-$WWID" \
            MPATH_UNCHANGED=1 DM_ACTIVATION=0 /usr/sbin/kpartx --udev
    }
    before=$(dmsetup info -c --noheadings -o name,minor | grep '^mpatha-' | sort)
    unchanged
    assert_eq "$?" 0 "helper exit status for an unchanged reload"
    assert_eq "$(dmsetup info -c --noheadings -o name,minor | grep '^mpatha-' | sort)" "$before" \
        "partition maps untouched by an unchanged reload"
    dmsetup remove mpatha-part3 && dmsetup remove mpatha-part1 || fail "dmsetup remove mpatha-part*"
    udev_settle
    unchanged
    assert_eq "$?" 0 "helper exit status for an unchanged reload of an unmapped map"
    assert_eq "$(hp_maps mpatha-)" "mpatha-part1 mpatha-part3" "an unchanged reload maps a map nothing is stacked on"
    udev_settle

    # Policy no_partitions for this WWID: the next change removes the maps.
    hp_policy 50-quorum "[[device]]
match = { wwid = \"$WWID\" }
partitions = \"disabled\""
    hp_change mpatha
    assert_eq "$(hp_maps mpatha-)" "" "policy no_partitions removed the maps"
    rm -f "$HP_DROPIN/50-quorum.toml"
    hp_change mpatha
    assert_eq "$(hp_maps mpatha-)" "mpatha-part1 mpatha-part3" "maps back without the policy"

    # Flush path: a remove event for the parent tears its partition maps down, then the map goes.
    # The helper runs for that replayed event (the map still has partition maps stacked on it),
    # and for no other remove event: not for the partition maps' own, not for the real removal
    # of the map (nothing can be stacked on a device that is really removed).
    hp_count_runs
    udevadm trigger --action=remove "/sys/block/$(hp_dm_kernel mpatha)"
    udev_settle
    assert_eq "$(hp_maps mpatha-)" "" "remove event left no partition maps"
    assert_eq "$(hp_runs remove)" "remove mpatha" "helper runs for the replayed remove event"
    dmsetup remove mpatha || fail "mpatha could not be removed after the teardown"
    udev_settle
    assert_eq "$(hp_maps mpatha)" "" "no stale maps"
    assert_eq "$(hp_runs remove)" "remove mpatha" "helper runs after the real removal"
    hp_count_runs --stop
    losetup -d "$lp"
    hp_end
}
