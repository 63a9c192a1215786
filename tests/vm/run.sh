#!/bin/bash
# tests/vm/run.sh — run VM scenarios (device-mapper + udev tests) under QEMU.
#
#   tests/vm/run.sh [options] SCENARIO...       (SCENARIO "all" = every tests/vm/scenarios/*.sh)
#
#   --stack 12|13     Debian stack to boot (default: $VM_STACK, else 12): 12 = bookworm (kernel
#                     6.1, udev 252, dm rules version 2, multipath-tools/kpartx 0.9.4 as the
#                     reference), 13 = trixie (kernel 6.12, udev 257, dm rules version 3, 0.11.1)
#   --kpartx PATH     binary under test (installed as /opt/rs/kpartx in the VM)
#   --overlay DIR     DESTDIR-style tree copied over the VM root (e.g. make install DESTDIR=DIR);
#                     its usr/sbin/kpartx is the binary under test when --kpartx is not given
#   --smp N           virtual CPUs (default 2)
#   --mem MiB         memory (default 1024)
#   --timeout SECS    host-side limit for the whole boot (default: 60 + 1.5 x the per-scenario
#                     limit for every scenario)
#   --scenario-timeout SECS   per-scenario limit inside the VM (default 240)
#   --keep-log DIR    keep the console log and one log per scenario in DIR
#   --show-logs       print every scenario's log, not only the failing ones
#   --isolate         one boot per scenario instead of one boot for all
#   --append ARGS     extra kernel command-line arguments
#
# All scenarios named run in one boot (a boot costs ~4 s under TCG), in the order given; with
# "all", scenarios that want udevd stopped run first so that udevd is started only once.
# Prints one PASS/FAIL line per scenario as soon as it ends in the VM (the console is followed
# while QEMU runs), then, after each boot, the log of every failing scenario, and finally exactly
#   vm: N passed, N failed
# Exit status 0 only when every scenario passed and every VM shut down cleanly.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

KPARTX=
OVERLAY=
SMP=2
MEM=1024
TIMEOUT=
SCN_TIMEOUT=240
KEEP_LOG=
SHOW_LOGS=0
ISOLATE=0
APPEND=
SCENARIOS=()

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit "${1:-0}"; }
log() { printf 'vm: %s\n' "$*" >&2; }

while [ $# -gt 0 ]; do
    case $1 in
        --stack) VM_STACK=${2:?}; shift 2 ;;
        --kpartx) KPARTX=${2:?}; shift 2 ;;
        --overlay) OVERLAY=${2:?}; shift 2 ;;
        --smp) SMP=${2:?}; shift 2 ;;
        --mem) MEM=${2:?}; shift 2 ;;
        --timeout) TIMEOUT=${2:?}; shift 2 ;;
        --scenario-timeout) SCN_TIMEOUT=${2:?}; shift 2 ;;
        --keep-log) KEEP_LOG=${2:?}; shift 2 ;;
        --show-logs) SHOW_LOGS=1; shift ;;
        --isolate) ISOLATE=1; shift ;;
        --append) APPEND=${2:?}; shift 2 ;;
        -h|--help) usage 0 ;;
        -*) log "unknown option $1"; usage 1 >&2 ;;
        *) SCENARIOS+=("$1"); shift ;;
    esac
done
[ ${#SCENARIOS[@]} -gt 0 ] || { log "no scenario given"; usage 1 >&2; }
# One variable chooses the stack for prepare.sh, build-initramfs.sh and the cache used here.
export VM_STACK=${VM_STACK:-12}
case $VM_STACK in
    12) CACHE=${VM_CACHE:-$HERE/cache} ;;
    13) CACHE=${VM_CACHE:-$HERE/cache}/deb13 ;;
    *) log "--stack $VM_STACK: only 12 and 13 are known"; exit 2 ;;
esac

# Expand "all": udev=off scenarios first, then the others, each group in name order.
expanded=()
for s in "${SCENARIOS[@]}"; do
    if [ "$s" = all ]; then
        for f in "$HERE"/scenarios/*.sh; do
            grep -q '^# vm:.*udev=off' "$f" && expanded+=("$(basename "$f" .sh)")
        done
        for f in "$HERE"/scenarios/*.sh; do
            grep -q '^# vm:.*udev=off' "$f" || expanded+=("$(basename "$f" .sh)")
        done
    elif { [ "$s" = bench ] || [ "${s#bench-}" != "$s" ]; } && [ -e "$HERE/$s.sh" ]; then
        expanded+=("$s")
    elif [ -e "$HERE/scenarios/$s.sh" ]; then
        expanded+=("$s")
    else
        log "no such scenario: $s (see $HERE/scenarios)"
        exit 2
    fi
done
SCENARIOS=("${expanded[@]}")

"$HERE/prepare.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmtest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
build_args=(--out "$WORK/initramfs.img")
[ -z "$KPARTX" ] || build_args+=(--kpartx "$KPARTX")
[ -z "$OVERLAY" ] || build_args+=(--overlay "$OVERLAY")
"$HERE/build-initramfs.sh" "${build_args[@]}"

[ -z "$KEEP_LOG" ] || mkdir -p "$KEEP_LOG"

PASSED=0
FAILED=0
BOOT_FAILED=0

# result_line NAME RESULT SECS [NOTE]: the one line printed for a scenario.
result_line() {
    case $2 in
        PASS) printf 'PASS %-16s %6ss\n' "$1" "$3" ;;
        TIMEOUT) printf 'FAIL %-16s %6ss (TIMEOUT: killed at the per-scenario limit)\n' "$1" "$3" ;;
        *) printf 'FAIL %-16s %6ss%s\n' "$1" "$3" "${4:+ ($4)}" ;;
    esac
}

# follow_console FILE: copies the VM console (stdin, without carriage returns) into FILE and
# prints each scenario's result line the moment the VM reports it, so that a long boot shows
# progress. Lines are flushed one by one: FILE is complete whenever QEMU stops.
follow_console() {
    local line name res secs
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line//$'\r'/}
        printf '%s\n' "$line" >&3
        case $line in
            '@@RESULT '*)
                read -r _ name res secs <<<"$line"
                result_line "$name" "$res" "$secs"
                ;;
        esac
    done 3>>"$1"
}

# scenario_limit NAME: the scenario's `# vm: timeout=N`, else --scenario-timeout (as init.sh).
scenario_limit() {
    local r
    r=$(sed -n 's/^# vm:.*timeout=\([0-9]*\).*/\1/p' "$HERE/scenarios/$1.sh" 2>/dev/null | head -n1)
    echo "${r:-$SCN_TIMEOUT}"
}

# boot NAME... : one VM running the given scenarios; updates PASSED/FAILED.
boot() {
    local list tmo console rc start end name res limits=0 s
    list=$(IFS=,; echo "$*")
    for s in "$@"; do limits=$((limits + $(scenario_limit "$s"))); done
    tmo=${TIMEOUT:-$((60 + limits * 3 / 2))}
    console=$WORK/console.log
    : >"$console"
    log "booting Debian $VM_STACK for: $* (smp $SMP, ${MEM} MiB, limit ${tmo}s)"
    local try
    for try in 1 2 3; do
        start=$(date +%s%N)
        rc=0
        timeout -k 10 "$tmo" qemu-system-x86_64 -accel tcg -cpu max -smp "$SMP" -m "$MEM" \
            -nographic -no-reboot -nodefaults -serial stdio \
            -kernel "$CACHE/vmlinuz" -initrd "$WORK/initramfs.img" \
            -append "console=ttyS0 quiet panic=-1 vmtest.scenarios=$list vmtest.timeout=$SCN_TIMEOUT $APPEND" \
            </dev/null 2>&1 | follow_console "$console" || rc=$?
        end=$(date +%s%N)
        log "boot finished in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s (qemu status $rc)"
        # A kernel that panics before /init ran (no @@BOOTED) tested nothing: boot again, at most
        # twice. Debian 13's 6.12 kernel sometimes takes an int3 oops while patching its own code
        # early in boot under multi-threaded TCG (sched_clock_cpu, seen about once in ten boots).
        if grep -q '^@@BOOTED' "$console" || ! grep -q 'Kernel panic' "$console" || [ "$try" = 3 ]; then
            break
        fi
        log "the kernel panicked before /init ran (try $try): booting again"
        [ -z "$KEEP_LOG" ] || cat "$console" >>"$KEEP_LOG/console-panic.log"
        : >"$console"
    done

    # Per-scenario logs.
    if [ -n "$KEEP_LOG" ]; then
        cat "$console" >>"$KEEP_LOG/console.log"
        awk -v dir="$KEEP_LOG" '
            /^@@LOG-BEGIN / { f = dir "/" $2 ".log"; printf "" > f; next }
            /^@@LOG-END / { close(f); f = ""; next }
            f != "" { print >> f }' "$console"
    fi

    # The PASS/FAIL lines of scenarios that reported were printed live; a scenario without a
    # result gets its FAIL line now.
    for name in "$@"; do
        res=$(awk -v n="$name" '$1 == "@@RESULT" && $2 == n { print $3, $4 }' "$console" | tail -n1)
        if [ -z "$res" ]; then
            res="FAIL -"
            result_line "$name" FAIL - "no result: VM died or timed out"
        fi
        res=${res%% *}
        if [ "$res" = PASS ]; then
            PASSED=$((PASSED + 1))
        else
            FAILED=$((FAILED + 1))
        fi
        if [ "$res" != PASS ] || [ "$SHOW_LOGS" -eq 1 ]; then
            echo "----- log of $name -----"
            awk -v n="$name" '$1 == "@@LOG-BEGIN" && $2 == n { on = 1; next }
                              $1 == "@@LOG-END" && $2 == n { on = 0 } on' "$console"
            echo "----- end of $name -----"
        fi
    done

    if ! grep -q '^@@DONE' "$console" || [ "$rc" -ne 0 ]; then
        BOOT_FAILED=1
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            log "the VM did not finish within ${tmo}s (killed)"
        else
            log "the VM did not shut down cleanly (qemu status $rc)"
        fi
        echo "----- last 40 console lines -----"
        grep -v '^@@' "$console" | tail -n 40
        echo "-----"
    fi
}

if [ "$ISOLATE" -eq 1 ]; then
    for s in "${SCENARIOS[@]}"; do boot "$s"; done
else
    boot "${SCENARIOS[@]}"
fi

echo "vm: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$BOOT_FAILED" -eq 0 ]
