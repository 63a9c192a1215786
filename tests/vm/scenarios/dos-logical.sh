# shellcheck shell=dash
# vm: udev=on
# dos-logical: an MBR with a primary, an extended partition and two logicals.  -l prints the
# legacy "stacked" rendering; -a maps p1, p2 (the extended partition: 2 sectors), p5 and p6, the
# logicals directly on the parent at their absolute offsets; -d removes all four.

dos_body() {
    local img lp dev
    img=$(mkimg dos 64)
    sfdisk -q "$img" <<'EOT' || die "sfdisk failed"
label: dos
start=2048, size=10240, type=83
start=12288, size=16384, type=5
start=14336, size=4096, type=83
start=20480, size=4096, type=83
EOT
    kp -x 0 -l "$img"
    assert_eq "$(cat "$KP_OUT")" "loop0p1 : 0 10240 /dev/loop0 2048
loop0p2 : 0 2 /dev/loop0 12288
loop0p5 : 0 4096 /dev/dm-1 2048
loop0p6 : 0 4096 /dev/dm-1 8192" "-l output"
    assert_eq "$(loops_of "$img")" "" "loops after -l (it detaches the loop it attached)"
    kp -x 0 -av "$img"
    lp=$(loop_of "$img") || die "no loop device backs $img"
    dev=$(devno "$lp")
    assert_map loop0p1 "0 10240 linear $dev 2048" "part1-devnode_${dev}_Wh5pYvM"
    assert_map loop0p2 "0 2 linear $dev 12288" "part2-devnode_${dev}_Wh5pYvM"
    assert_map loop0p5 "0 4096 linear $dev 14336" "part5-devnode_${dev}_Wh5pYvM"
    assert_map loop0p6 "0 4096 linear $dev 20480" "part6-devnode_${dev}_Wh5pYvM"
    assert_no_map loop0p3
    assert_no_map loop0p4
    snap "after -a"
    kp -x 0 -dv "$img"
    assert_eq "$(count_maps)" 0 "number of maps after -d"
    assert_eq "$(loops_of "$img")" "" "loops after -d"
    snap "after -d"
}

scenario() { compare_impls dos_body; }
