# shellcheck shell=dash
# vm: udev=on
# ownership-update: -u applies -d's ownership rule. Two maps that -d keeps must survive -u too:
# one whose UUID says "partition 3 of this parent" but whose linear target is another device,
# and a linear map on the parent without any UUID, named like partition 4. Deliberate
# difference: the reference's -u removes both. Asserts on the binary under test only.

scenario() {
    local img other lp olp dev odev owner
    img=$(mkgpt own 64 2 16)
    other=$(mkgpt ownother 64 2 16)
    K=$RS
    IMPL=rs
    kp -x 0 -a "$img"
    lp=$(loop_of "$img") || die "no loop for $img"
    olp=$(attach "$other")
    dev=$(devno "$lp")
    odev=$(devno "$olp")
    owner=$(map_uuid "$(basename "$lp")p1")
    owner=${owner#part1-}
    [ -n "$owner" ] || die "no ownership UUID"
    dmsetup create "$(basename "$lp")p3" -u "part3-$owner" --table "0 8192 linear $odev 2048" ||
        die "dmsetup create p3 failed"
    dmsetup create "$(basename "$lp")p4" --table "0 8192 linear $dev 69632" ||
        die "dmsetup create p4 failed"
    udev_settle
    kp -x 0 -uv "$img"
    assert_map "$(basename "$lp")p3" "0 8192 linear $odev 2048" "part3-$owner"
    assert_map "$(basename "$lp")p4" "0 8192 linear $dev 69632" ""
    kp -x 0 -dv "$img"
    assert_no_map "$(basename "$lp")p1"
    assert_no_map "$(basename "$lp")p2"
    assert_map "$(basename "$lp")p3" "0 8192 linear $odev 2048" "part3-$owner"
    assert_map "$(basename "$lp")p4" "0 8192 linear $dev 69632" ""
    dmsetup remove "$(basename "$lp")p3" || fail "dmsetup remove p3"
    dmsetup remove "$(basename "$lp")p4" || fail "dmsetup remove p4"
    udev_settle
    losetup -d "$olp"
    # -d left the image's loop bound because maps on it remained; detach it now.
    losetup -d "$lp" 2>/dev/null
    IMPL=
}
