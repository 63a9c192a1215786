# shellcheck shell=dash
# vm: udev=on
# delete-busy: a partition map held open (a file descriptor, then a mounted ext4) makes -d refuse:
# exit status 1 and the map stays.  Once released, -d removes everything.  Deliberate
# difference (docs/differences.md): the reference removes the maps before the busy one and detaches the loop
# (lazily), this project removes nothing while any partition map is open and keeps the loop; the
# refused -d and the -d after it are therefore asserted per implementation, not compared.

busy_fd_body() {
    local img
    img=$(mkgpt busyfd 64 2 16)
    kp -x 0 -a "$img"
    exec 3</dev/mapper/loop0p1
    assert_eq "$(map_open loop0p1)" 1 "open count of loop0p1 while held"
    untraced kp -x 1 -dv "$img"
    assert_map loop0p1
    if is_rs; then
        assert_map loop0p2
        assert_contains "$(cat "$KP_ERR")" "loop0p1 is in use (open count 1), not removed" "error"
        assert_eq "$(loops_of "$img")" /dev/loop0 "loop kept while a map is open"
    fi
    exec 3<&-
    udev_settle
    untraced kp -x 0 -dv "$img"
    assert_eq "$(count_maps)" 0 "number of maps after release and -d"
    assert_eq "$(bound_loops)" "" "bound loop devices after release and -d"
    snap "after release and -d"
}

busy_mount_body() {
    local img
    img=$(mkgpt busymnt 64 2 16)
    kp -x 0 -a "$img"
    mkfs.ext4 -q /dev/mapper/loop0p2 || die "mkfs.ext4 failed"
    mkdir -p /mnt/busy
    mount -t ext4 /dev/mapper/loop0p2 /mnt/busy || die "mount failed"
    udev_settle
    untraced kp -x 1 -dv "$img"
    assert_map loop0p2
    if is_rs; then
        assert_map loop0p1
        assert_contains "$(cat "$KP_OUT")" "loop0p2 is in use. Not removing" "-v line"
    fi
    umount /mnt/busy || fail "umount failed"
    udev_settle
    untraced kp -x 0 -dv "$img"
    assert_eq "$(count_maps)" 0 "number of maps after umount and -d"
    snap "after umount and -d"
}

scenario() {
    compare_impls busy_fd_body
    compare_impls busy_mount_body
}
