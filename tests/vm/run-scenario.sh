#!/bin/sh
# shellcheck shell=dash
# tests/vm/run-scenario.sh NAME — run one scenario inside the VM (called by /init).
#
# Sources /harness/lib.sh and /harness/scenarios/NAME.sh, calls the scenario's `scenario`
# function, then removes whatever maps and loops the scenario left behind (and reports them as a
# failure: scenarios must clean up after themselves, and the next one must start from a clean
# state).  Exit status 0 = PASS, 1 = FAIL.  Output is the scenario's log.
set -u

SCN=$1
HARNESS=${HARNESS:-/harness}
# shellcheck source=tests/vm/lib.sh
. "$HARNESS/lib.sh"

VT_FAILS=$VT/$SCN.fails
: >"$VT_FAILS"
export SCN VT_FAILS

file=$HARNESS/scenarios/$SCN.sh
[ -r "$file" ] || { fail "no such scenario: $SCN"; exit 1; }
# shellcheck disable=SC1090 # the scenario is chosen at run time
. "$file"

log "scenario $SCN: ref=$REF rs=$RS udevd=$(udev_mode)"
start_mark=$VT/mark.scenario.$SCN
state_mark "$start_mark"

scenario
rc=$?
[ "$rc" -eq 0 ] || fail "scenario function returned $rc"

leaks=$(state_diff "$start_mark" | grep '^+' || true)
if [ -n "$leaks" ]; then
    fail "scenario left these behind (cleaned up now):"
    printf '%s\n' "$leaks" | sed 's/^/    /'
fi
state_restore "$start_mark"

nfail=$(grep -c . "$VT_FAILS" || true)
if [ "$nfail" -eq 0 ]; then
    log "scenario $SCN: PASS"
    exit 0
fi
log "scenario $SCN: FAIL ($nfail failed checks)"
sed 's/^/  - /' "$VT_FAILS"
exit 1
