# shellcheck shell=dash disable=SC2034 # K and IMPL are read by lib.sh
# vm: udev=on timeout=600
# update-busy: `-u` must remove the map of a partition that is gone while a short-lived opener
# holds it (as udev's blkid does after a change; here a shell holding it for 1 s). The binary
# under test rides the opener out within --busy-timeout (default 5 s) and removes the map, exit 0,
# ROUNDS rounds in a row. A map held for longer than the budget is refused as before: exit 1,
# "is in use", the map stays. The reference's answer to the short-lived opener is recorded once,
# not compared.

ROUNDS=20

# hold_briefly NAME: open /dev/mapper/NAME for a second in the background; returns once it is open.
hold_briefly() {
    local i=0
    sh -c "exec 3</dev/mapper/$1; sleep 1" &
    HOLDER=$!
    while [ "$(map_open "$1")" != 1 ] && [ "$i" -lt 50 ]; do sleep 0.02; i=$((i + 1)); done
}

scenario() {
    local img mark i
    mark=$VT/mark.update-busy
    state_mark "$mark"
    img=$(mkimg upbusy 64)
    sgdisk -o -n 1:2048:+8M -n 2:40960:+8M -n 3:81920:+8M "$img" >/dev/null || die "sgdisk failed"

    log "----- reference: -u while loop0p3 is held for 1 s"
    K=$REF
    IMPL=ref
    kp -t 60 -x 0 -a "$img"
    sgdisk -d 3 "$img" >/dev/null || die "sgdisk failed"
    hold_briefly loop0p3
    kp -t 60 -u "$img"
    if map_exists loop0p3; then
        log "NOTE: the reference left loop0p3 (status $KP_RC)"
    else
        log "NOTE: the reference removed loop0p3 (status $KP_RC)"
    fi
    wait "$HOLDER"
    state_restore "$mark"
    sgdisk -o -n 1:2048:+8M -n 2:40960:+8M -n 3:81920:+8M "$img" >/dev/null || die "sgdisk failed"

    log "----- binary under test, $ROUNDS rounds"
    K=$RS
    IMPL=rs
    kp -t 60 -x 0 -a "$img"
    i=1
    while [ "$i" -le "$ROUNDS" ]; do
        sgdisk -d 3 "$img" >/dev/null || die "sgdisk failed"
        hold_briefly loop0p3
        assert_eq "$(map_open loop0p3)" 1 "open count of loop0p3 while held (round $i)"
        kp -t 60 -x 0 -u "$img"
        assert_no_map loop0p3
        if grep -q "in use" "$KP_ERR"; then fail "round $i: -u reported a map in use"; fi
        wait "$HOLDER"
        assert_map loop0p1
        assert_map loop0p2
        sgdisk -n 3:81920:+8M "$img" >/dev/null || die "sgdisk failed"
        kp -t 60 -x 0 -u "$img"
        assert_map loop0p3
        i=$((i + 1))
    done

    log "----- a map held past the budget is refused as before"
    sgdisk -d 3 "$img" >/dev/null || die "sgdisk failed"
    exec 3</dev/mapper/loop0p3
    kp -t 60 -x 1 --busy-timeout 1 -u "$img"
    assert_map loop0p3
    assert_contains "$(cat "$KP_ERR")" "loop0p3 is in use (open count 1), not removed" "error of -u"
    exec 3<&-
    udev_settle
    kp -t 60 -x 0 -d "$img"
    assert_eq "$(count_maps)" 0 "maps after -d"
    IMPL=
    state_restore "$mark"
}
