# shellcheck shell=dash disable=SC2034 # K and IMPL are read by lib.sh
# vm: udev=on
# image-4k: a 4K-native GPT image (written by sgdisk through a loop with 4096-byte logical
# sectors, then detached) given as a file: `-l` (no loop) and `-a` (--sector-size auto) use a
# 4096-byte loop block size, the maps have the right offsets (x8), and blkid sees an ext4 made
# in the first partition. --sector-size 512 reads it as a 512-byte disk (no GPT there). The
# reference has no sector size detection: asserts on the binary under test only.

sgdisk_field() {
    sgdisk -i "$2" "$1" | sed -n "s/^$3: \([0-9]*\).*/\1/p"
}

s4kimg_body() {
    local img lp first first1 size1 first2 size2 dev name
    img=$(mkimg native4k 64)
    lp=$(attach "$img" -b 4096)
    sgdisk -o -n 1:0:+16M -n 2:0:+16M "$lp" >/dev/null || die "sgdisk on $lp failed"
    first1=$(sgdisk_field "$lp" 1 "First sector")
    size1=$(sgdisk_field "$lp" 1 "Partition size")
    first2=$(sgdisk_field "$lp" 2 "First sector")
    size2=$(sgdisk_field "$lp" 2 "Partition size")
    losetup -d "$lp"
    udev_settle

    kp -x 0 -l "$img"
    assert_eq "$(wc -l <"$KP_OUT")" 2 "lines of -l"
    assert_eq "$(bound_loops | wc -l)" 0 "loops bound by -l"
    first=$(cat "$KP_OUT")
    kp -x 0 -l --sector-size 512 "$img"
    assert_ne "$(cat "$KP_OUT")" "$first" "-l --sector-size 512 (no GPT at byte 512)"

    kp -x 0 -av "$img"
    lp=$(loop_of "$img")
    assert_eq "$(blockdev --getss "$lp")" 4096 "logical sector size of $lp"
    dev=$(devno "$lp")
    name=${lp##*/}
    assert_map "${name}p1" "0 $((size1 * 8)) linear $dev $((first1 * 8))"
    assert_map "${name}p2" "0 $((size2 * 8)) linear $dev $((first2 * 8))"
    kp -x 0 -l "$img"
    assert_contains "$(cat "$KP_OUT")" "${name}p1 : 0 $((size1 * 8)) $lp $((first1 * 8))" "-l with the loop bound"
    udev_settle
    mkfs.ext4 -q -F "/dev/mapper/${name}p1" >/dev/null 2>&1 || fail "mkfs.ext4 on ${name}p1 failed"
    assert_eq "$(blkid -o value -s TYPE "/dev/mapper/${name}p1")" ext4 "blkid TYPE of ${name}p1"
    snap "after -a"
    kp -x 0 -dv "$img"
    assert_eq "$(count_maps)" 0 "maps after -d"
    assert_eq "$(loops_of "$img" | wc -l)" 0 "loops after -d"
}

scenario() {
    K=$RS
    IMPL=rs
    s4kimg_body
}
