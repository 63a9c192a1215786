# shellcheck shell=dash disable=SC2034 # K and IMPL are read by lib.sh
# vm: udev=off
# noudev: the basics without udevd (no /run/udev/control, no /dev/block links): kpartx must make
# the /dev/mapper nodes itself (the reference's libdevmapper falls back to mknod) and remove them
# again.  GPT with -a/-l/-u/-d, DOS logicals with -r, a multipath parent with -p -part and a busy
# partition.  Loop devices are given explicitly: without /dev/block links the reference cannot find
# the loop that already backs an image file (see noudev_file_info, which only logs).

noudev_gpt_body() {
    local img lp dev
    img=$(mkgpt nogpt 64 2 16)
    lp=$(attach "$img")
    dev=$(devno "$lp")
    kp -x 0 -av "$lp"
    assert_map loop0p1 "0 32768 linear $dev 2048" "part1-devnode_${dev}_Wh5pYvM"
    assert_map loop0p2 "0 32768 linear $dev 34816" "part2-devnode_${dev}_Wh5pYvM"
    assert_node loop0p1
    assert_node loop0p2
    snap "after -a"
    # a map that is right but whose node went missing gets it back from -a
    rm -f /dev/mapper/loop0p2
    kp -x 0 -a "$lp"
    assert_node loop0p2
    kp -x 0 -l "$lp"
    # repartition and update
    sgdisk -o -n 1:2048:+24M "$img" >/dev/null || die "sgdisk failed"
    kp -x 0 -uv "$lp"
    assert_map loop0p1 "0 49152 linear $dev 2048"
    assert_no_map loop0p2
    snap "after -u"
    kp -x 0 -dv "$lp"
    assert_eq "$(count_maps)" 0 "number of maps after -d"
    assert_eq "$(echo /dev/mapper/*)" /dev/mapper/control "/dev/mapper after -d"
    snap "after -d"
    losetup -d "$lp"
}

noudev_dos_ro_body() {
    local img lp dev
    img=$(mkimg nodos 64)
    sfdisk -q "$img" <<'EOT' || die "sfdisk failed"
label: dos
start=2048, size=10240, type=83
start=12288, size=16384, type=5
start=14336, size=4096, type=83
EOT
    lp=$(attach "$img")
    dev=$(devno "$lp")
    kp -x 0 -r -av "$lp"
    assert_map loop0p5 "0 4096 linear $dev 14336" "part5-devnode_${dev}_Wh5pYvM"
    assert_eq "$(map_ro loop0p5)" 1 "read-only flag of loop0p5"
    assert_node loop0p5
    snap "after -r -a"
    kp -x 0 -dv "$lp"
    assert_eq "$(echo /dev/mapper/*)" /dev/mapper/control "/dev/mapper after -d"
    snap "after -d"
    losetup -d "$lp"
}

noudev_mp_busy_body() {
    local img lp mdev wwid=3600a0b8000112233445566778899aabb
    img=$(mkgpt nomp 64 2 16)
    lp=$(attach "$img")
    dm_create mpathb -u "mpath-$wwid" \
        --table "0 $(blockdev --getsz "$lp") multipath 0 0 1 1 round-robin 0 1 1 $(devno "$lp") 1000" ||
        die "dmsetup create mpathb failed"
    mdev=$(devno /dev/mapper/mpathb)
    kp -x 0 -av -p -part /dev/mapper/mpathb
    assert_map mpathb-part1 "0 32768 linear $mdev 2048" "part1-mpath-$wwid"
    assert_node mpathb-part2
    snap "after -a -p -part"
    exec 3</dev/mapper/mpathb-part2
    # Deliberate difference (docs/differences.md): this project removes nothing while a map is open.
    untraced kp -x 1 -dv -p -part /dev/mapper/mpathb
    assert_map mpathb-part2
    is_rs && assert_map mpathb-part1
    exec 3<&-
    untraced kp -x 0 -dv -p -part /dev/mapper/mpathb
    assert_no_map mpathb-part2
    assert_eq "$(echo /dev/mapper/*)" "/dev/mapper/control /dev/mapper/mpathb" "/dev/mapper after -d"
    snap "after -d"
    dmsetup remove mpathb || fail "dmsetup remove mpathb failed"
    losetup -d "$lp"
}

# Not compared: what each implementation does with an image *file* when there are no /dev/block
# links.  The reference attaches a loop on -a, and -d then finds no loop: exit 0, maps remain.
noudev_file_info() {
    local img impl
    for impl in ref rs; do
        [ "$impl" = rs ] && [ ! -x "$RS" ] && continue
        img=$(mkgpt nofile 64 2 16)
        if [ "$impl" = ref ]; then K=$REF; else K=$RS; fi
        IMPL=$impl
        log "----- info only [$impl]: image file without /dev/block links"
        kp -a "$img"
        kp -d "$img"
        log "state after -a IMG, -d IMG [$impl]:"
        dm_snapshot | sed 's/^/    /'
        state_restore "$VT/mark.noudev.info"
    done
    IMPL=
}

scenario() {
    compare_impls noudev_gpt_body
    compare_impls noudev_dos_ro_body
    compare_impls noudev_mp_busy_body
    state_mark "$VT/mark.noudev.info"
    noudev_file_info
}
