# shellcheck shell=dash
# tests/vm/bench-host.sh — the host side shared by the three benchmark drivers (bench.sh,
# bench-multipath.sh, bench-scale.sh), sourced by each before it parses its own options. A
# driver sets BENCH_MEM (MiB, empty for run.sh's default) before its option loop, hands every
# option it does not know to bench_arg, then calls bench_run once.

RUN_ARGS=
KEEP=
BENCH_MEM=${BENCH_MEM:-}

# bench_arg ARGS...: takes the options every driver has from the front of ARGS (--overlay,
# --kpartx, --smp, --stack, --mem, --keep-log, -h); sets BENCH_SHIFT to how many words it used. An
# unknown option ends the run with status 2.
# shellcheck disable=SC2034 # BENCH_SHIFT is read by the driver that sourced this file
bench_arg() {
    case $1 in
        --overlay|--kpartx|--smp|--stack) RUN_ARGS="$RUN_ARGS $1 $2"; BENCH_SHIFT=2 ;;
        --mem) BENCH_MEM=$2; BENCH_SHIFT=2 ;;
        --keep-log) KEEP=$2; BENCH_SHIFT=2 ;;
        -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "$(basename "$0" .sh): unknown argument $1" >&2; exit 2 ;;
    esac
}

# bench_run SCENARIO_TIMEOUT APPEND: boots the VM for this driver's in-VM part (the benchmark
# named after the script) with APPEND on the kernel command line, prints its table, the host's
# load before and after, and on failure the whole output; exits with the run's status.
bench_run() {
    local name status=0 load0 t0 logs
    name=$(basename "$0" .sh)
    logs=${KEEP:-$(mktemp -d "${TMPDIR:-/tmp}/vmbench.XXXXXX")}
    mkdir -p "$logs"
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    t0=$(date +%s)
    # shellcheck disable=SC2086 # RUN_ARGS is a list of options (paths without spaces)
    "$HERE/run.sh" $RUN_ARGS ${BENCH_MEM:+--mem "$BENCH_MEM"} --scenario-timeout "$1" \
        --timeout "$(($1 + 600))" --keep-log "$logs" --append "$2" "$name" >"$logs/run.out" 2>&1 ||
        status=$?
    if [ -s "$logs/$name.log" ]; then
        sed -n '/^@@TABLE-BEGIN/,/^@@TABLE-END/{/^@@TABLE/d;p}' "$logs/$name.log"
    fi
    echo "host: $(nproc) cores, load average $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after; boot $(($(date +%s) - t0)) s"
    if [ "$status" -ne 0 ]; then
        echo "$name: the benchmark run failed; full output:" >&2
        cat "$logs/run.out" >&2
    fi
    [ -n "$KEEP" ] || rm -rf "$logs"
    exit "$status"
}
