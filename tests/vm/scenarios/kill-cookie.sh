# shellcheck shell=dash
# vm: udev=on timeout=400
# kill-cookie: `kill -9` at any point of -a, -u or -d leaves at most one udev cookie semaphore
# (all operations of a run share one), no half-made map that the next run cannot handle, and no
# lock that blocks the next run: the next run completes. Leftover cookies are cleared with
# `dmsetup udevcomplete_all`, as docs/differences.md tells admins. Binary under test only.

# kill_after SECS ARGS...: start the binary under test, SIGKILL it after SECS.
kill_after() {
    local secs=$1 pid before
    shift
    before=$(cookie_count)
    "$RS" "$@" >/dev/null 2>&1 &
    pid=$!
    sleep "$secs"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    udev_settle
    assert_le $(($(cookie_count) - before)) 1 "semaphores left by a killed kpartx $* (after ${secs}s)"
}

# all_tables_ok LOOP N: N partition maps of LOOP exist and each has a linear table.
all_tables_ok() {
    local name n=0 bad=0
    for name in $(dm_names | grep "^$(basename "$1")p"); do
        n=$((n + 1))
        map_table "$name" | grep -q ' linear ' || bad=$((bad + 1))
    done
    assert_eq "$n" "$2" "partition maps of $1"
    assert_eq "$bad" 0 "partition maps without a linear table"
}

scenario() {
    local img lp d
    img=$(mkgpt kill 40 24 1)
    for d in 0.1 0.6 1.5; do
        log "----- kill after ${d}s"
        kill_after "$d" -a "$img"
        "$RS" -a "$img" || fail "-a after a killed -a (${d}s)"
        lp=$(loop_of "$img") || die "no loop for $img"
        all_tables_ok "$lp" 24
        kill_after "$d" -u "$img"
        "$RS" -u "$img" || fail "-u after a killed -u (${d}s)"
        all_tables_ok "$lp" 24
        kill_after "$d" -d "$img"
        "$RS" -d "$img" || fail "-d after a killed -d (${d}s)"
        assert_eq "$(dm_names | grep -c "^$(basename "$lp")p")" 0 "maps left after -d (${d}s)"
        assert_eq "$(loops_of "$img" | wc -l)" 0 "loops left after -d (${d}s)"
    done
    log "cookies left by the killed runs: $(cookie_count)"
    dmsetup udevcomplete_all -y >/dev/null 2>&1
    assert_eq "$(cookie_count)" 0 "dmsetup udevcomplete_all clears what killed runs left"
}
