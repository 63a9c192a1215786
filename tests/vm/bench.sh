#!/bin/sh
# shellcheck shell=dash
# tests/vm/bench.sh — benchmark (not a test) of kpartx -a/-d with udev synchronisation.
#
# On the host:
#   tests/vm/bench.sh [--kpartx PATH | --overlay DIR] [--parts 16,128] [--reps 3] [--smp 2]
#                     [--mem MiB] [--keep-log DIR]
# boots ONE VM (udevd running, -smp 2 by default) through run.sh and prints a table.  Inside the
# VM (/init runs it as "/harness/bench.sh --in-vm"), for a GPT image file with each partition
# count, repeated --reps times:
#   ref -a / ref -d   the reference, synchronous (waits for udev on every map)
#   floor             reference `-an` (no sync) followed by `udevadm settle`: the time udev itself
#                     needs for the events, i.e. the best a synchronous tool can do
#   rs -a / rs -d     the binary under test (if any)
# and prints the medians, the ratios rs-a/floor and ref-a/rs-a, and the binary under test's peak
# RSS (busybox `time -v`, "Maximum resident set size", the larger of -a and -d; the same for the
# reference).  One untimed warm-up round precedes the measurements.
#
# Runs under busybox ash in the VM but is started with /bin/sh on the host too, so the host part
# is POSIX sh as well.

if [ "${1:-}" != --in-vm ]; then
    # ------------------------------------------------------------------ host side
    set -eu
    HERE=$(cd "$(dirname "$0")" && pwd)
    # shellcheck source=tests/vm/bench-host.sh
    . "$HERE/bench-host.sh"
    PARTS=16,128
    REPS=3
    while [ $# -gt 0 ]; do
        case $1 in
            --parts) PARTS=$2; shift 2 ;;
            --reps) REPS=$2; shift 2 ;;
            *) bench_arg "$@"; shift "$BENCH_SHIFT" ;;
        esac
    done
    bench_run 3000 \
        "vmtest.bench_parts=$PARTS vmtest.bench_reps=$REPS"
fi

# ---------------------------------------------------------------------- VM side
# shellcheck source=tests/vm/lib.sh
. /harness/lib.sh

PARTS=16,128
REPS=3
read -r CMDLINE </proc/cmdline
for arg in $CMDLINE; do
    case $arg in
        vmtest.bench_parts=*) PARTS=${arg#*=} ;;
        vmtest.bench_reps=*) REPS=${arg#*=} ;;
    esac
done
[ -x "$RS" ] && HAVE_RS=1 || HAVE_RS=0
ERRORS=0
udev_running || udev_start || exit 1

median() { # median FILE: median of the numbers in FILE (one per line)
    sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'
}
secs() { if [ "$1" = - ]; then echo -; else fmt_cs "$1"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

# timed CMD...: run CMD, print its duration in centiseconds; output goes to $VT/bench.out/err.
timed() {
    local t0
    t0=$(now_cs)
    "$@" >"$VT/bench.out" 2>"$VT/bench.err" || {
        log "command failed: $*"
        sed 's/^/    /' "$VT/bench.err" >&2
    }
    elapsed_cs "$t0"
}

# check_maps N WHAT: the number of maps must be N.
check_maps() {
    local n
    n=$(count_maps)
    if [ "$n" != "$1" ]; then
        log "ERROR: $2: $n maps instead of $1"
        ERRORS=$((ERRORS + 1))
    fi
}

maxrss() { sed -n 's/.*Maximum resident set size (kbytes): *//p' "$VT/bench.err" | tail -n1; }

RESULTS=$VT/bench.results
: >"$RESULTS"
for n in $(echo "$PARTS" | tr ',' ' '); do
    log "===== $n partitions"
    img=$(mkgpt "bench$n" $((n + 4)) "$n" 1)
    for f in ref_a ref_d floor rs_a rs_d rss ref_rss; do : >"$VT/b.$f"; done
    # warm-up (untimed): page cache, udev workers, the first loop attach
    "$REF" -a "$img" >/dev/null 2>&1
    udev_settle
    "$REF" -d "$img" >/dev/null 2>&1
    [ "$HAVE_RS" -eq 0 ] || { "$RS" -a "$img" >/dev/null 2>&1; udev_settle; "$RS" -d "$img" >/dev/null 2>&1; }
    state_restore /dev/null
    r=1
    while [ "$r" -le "$REPS" ]; do
        udev_settle
        t=$(timed busybox time -v "$REF" -a "$img"); echo "$t" >>"$VT/b.ref_a"
        maxrss >>"$VT/b.ref_rss"
        check_maps "$n" "ref -a"
        udev_settle
        t=$(timed busybox time -v "$REF" -d "$img"); echo "$t" >>"$VT/b.ref_d"
        maxrss >>"$VT/b.ref_rss"
        check_maps 0 "ref -d"
        udev_settle
        t=$(timed sh -c "'$REF' -an '$img' && udevadm settle -t 600"); echo "$t" >>"$VT/b.floor"
        check_maps "$n" "ref -an"
        "$REF" -d "$img" >/dev/null 2>&1
        udev_settle
        check_maps 0 "ref -d after -an"
        if [ "$HAVE_RS" -eq 1 ]; then
            t=$(timed busybox time -v "$RS" -a "$img"); echo "$t" >>"$VT/b.rs_a"
            maxrss >>"$VT/b.rss"
            check_maps "$n" "rs -a"
            udev_settle
            t=$(timed busybox time -v "$RS" -d "$img"); echo "$t" >>"$VT/b.rs_d"
            maxrss >>"$VT/b.rss"
            check_maps 0 "rs -d"
            # the reference -d would clean up after a failing rs -d
            [ "$(count_maps)" = 0 ] || "$REF" -d "$img" >/dev/null 2>&1
        fi
        log "rep $r: ref -a $(secs "$(tail -n1 "$VT/b.ref_a")") -d $(secs "$(tail -n1 "$VT/b.ref_d")")" \
            "floor $(secs "$(tail -n1 "$VT/b.floor")")" \
            "rs -a $(secs "$(tail -n1 "$VT/b.rs_a" 2>/dev/null || echo -)")" \
            "-d $(secs "$(tail -n1 "$VT/b.rs_d" 2>/dev/null || echo -)")"
        r=$((r + 1))
    done
    state_restore /dev/null
    rm -f "$img"
    ra=$(median "$VT/b.ref_a"); rd=$(median "$VT/b.ref_d"); fl=$(median "$VT/b.floor")
    sa=$(median "$VT/b.rs_a"); sd=$(median "$VT/b.rs_d")
    rss=$(sort -n "$VT/b.rss" | tail -n1)
    rrss=$(sort -n "$VT/b.ref_rss" | tail -n1)
    printf '%s %s %s %s %s %s %s %s\n' "$n" "$ra" "$rd" "$fl" "$sa" "$sd" "${rss:--}" "${rrss:--}" >>"$RESULTS"
done

{
    echo "@@TABLE-BEGIN"
    echo "kpartx benchmark: GPT image file, udevd running, $(nproc) vCPU (TCG), median of $REPS, seconds"
    printf '%6s %8s %8s %8s %8s %8s %9s %8s %10s %10s\n' \
        parts "ref -a" "ref -d" floor "rs -a" "rs -d" "rs/floor" "ref/rs" "rs maxRSS" "ref maxRSS"
    while read -r n ra rd fl sa sd rss rrss; do
        printf '%6s %8s %8s %8s %8s %8s %9s %8s %10s %10s\n' "$n" "$(secs "$ra")" "$(secs "$rd")" \
            "$(secs "$fl")" "$(secs "$sa")" "$(secs "$sd")" "$(ratio "$sa" "$fl")" \
            "$(ratio "$ra" "$sa")" "$([ "$rss" = - ] && echo - || echo "${rss} KiB")" \
            "$([ "$rrss" = - ] && echo - || echo "${rrss} KiB")"
    done <"$RESULTS"
    echo "floor = reference -an + udevadm settle; rs/floor = rs -a / floor; ref/rs = ref -a / rs -a"
    [ "$HAVE_RS" -eq 1 ] || echo "(no binary under test: rs columns empty)"
    [ "$ERRORS" -eq 0 ] || echo "WARNING: $ERRORS map-count checks failed (see the log)"
    echo "@@TABLE-END"
} >&2
[ "$ERRORS" -eq 0 ]
