# shellcheck shell=dash disable=SC2034 # K and IMPL are read by lib.sh
# vm: udev=on timeout=600
# loop-churn: 50 rounds of `-a` then `-d` on a GPT image while another process attaches and
# detaches loop devices in a tight loop (so the free loop LOOP_CTL_GET_FREE names is often taken
# before kpartx binds it). Every round must either be correct (both maps on the image's loop,
# then no map and no loop left) or fail with a message on stderr; no round may fail silently
# or leak a loop. Asserts on the binary under test only.

CHURN_ROUNDS=50   # about 5 s a round under TCG: run with --scenario-timeout 600

churn_body() {
    local img other churner round ok=0 failed=0 lp
    img=$(mkgpt churn 64 2 16)
    other=$(mkimg churn-other 8)
    ( while :; do l=$(losetup -f --show "$other" 2>/dev/null) && losetup -d "$l" 2>/dev/null; done ) &
    churner=$!
    round=1
    while [ "$round" -le "$CHURN_ROUNDS" ]; do
        kp -a "$img"
        if [ "$KP_RC" -eq 0 ]; then
            lp=$(loop_of "$img")
            [ -n "$lp" ] || fail "round $round: -a succeeded but no loop backs the image"
            assert_map "${lp##*/}p1" "" ""
            assert_map "${lp##*/}p2" "" ""
            ok=$((ok + 1))
        else
            [ -s "$KP_ERR" ] || fail "round $round: -a failed (rc $KP_RC) without a message"
            failed=$((failed + 1))
        fi
        kp -d "$img"
        if [ "$KP_RC" -ne 0 ] && [ ! -s "$KP_ERR" ]; then
            fail "round $round: -d failed (rc $KP_RC) without a message"
        fi
        assert_eq "$(loops_of "$img" | wc -l)" 0 "round $round: loops left on the image"
        assert_eq "$(count_maps)" 0 "round $round: maps left"
        round=$((round + 1))
    done
    kill "$churner" 2>/dev/null
    wait "$churner" 2>/dev/null
    # A losetup the churner had started may still bind a loop after the kill: let it finish.
    sleep 1
    for lp in $(loops_of "$other"); do losetup -d "$lp" 2>/dev/null; done
    log "loop-churn: $ok rounds mapped, $failed failed with a message, of $CHURN_ROUNDS"
    assert_le "$failed" "$CHURN_ROUNDS" "failed rounds"
}

scenario() {
    K=$RS
    IMPL=rs
    churn_body
}
