# shellcheck shell=dash disable=SC2034 # K and IMPL are read by lib.sh
# vm: udev=on timeout=900
# foreign-ipc: kpartx in a System V IPC namespace of its own while udevd runs in the initial one,
# as in a container that shares the host's /dev and /run/udev but not its IPC (docker or podman
# without --ipc=host). udev processes every event, but `dmsetup udevcomplete` runs in udevd's
# namespace, where the cookie does not exist.
#   - The reference (libdevmapper) waits for ever: it runs under `timeout` and the scenario
#     records what it left.
#   - The binary under test: -a and -d of a 4-partition image, ROUNDS times in a row, each exit 0
#     with one warning, every node present after -a and gone after -d, no semaphore left in the
#     namespace, and each run well inside its udev timeout (FOREIGN_LIMIT_CS against
#     --udev-timeout 30: it never waits for the timeout; the mean and the slowest run are logged,
#     against the same run in udevd's namespace); a removal while a short-lived
#     opener holds a map (udev's blkid, here a shell holding it for 1 s) rides it out; --json
#     reports the wait as "unanswered"; DM_DISABLE_UDEV=1 there is unchanged (no wait, no
#     warning, nodes made).
# Asserts on the binary under test; the reference's behaviour is recorded, not compared.

ROUNDS=20
REF_LIMIT=10          # seconds the reference may hang before it is killed
FOREIGN_LIMIT_CS=1000 # centiseconds a foreign-namespace run may take (its udev timeout is 30 s)

# foreign_cookies [PID]: udev cookie semaphores in the foreign namespace (of PID).
foreign_cookies() {
    nsenter -t "${1:-$NS_PID}" -i awk 'NR > 1 && $1 >= 223150080 && $1 <= 223215615 { n++ } END { print n + 0 }' \
        /proc/sysvipc/sem
}

# wrapper NAME BINARY: a script that runs BINARY in the foreign IPC namespace; prints its path.
wrapper() {
    printf '#!/bin/sh\nexec nsenter -t %s -i %s "$@"\n' "$NS_PID" "$2" >"$VT/$1"
    chmod +x "$VT/$1"
    echo "$VT/$1"
}

assert_mapped() { # assert_mapped: the four maps and their nodes exist
    local p
    for p in 1 2 3 4; do
        assert_map "loop0p$p"
        assert_node "loop0p$p"
    done
}

assert_unmapped() { # assert_unmapped IMG: no map, no node, no loop
    local p
    assert_eq "$(count_maps)" 0 "maps left"
    for p in 1 2 3 4; do
        [ -e "/dev/mapper/loop0p$p" ] && fail "/dev/mapper/loop0p$p left"
    done
    assert_eq "$(loops_of "$1")" "" "loops backing the image"
}

assert_warned() { # assert_warned WHAT
    if grep -q "^kpartx: warning: udev processed the .* another IPC namespace" "$KP_ERR" &&
        [ "$(wc -l <"$KP_ERR")" -eq 1 ]; then
        ok "$1: one warning line"
    else
        fail "$1: no single warning line about the IPC namespace"
    fi
}

scenario() {
    local img mark i base_a base_d max_a=0 max_d=0 sum_a=0 sum_d=0 holder
    mark=$VT/mark.foreign
    state_mark "$mark"
    img=$(mkgpt foreign 64 4 8)
    # Long-lived processes hold the namespaces (one for each implementation), so that the
    # semaphores left there can be counted.
    unshare -i sleep 3600 &
    REF_NS=$!
    unshare -i sleep 3600 &
    NS_PID=$!
    sleep 0.3
    if [ "$(readlink "/proc/$NS_PID/ns/ipc")" = "$(readlink /proc/self/ns/ipc)" ]; then
        die "unshare -i did not make a new IPC namespace"
    fi

    log "----- reference in the foreign namespace, killed after ${REF_LIMIT}s if it hangs"
    K=$(NS_PID=$REF_NS wrapper ref-foreign "$REF")
    IMPL=ref
    kp -t "$REF_LIMIT" -a "$img"
    log "NOTE: reference -a: status $KP_RC after $(fmt_cs "$KP_CS") s, $(count_maps) of 4 maps, $(foreign_cookies "$REF_NS") semaphore(s) left"
    kp -t "$REF_LIMIT" -d "$img"
    log "NOTE: reference -d: status $KP_RC after $(fmt_cs "$KP_CS") s, $(count_maps) map(s) left, $(foreign_cookies "$REF_NS") semaphore(s) left"
    kill "$REF_NS" 2>/dev/null
    wait "$REF_NS" 2>/dev/null
    state_restore "$mark"
    IMPL=rs

    log "----- binary under test in udevd's namespace, for comparison"
    K=$RS
    kp -x 0 -a "$img"
    base_a=$KP_CS
    kp -x 0 -d "$img"
    base_d=$KP_CS

    log "----- binary under test in the foreign namespace, $ROUNDS rounds"
    K=$(wrapper rs-foreign "$RS")
    i=1
    while [ "$i" -le "$ROUNDS" ]; do
        kp -t 60 -x 0 --udev-timeout 30 -a "$img"
        assert_warned "-a round $i"
        [ "$KP_CS" -gt "$max_a" ] && max_a=$KP_CS
        sum_a=$((sum_a + KP_CS))
        assert_mapped
        kp -t 60 -x 0 --udev-timeout 30 -d "$img"
        assert_warned "-d round $i"
        [ "$KP_CS" -gt "$max_d" ] && max_d=$KP_CS
        sum_d=$((sum_d + KP_CS))
        assert_unmapped "$img"
        assert_eq "$(foreign_cookies)" 0 "semaphores left after round $i"
        i=$((i + 1))
    done
    log "NOTE: in udevd's namespace -a $(fmt_cs "$base_a") s, -d $(fmt_cs "$base_d") s;" \
        "foreign, $ROUNDS rounds: -a mean $(fmt_cs $((sum_a / ROUNDS))) s max $(fmt_cs "$max_a") s," \
        "-d mean $(fmt_cs $((sum_d / ROUNDS))) s max $(fmt_cs "$max_d") s"
    assert_le "$max_a" "$FOREIGN_LIMIT_CS" "slowest foreign -a (cs)"
    assert_le "$max_d" "$FOREIGN_LIMIT_CS" "slowest foreign -d (cs)"

    log "----- a removal while a short-lived opener holds a map"
    kp -t 60 -x 0 -a "$img"
    sh -c 'exec 3</dev/mapper/loop0p2; sleep 1' &
    holder=$!
    sleep 0.2
    kp -t 60 -x 0 -d "$img"
    assert_warned "-d of a map held for 1 s"
    wait "$holder"
    assert_unmapped "$img"

    log "----- --json"
    kp -t 60 -x 0 -a --json "$img"
    assert_contains "$(cat "$KP_OUT")" '"wait":"unanswered"' "-a --json udev.wait"
    kp -t 60 -x 0 -d --json "$img"
    assert_contains "$(cat "$KP_OUT")" '"wait":"unanswered"' "-d --json udev.wait"
    assert_unmapped "$img"

    log "----- DM_DISABLE_UDEV=1 in the foreign namespace: no wait, no warning"
    K=$(wrapper rs-noudev "env DM_DISABLE_UDEV=1 $RS")
    kp -t 60 -x 0 -a "$img"
    assert_eq "$(cat "$KP_ERR")" "" "stderr of -a with DM_DISABLE_UDEV=1"
    assert_mapped
    kp -t 60 -x 0 -d "$img"
    assert_eq "$(cat "$KP_ERR")" "" "stderr of -d with DM_DISABLE_UDEV=1"
    assert_eq "$(foreign_cookies)" 0 "semaphores left with DM_DISABLE_UDEV=1"
    IMPL=
    kill "$NS_PID" 2>/dev/null
    wait "$NS_PID" 2>/dev/null
    state_restore "$mark"
}
