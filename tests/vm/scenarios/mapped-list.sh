# shellcheck shell=dash
# vm: udev=on
# mapped-list: -l of an image that is already mapped uses the existing loop device (found through
# udev's /dev/block links) and does not detach it; same output via the loop device itself and via
# the -p delimiter.

mlist_body() {
    local img
    img=$(mkgpt mlist 64 3 8)
    kp -x 0 -a "$img"
    kp -x 0 -l "$img"
    assert_eq "$(cat "$KP_OUT")" "loop0p1 : 0 16384 /dev/loop0 2048
loop0p2 : 0 16384 /dev/loop0 18432
loop0p3 : 0 16384 /dev/loop0 34816" "-l output"
    assert_eq "$(loops_of "$img")" /dev/loop0 "loops backing the image after -l"
    kp -x 0 -l /dev/loop0
    kp -x 0 -l -p X "$img"
    kp -x 0 -lv "$img"
    snap "after -l"
    kp -x 0 -d "$img"
    snap "after -d"
}

scenario() { compare_impls mlist_body; }
