# shellcheck shell=dash
# vm: udev=on
# sector4k: a loop device with 4096-byte logical sectors (losetup -b 4096) carrying a GPT written
# in 4K units; kpartx reads it in logical sectors and maps in 512-byte units (x8).

# sgdisk_field DEV N FIELD: "First sector" or "Partition size" of partition N, in device sectors.
sgdisk_field() {
    sgdisk -i "$2" "$1" | sed -n "s/^$3: \([0-9]*\).*/\1/p"
}

s4k_body() {
    local img lp dev n first size
    img=$(mkimg s4k 64)
    lp=$(attach "$img" -b 4096)
    assert_eq "$(blockdev --getss "$lp")" 4096 "logical sector size of $lp"
    sgdisk -o -n 1:0:+16M -n 2:0:+16M "$lp" >/dev/null || die "sgdisk on $lp failed"
    udev_settle
    dev=$(devno "$lp")
    kp -x 0 -l "$lp"
    kp -x 0 -av "$lp"
    for n in 1 2; do
        first=$(sgdisk_field "$lp" "$n" "First sector")
        size=$(sgdisk_field "$lp" "$n" "Partition size")
        assert_map "${lp##*/}p$n" "0 $((size * 8)) linear $dev $((first * 8))" \
            "part$n-devnode_${dev}_Wh5pYvM"
    done
    assert_map loop0p1 "0 32768 linear $dev 2048"
    snap "after -a"
    kp -x 0 -dv "$lp"
    assert_eq "$(count_maps)" 0 "number of maps after -d"
    # -d on a device (not a file) never detaches the loop
    assert_eq "$(loop_of "$img")" "$lp" "loop after -d $lp"
    snap "after -d"
    losetup -d "$lp"
}

scenario() { compare_impls s4k_body; }
