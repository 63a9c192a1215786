# shellcheck shell=dash
# vm: udev=on
# multipath: a multipath map (no multipathd: dmsetup create with a round-robin table) over a loop
# device with a GPT.  `kpartx -a -p -part /dev/mapper/mpatha` creates mpatha-part1/2 with UUIDs
# part<N>-mpath-<wwid> on the multipath map; -l lists them; -d removes them and leaves mpatha.
# Also: maps made without -p (mpatha1, mpatha2) are found by UUID and renamed by a later
# `-a -p -part`, and -d without -p still removes mpatha-partN (UUID-based ownership).
# This project publishes the maps' by-id properties in /run/kpartx/id/<uuid> while udev runs,
# and removes them with the maps.

WWID=3600a0b800011223344556677889900aa

mp_setup() { # mp_setup: prints the loop device; creates mpatha over it
    local img lp sz
    img=$(mkgpt mp 64 2 16)
    lp=$(attach "$img")
    sz=$(blockdev --getsz "$lp")
    dmsetup create mpatha -u "mpath-$WWID" \
        --table "0 $sz multipath 0 0 1 1 round-robin 0 1 1 $(devno "$lp") 1000" >&2 ||
        die "dmsetup create mpatha failed"
    udev_settle
    echo "$lp"
}

mp_teardown() {
    dmsetup remove mpatha || fail "dmsetup remove mpatha failed"
    losetup -d "$1"
}

mp_body() {
    local lp mdev
    lp=$(mp_setup) || return 1
    mdev=$(devno /dev/mapper/mpatha)
    kp -x 0 -av -p -part /dev/mapper/mpatha
    assert_map mpatha-part1 "0 32768 linear $mdev 2048" "part1-mpath-$WWID"
    assert_map mpatha-part2 "0 32768 linear $mdev 34816" "part2-mpath-$WWID"
    assert_node mpatha-part1
    # this project publishes the by-id properties for 56-kpartx-parts.rules (udev runs)
    if is_rs; then
        assert_eq "$(tr '\n' ' ' <"/run/kpartx/id/part2-mpath-$WWID")" \
            "DM_MPATH=mpatha DM_PART=2 DM_TYPE=scsi DM_WWN=0x${WWID#?} DM_SERIAL=$WWID " \
            "published properties of mpatha-part2"
    fi
    snap "after -a -p -part"
    kp -x 0 -l -p -part /dev/mapper/mpatha
    kp -x 0 -dv -p -part /dev/mapper/mpatha
    assert_no_map mpatha-part1
    assert_no_map mpatha-part2
    # and withdraws them with the maps
    for f in /run/kpartx/id/part*-mpath-"$WWID"; do
        [ ! -e "$f" ] || fail "published properties left after -d: $f"
    done
    assert_map mpatha
    snap "after -d -p -part"
    mp_teardown "$lp"
}

mp_rename_body() {
    local lp mdev
    lp=$(mp_setup) || return 1
    mdev=$(devno /dev/mapper/mpatha)
    # "mpatha" does not end in a digit: no delimiter
    kp -x 0 -av /dev/mapper/mpatha
    assert_map mpatha1 "0 32768 linear $mdev 2048" "part1-mpath-$WWID"
    snap "after -a without -p"
    # same UUIDs: renamed to the -part names, not duplicated
    kp -x 0 -av -p -part /dev/mapper/mpatha
    assert_no_map mpatha1
    assert_map mpatha-part1 "0 32768 linear $mdev 2048" "part1-mpath-$WWID"
    snap "after -a -p -part (rename)"
    kp -x 0 -dv /dev/mapper/mpatha
    assert_no_map mpatha-part1
    assert_no_map mpatha-part2
    snap "after -d without -p"
    mp_teardown "$lp"
}

scenario() {
    compare_impls mp_body
    compare_impls mp_rename_body
}
