# shellcheck shell=dash
# vm: udev=on
# dry-run-status: the binary under test only (the reference has none of this).
# For -a (image without a loop: the loop is predicted), -u after repartitioning, a busy -d and
# -d: `--dry-run --json` lists exactly the steps the real `--json` run then performs (maps
# compared without result and dev), and leaves the device-mapper tables, the bound loops and
# the udev semaphores as they were; every --json document is one line (nothing else on stdout).
# Then --status classifies current, stale (sgdisk after -a) and orphaned (a part1-devnode_7:99_…
# map made with dmsetup; no 7:99 exists) maps, and --prune removes exactly the unused stale and
# orphaned ones, names the open one with its holder, leaves foreign maps and a loop it did not
# attach alone, and detaches its own loop once no map is left on it.
# The --json documents are in the log (`stdout: {"version"…`); tests/vm/validate-json.py
# checks them against packaging/schema/ on the host (run.sh --keep-log DIR, then the script).

# state: what a dry run must not change.
state() {
    printf '%s\n--\n%s\n--\ncookies %s\n' "$(dm_snapshot)" "$(bound_loops)" "$(cookie_count)"
}

# steps FILE: the maps of a --json report, one per line, without "dev", "result" and "error".
steps() {
    awk '{
        sub(/.*"maps":\[/, ""); sub(/\],"udev".*/, "")
        gsub(/\},\{"action"/, "}\n{\"action\"")
        print
    }' "$1" | sed -e 's/"dev":[^,]*,//' -e 's/,"result":.*$//' | grep -v '^$'
}

one_line() { # one_line WHAT: the last kp printed exactly one line on stdout
    assert_eq "$(wc -l <"$KP_OUT" | tr -d ' ')" 1 "lines on stdout of $1"
}

# compare_dry_real RC ARGS...: --dry-run --json ARGS, check nothing changed, then --json ARGS,
# and compare the two maps lists.
compare_dry_real() {
    local rc=$1 before after
    shift
    before=$(state)
    kp -x "$rc" --dry-run --json "$@"
    one_line "--dry-run $*"
    cp "$KP_OUT" "$VT/dry.json"
    assert_contains "$(cat "$VT/dry.json")" '"dry_run":true' "dry run report of $*"
    after=$(state)
    assert_eq "$after" "$before" "state after --dry-run $*"
    kp -x "$rc" --json "$@"
    one_line "$*"
    cp "$KP_OUT" "$VT/real.json"
    assert_eq "$(steps "$VT/real.json")" "$(steps "$VT/dry.json")" "steps of $* (real vs dry run)"
    assert_ne "$(steps "$VT/real.json")" "" "steps of $*"
}

dry_run_body() {
    local img dev
    img=$(mkgpt dryrun 64 3 8)
    # -a on an image no loop backs: the loop is predicted, not attached
    compare_dry_real 0 -a "$img"
    assert_contains "$(cat "$VT/dry.json")" '"loop":{"path":"/dev/loop0","attached":true,"detached":false,"predicted":true}' "predicted loop"
    kp -x 0 --dry-run -a "$img"
    assert_contains "$(cat "$KP_OUT")" "would keep loop0p1" "dry run text after -a"
    dev=$(devno "$(loop_of "$img")")
    assert_map loop0p3 "0 16384 linear $dev 34816"
    # repartition: p1 shrinks, p3 goes
    sgdisk -d 3 -d 1 -n 1:2048:+4M "$img" >/dev/null || die "sgdisk failed"
    kp -x 0 --status --json
    one_line "--status"
    assert_contains "$(cat "$KP_OUT")" '"name":"loop0p1"' "status lists loop0p1"
    kp -x 0 --status "$img"
    assert_contains "$(cat "$KP_OUT")" "loop0p1 (" "status text"
    assert_contains "$(grep '^loop0p1 ' "$KP_OUT")" ": stale (partition 1 is now 8192 sectors at 2048" "loop0p1 stale"
    assert_contains "$(grep '^loop0p2 ' "$KP_OUT")" ": current" "loop0p2 current"
    assert_contains "$(grep '^loop0p3 ' "$KP_OUT")" ": stale (partition 3 no longer exists)" "loop0p3 stale"
    compare_dry_real 0 -u "$img"
    assert_map loop0p1 "0 8192 linear $dev 2048"
    assert_no_map loop0p3
    # busy -d: nothing is removed, in the dry run as in the real run
    exec 3</dev/mapper/loop0p1
    compare_dry_real 1 -d "$img"
    assert_contains "$(cat "$VT/real.json")" '"action":"skip","name":"loop0p1"' "busy map skipped"
    assert_map loop0p2
    exec 3<&-
    udev_settle
    compare_dry_real 0 -d "$img"
    assert_contains "$(cat "$VT/dry.json")" '"detached":true' "dry run says the loop goes"
    assert_eq "$(count_maps)" 0 "maps after -d"
    assert_eq "$(bound_loops)" "" "loops after -d"
    # errors are JSON too
    kp -x 1 --json -a /nonexistent.img
    one_line "error"
    assert_contains "$(cat "$KP_OUT")" '"error":{"kind":"device"' "error document"
    kp -x 1 --json -a
    assert_contains "$(cat "$KP_OUT")" '"kind":"usage"' "usage error document"
    assert_contains "$(cat "$KP_ERR")" "kpartx: no device given" "usage error names the problem"
}

status_prune_body() {
    local img other ol dev before
    img=$(mkgpt prune 64 3 8)
    other=$(mkimg foreign 8)
    ol=$(attach "$other")
    kp -x 0 -a "$img"
    dev=$(devno "$(loop_of "$img")")
    [ -e /run/kpartx/loops/loop1 ] || [ -e /run/kpartx/loops/loop0 ] || fail "no loop record"
    # p2 and p3 move: both stale; an orphan whose parent 7:99 does not exist; a foreign map
    sgdisk -d 2 -d 3 -n 2:20480:+4M -n 3:40960:+4M "$img" >/dev/null || die "sgdisk failed"
    dm_create orph1 --uuid "part1-devnode_7:99_Wh5pYvM" --table "0 1024 linear $(devno "$ol") 0" ||
        die "dmsetup create orph1 failed"
    dm_create foreign --uuid "LVM-notours" --table "0 1024 linear $dev 2048" ||
        die "dmsetup create foreign failed"
    kp -x 0 --status
    assert_contains "$(grep '^orph1 ' "$KP_OUT")" ": orphaned" "orph1 orphaned"
    assert_contains "$(grep '^loop.p1 ' "$KP_OUT")" ": current" "p1 current"
    assert_contains "$(grep '^loop.p2 ' "$KP_OUT")" ": stale" "p2 stale"
    assert_contains "$(grep '^loop.p3 ' "$KP_OUT")" ": stale" "p3 stale"
    assert_eq "$(grep -c foreign "$KP_OUT")" 0 "foreign map not listed"
    kp -x 0 --status --json
    one_line "--status --json"
    # hold p3 open: prune removes p2 and orph1, names p3, keeps the loop
    exec 3</dev/mapper/"$(dm_names | grep 'p3$')"
    before=$(state)
    kp -x 1 --prune --dry-run --json
    one_line "--prune --dry-run --json"
    assert_eq "$(state)" "$before" "state after --prune --dry-run"
    kp -x 1 --prune
    assert_contains "$(cat "$KP_OUT")" "removed orph1" "orph1 pruned"
    assert_contains "$(cat "$KP_OUT")" "p2: stale" "p2 pruned"
    assert_contains "$(cat "$KP_ERR")" "p3: stale" "p3 named"
    assert_contains "$(cat "$KP_ERR")" "in use (open count 1)" "p3 in use"
    assert_no_map orph1
    assert_map foreign
    assert_eq "$(dm_names | grep -c 'p[123]$')" 2 "p1 and p3 left"
    exec 3<&-
    udev_settle
    dmsetup remove foreign || fail "dmsetup remove foreign failed"
    # p1 is still current: it stays, and so does the loop
    kp -x 0 --prune --json
    one_line "--prune --json"
    assert_contains "$(cat "$KP_OUT")" '"action":"remove","name":"loop' "p3 pruned"
    assert_contains "$(cat "$KP_OUT")" '"action":"keep"' "loop kept under p1"
    # repartition again: p1 stale too; now the loop goes as well, the foreign loop stays
    sgdisk -d 1 -n 1:4096:+4M "$img" >/dev/null || die "sgdisk failed"
    kp -x 0 --prune
    assert_contains "$(cat "$KP_OUT")" "detached /dev/loop" "own loop detached"
    assert_eq "$(count_maps)" 0 "maps after prune"
    assert_eq "$(bound_loops)" "$ol" "only the foreign loop is left"
    assert_eq "$(ls /run/kpartx/loops 2>/dev/null)" "" "loop records after prune"
    losetup -d "$ol"
}

helper_dry_run_body() {
    local img lo before
    img=$(mkgpt helper 64 2 8)
    lo=$(attach "$img")
    before=$(state)
    # the helper's default policy gives loop devices no partitions: nothing to do, said so
    env ACTION=change DEVNAME="$lo" MAJOR=7 MINOR="${lo#/dev/loop}" SUBSYSTEM=block DEVTYPE=disk \
        "$RS" --udev --dry-run --json >"$VT/helper.json" 2>"$VT/helper.err"
    sed 's/^/    stdout: /' "$VT/helper.json" >&2
    assert_eq "$(wc -l <"$VT/helper.json" | tr -d ' ')" 1 "helper dry run lines"
    assert_contains "$(cat "$VT/helper.json")" '"action":"udev","dry_run":true' "helper dry run"
    assert_eq "$(state)" "$before" "state after the helper's dry run"
    losetup -d "$lo"
}

scenario() {
    K=$RS
    IMPL=rs
    dry_run_body
    status_prune_body
    helper_dry_run_body
    IMPL=
}
