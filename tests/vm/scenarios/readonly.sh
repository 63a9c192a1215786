# shellcheck shell=dash
# vm: udev=on
# readonly: `-r -a` creates read-only maps (and attaches an image file read-only); on a read-write
# loop device -r still makes the maps read-only.

ro_file_body() {
    local img
    img=$(mkgpt rofile 64 2 16)
    kp -x 0 -r -a "$img"
    assert_eq "$(map_ro loop0p1)" 1 "read-only flag of loop0p1"
    assert_eq "$(map_ro loop0p2)" 1 "read-only flag of loop0p2"
    assert_eq "$(cat /sys/block/loop0/ro)" 1 "read-only flag of loop0"
    snap "after -r -a IMG"
    kp -x 0 -d "$img"
    assert_eq "$(count_maps)" 0 "number of maps after -d"
    snap "after -d"
}

ro_dev_body() {
    local img lp
    img=$(mkgpt rodev 64 2 16)
    lp=$(attach "$img")
    kp -x 0 -r -a "$lp"
    assert_eq "$(map_ro loop0p1)" 1 "read-only flag of loop0p1"
    assert_eq "$(cat /sys/block/loop0/ro)" 0 "read-only flag of loop0"
    snap "after -r -a $lp"
    kp -x 0 -d "$lp"
    assert_eq "$(count_maps)" 0 "number of maps after -d"
    losetup -d "$lp"
}

scenario() {
    compare_impls ro_file_body
    compare_impls ro_dev_body
}
