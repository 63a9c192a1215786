# shellcheck shell=dash disable=SC2034 # K and IMPL are read by lib.sh
# vm: udev=off
# broken-udev: udevd runs but no rule completes device-mapper cookies.
#   1. 95-dm-notify.rules masked: udev still makes the nodes and records the events, only the
#      cookie is never completed. The reference (libdevmapper) waits for ever: it runs under
#      `timeout 20` and the scenario records that it hung. The binary under test sees the events
#      processed in udev's database and that no rule completes cookies: -a and -d exit 0 well
#      before the udev timeout (FOREIGN_LIMIT s against --udev-timeout 30), with one warning that
#      says so, every node present after -a and gone after -d, no semaphore left.
#   2. Every device-mapper rule masked: udev neither records the maps by name nor makes their
#      nodes, so nothing shows the events processed. The binary under test gives up after its
#      bounded wait (--udev-timeout 5): non-zero exit after at least 5 s and at most 25 s, an
#      error that mentions udev, the nodes made by kpartx itself, no semaphore left behind.
# Asserts on the binary under test only; nothing is compared.

BROKEN_REF_LIMIT=20     # seconds the reference may hang before it is killed
RS_UDEV_TIMEOUT=5       # --udev-timeout given to the binary under test in part 2
RS_LIMIT=25             # seconds within which it must have returned (2 maps)
FOREIGN_LIMIT=10        # seconds within which part 1's runs must return

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
    log "----- binary under test, 95-dm-notify.rules masked"
    K=$RS
    IMPL=rs
    kp -t 120 -x 0 --udev-timeout 30 -a "$img"
    assert_le "$KP_CS" $((FOREIGN_LIMIT * 100)) "duration of -a (centiseconds)"
    assert_warning
    assert_node loop0p1
    assert_node loop0p2
    assert_eq "$(cookie_count)" 0 "udev cookie semaphores left after -a"
    kp -t 120 -x 0 --udev-timeout 30 -d "$img"
    assert_le "$KP_CS" $((FOREIGN_LIMIT * 100)) "duration of -d (centiseconds)"
    assert_warning
    assert_no_map loop0p1
    [ -e /dev/mapper/loop0p1 ] && fail "/dev/mapper/loop0p1 left after -d"
    assert_eq "$(cookie_count)" 0 "udev cookie semaphores left after -d"
    state_restore "$mark"

    log "----- binary under test, every device-mapper rule masked, --udev-timeout $RS_UDEV_TIMEOUT"
    udev_start --no-dm-rules || die "udevd did not start"
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
    assert_node loop0p1
    assert_eq "$(cookie_count)" 0 "udev cookie semaphores left after -a"
    snap "after -a with a broken udev"

    kp -t 120 --udev-timeout "$RS_UDEV_TIMEOUT" -d "$img"
    log "NOTE: -d without device-mapper rules: status $KP_RC"
    assert_ne "$KP_RC" 143 "-d was not killed by the 120 s guard"
    assert_le "$KP_CS" $((RS_LIMIT * 100)) "duration of -d (centiseconds)"
    assert_no_map loop0p1
    assert_eq "$(cookie_count)" 0 "udev cookie semaphores left after -d"
    snap "after -d with a broken udev"
    IMPL=
    state_restore "$mark"
    udev_stop --purge
}

assert_warning() { # one warning line: udev processed the events, no rule completes cookies
    if grep -q "^kpartx: warning: udev processed .* no rule that completes device-mapper cookies" "$KP_ERR" &&
        [ "$(wc -l <"$KP_ERR")" -eq 1 ]; then
        ok "one warning line about the missing rule"
    else
        fail "no single warning line about the missing rule"
    fi
}
