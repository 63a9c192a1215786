# shellcheck shell=dash
# vm: udev=on
# update: repartition a mapped image (grow p1, shrink p2, remove p3) and run `kpartx -u`: the
# tables of p1 and p2 follow, p3's map is removed.  Then add a partition and -u again.

update_body() {
    local img dev
    img=$(mkimg update 64)
    sgdisk -o -n 1:2048:+8M -n 2:40960:+8M -n 3:81920:+8M "$img" >/dev/null || die "sgdisk failed"
    kp -x 0 -av "$img"
    dev=$(devno "$(loop_of "$img")")
    assert_map loop0p1 "0 16384 linear $dev 2048"
    assert_map loop0p2 "0 16384 linear $dev 40960"
    assert_map loop0p3 "0 16384 linear $dev 81920"
    snap "after -a"
    # grow p1 to 16 MiB, shrink p2 to 4 MiB, drop p3
    sgdisk -o -n 1:2048:+16M -n 2:40960:+4M "$img" >/dev/null || die "sgdisk failed"
    kp -x 0 -uv "$img"
    assert_map loop0p1 "0 32768 linear $dev 2048" "part1-devnode_${dev}_Wh5pYvM"
    assert_map loop0p2 "0 8192 linear $dev 40960" "part2-devnode_${dev}_Wh5pYvM"
    assert_no_map loop0p3
    assert_eq "$(loops_of "$img")" /dev/loop0 "loops backing the image after -u"
    snap "after -u"
    # a new partition 4 appears with -u as well
    sgdisk -n 4:90112:+4M "$img" >/dev/null || die "sgdisk failed"
    kp -x 0 -uv "$img"
    assert_map loop0p4 "0 8192 linear $dev 90112" "part4-devnode_${dev}_Wh5pYvM"
    snap "after adding p4 and -u"
    kp -x 0 -dv "$img"
    assert_eq "$(count_maps)" 0 "number of maps after -d"
    snap "after -d"
}

scenario() { compare_impls update_body; }
