# shellcheck shell=dash disable=SC2034 # K and IMPL are read by lib.sh
# vm: udev=off
# broken-udev: udevd runs but 95-dm-notify.rules is masked, so no udev cookie is ever completed.
# The reference (libdevmapper) then waits for ever: it runs only under `timeout 20` and the
# scenario records that it hung.  The binary under test must give up after its bounded wait
# (--udev-timeout 5): non-zero exit after at least 5 s and at most 25 s, an error on stderr that
# mentions udev or the timeout, no semaphore left behind.
# Asserts on the binary under test only; nothing is compared.

BROKEN_REF_LIMIT=20     # seconds the reference may hang before it is killed
RS_UDEV_TIMEOUT=5       # --udev-timeout given to the binary under test
RS_LIMIT=25             # seconds within which it must have returned (2 maps)

scenario() {
    local img mark
    udev_start --no-notify || die "udevd did not start"
    mark=$VT/mark.broken
    state_mark "$mark"
    img=$(mkgpt broken 64 2 16)

    log "----- reference, killed after ${BROKEN_REF_LIMIT}s if it hangs"
    K=$REF
    IMPL=ref
    kp -t "$BROKEN_REF_LIMIT" -a "$img"
    if [ "$KP_RC" -eq 143 ] || [ "$KP_RC" -eq 124 ]; then
        log "NOTE: the reference hung and was killed after $(fmt_cs "$KP_CS") s (status $KP_RC), as expected"
    else
        log "NOTE: the reference did NOT hang (status $KP_RC after $(fmt_cs "$KP_CS") s)"
    fi
    log "state left by the reference (cookies are never completed):"
    dm_snapshot | sed 's/^/    /'
    state_restore "$mark"
    IMPL=

    if [ ! -x "$RS" ]; then
        fail "no binary under test ($RS)"
        udev_stop
        return 1
    fi
    log "----- binary under test with --udev-timeout $RS_UDEV_TIMEOUT"
    K=$RS
    IMPL=rs
    kp -t 120 --udev-timeout "$RS_UDEV_TIMEOUT" -a "$img"
    assert_ne "$KP_RC" 0 "exit status of -a with a broken udev"
    assert_ne "$KP_RC" 143 "-a was not killed by the 120 s guard"
    assert_le "$KP_CS" $((RS_LIMIT * 100)) "duration of -a (centiseconds)"
    # it must really have waited (and not, say, rejected the option)
    assert_le $((RS_UDEV_TIMEOUT * 100)) "$KP_CS" "-a waited at least --udev-timeout (centiseconds)"
    assert_ne "$(cat "$KP_ERR")" "" "stderr of -a"
    if grep -qiE 'udev|time' "$KP_ERR"; then
        ok "stderr of -a mentions udev or the timeout"
    else
        fail "stderr of -a does not mention udev or the timeout"
    fi
    assert_eq "$(cookie_count)" 0 "udev cookie semaphores left after -a"
    snap "after -a with a broken udev"

    kp -t 120 --udev-timeout "$RS_UDEV_TIMEOUT" -d "$img"
    assert_ne "$KP_RC" 143 "-d was not killed by the 120 s guard"
    assert_le "$KP_CS" $((RS_LIMIT * 100)) "duration of -d (centiseconds)"
    assert_eq "$(cookie_count)" 0 "udev cookie semaphores left after -d"
    snap "after -d with a broken udev"
    IMPL=
    state_restore "$mark"
    udev_stop --purge
}
