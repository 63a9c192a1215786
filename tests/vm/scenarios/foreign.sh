# shellcheck shell=dash
# vm: udev=on
# foreign: linear maps on the same parent that kpartx did not create (LVM-like UUIDs) must survive
# -u and -d, even one named like a partition map (loop0p3); a foreign map occupying a partition's
# name makes -a fail: the reference for that partition only, this implementation for the whole
# run (nothing made, a loop it attached detached again).

LVUUID=LVM-Yb2gXL8DmKq4nQvTq2mZ1vYp3kW9sR5tN0cH7jF6aE4dG8bU1xV3zC2wQ9eR6tY

foreign_body() {
    local img lp dev
    img=$(mkgpt foreign 64 2 16)
    kp -x 0 -a "$img"
    lp=$(loop_of "$img") || die "no loop for $img"
    dev=$(devno "$lp")
    dmsetup create vg0-lv0 -u "${LVUUID}1" --table "0 8192 linear $dev 69632" ||
        die "dmsetup create vg0-lv0 failed"
    dmsetup create loop0p3 -u "${LVUUID}2" --table "0 8192 linear $dev 77824" ||
        die "dmsetup create loop0p3 failed"
    udev_settle
    snap "foreign maps created"
    kp -uv "$img"
    assert_map vg0-lv0 "0 8192 linear $dev 69632" "${LVUUID}1"
    assert_map loop0p3 "0 8192 linear $dev 77824" "${LVUUID}2"
    snap "after -u"
    kp -x 0 -dv "$img"
    assert_no_map loop0p1
    assert_no_map loop0p2
    assert_map vg0-lv0 "0 8192 linear $dev 69632" "${LVUUID}1"
    assert_map loop0p3 "0 8192 linear $dev 77824" "${LVUUID}2"
    snap "after -d"
    dmsetup remove vg0-lv0 || fail "dmsetup remove vg0-lv0"
    dmsetup remove loop0p3 || fail "dmsetup remove loop0p3"
}

foreign_collide_body() {
    local img lp dev
    img=$(mkgpt collide 64 2 16)
    lp=$(attach "$img")
    dev=$(devno "$lp")
    dmsetup create loop0p2 -u "${LVUUID}3" --table "0 8192 linear $dev 40960" ||
        die "dmsetup create loop0p2 failed"
    udev_settle
    if is_rs; then
        # Deliberate difference: a taken name refuses the whole run, naming the holder.
        untraced kp -x 1 -av "$img"
        assert_no_map loop0p1
        assert_contains "$(cat "$KP_ERR")" "loop0p2 exists and belongs to DM UUID ${LVUUID}3" \
            "the holder is named"
        assert_eq "$(loop_of "$img")" "$lp" "a loop the run did not attach stays"
    else
        untraced kp -x 1 -av "$img"
        assert_map loop0p1 "0 32768 linear $dev 2048" "part1-devnode_${dev}_Wh5pYvM"
    fi
    assert_map loop0p2 "0 8192 linear $dev 40960" "${LVUUID}3"
    untraced kp -x 0 -dv "$img"
    assert_no_map loop0p1
    assert_map loop0p2 "0 8192 linear $dev 40960" "${LVUUID}3"
    snap "after -d"
    dmsetup remove loop0p2 || fail "dmsetup remove loop0p2"
}

# foreign_collide_image_body: the same clash when -a attaches the loop itself: nothing is made
# and the loop it attached is detached again (the reference leaves it attached).
foreign_collide_image_body() {
    local img fl next
    fl=$(attach "$(mkimg collide2-other 8)")
    img=$(mkgpt collide2 64 2 16)
    next=$(basename "$(losetup -f)")
    dmsetup create "${next}p1" -u "${LVUUID}4" --table "0 8192 linear $(devno "$fl") 0" ||
        die "dmsetup create ${next}p1 failed"
    udev_settle
    kp -x 1 -E -a "$img"
    assert_no_map "${next}p2"
    assert_contains "$(cat "$KP_ERR")" "${next}p1 exists and belongs to DM UUID ${LVUUID}4" \
        "the holder is named"
    assert_eq "$(loop_of "$img")" "" "the loop -a attached is detached"
    dmsetup remove "${next}p1" || fail "dmsetup remove ${next}p1"
    losetup -d "$fl"
}

scenario() {
    compare_impls foreign_body
    compare_impls foreign_collide_body
    (K=$RS IMPL=rs && foreign_collide_image_body)
}
