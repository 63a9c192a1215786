# shellcheck shell=dash
# vm: udev=on
# delete-image: `-a IMG` then `-d IMG` leaves no maps and no loop device; -d of an image that has
# no loop (never mapped, or already deleted) succeeds and does nothing.

delimg_body() {
    local img
    img=$(mkgpt delimg 64 2 16)
    kp -x 0 -d "$img"
    snap "after -d of an unmapped image"
    kp -x 0 -a "$img"
    assert_eq "$(count_maps)" 2 "number of maps after -a"
    kp -x 0 -d "$img"
    assert_eq "$(count_maps)" 0 "number of maps after -d"
    assert_eq "$(bound_loops)" "" "bound loop devices after -d"
    snap "after -a, -d"
    kp -x 0 -d "$img"
    snap "after a second -d"
}

scenario() { compare_impls delimg_body; }
