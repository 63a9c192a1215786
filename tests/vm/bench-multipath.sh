#!/bin/sh
# shellcheck shell=dash
# tests/vm/bench-multipath.sh — benchmark (not a test) of the real multipath stack: Debian's
# multipathd (0.9.4 on Debian 12, 0.11.1 on Debian 13) over scsi_debug LUNs with two paths each
# (tests/vm/mpath-lib.sh), with Debian's kpartx rules ("ref") and with this project's installed
# rules and helper ("rs"), in one boot.
#
# On the host (needs the installed tree: make install DESTDIR=DIR):
#   tests/vm/bench-multipath.sh --overlay DIR [--luns 16,48] [--reps 3] [--smp 2] [--mem MiB]
#                               [--keep-log DIR] [--stack 12|13]
# (--stack, or VM_STACK in the environment, picks the Debian stack as for run.sh; default 12.)
# Inside the VM, for each LUN count and each repetition (the order of ref and rs alternates), with
# a 4-partition GPT on every LUN, find_multipaths no and the WWIDs registered, it times until
# every map and partition map exists and `udevadm settle` has returned:
#   storm     multipathd -d -s started with every path present
#   flush     `multipath -F` (after the storm, the re-create and initrd-a: three samples per run)
#   recreate  `multipathd reconfigure` after the flush
#   initrd    Debian 12's initramfs (local-top/multipath): multipathd stopped, `multipath -v0`
#             makes every map, one at a time, each waiting for udev (and so for the kpartx that
#             udev runs for it)
#   initrd-a  then that script's `dmsetup ls --target multipath --exec "kpartx -a -p -part"`
#             (Debian's kpartx for ref, this package's for rs) over the mapped maps
# checks every partition map, /dev/mapper node and by-id -partN link after the storm and the
# re-create (and that nothing is left after each flush), and counts udevd log lines about failed
# or timed-out programs. Prints one table: best and median of the runs, rs/ref of the medians.

if [ "${1:-}" != --in-vm ]; then
    # ------------------------------------------------------------------ host side
    set -eu
    HERE=$(cd "$(dirname "$0")" && pwd)
    BENCH_MEM=2048
    # shellcheck source=tests/vm/bench-host.sh
    . "$HERE/bench-host.sh"
    LUNS=16,48
    REPS=3
    while [ $# -gt 0 ]; do
        case $1 in
            --luns) LUNS=$2; shift 2 ;;
            --reps) REPS=$2; shift 2 ;;
            *) bench_arg "$@"; shift "$BENCH_SHIFT" ;;
        esac
    done
    bench_run 5000 \
        "vmtest.mp_luns=$LUNS vmtest.mp_reps=$REPS"
fi

# ---------------------------------------------------------------------- VM side
HARNESS=/harness
# shellcheck source=tests/vm/lib.sh
. /harness/lib.sh
# shellcheck source=tests/vm/mpath-lib.sh
. /harness/mpath-lib.sh

LUNS=16,48
REPS=3
read -r CMDLINE </proc/cmdline
for arg in $CMDLINE; do
    case $arg in
        vmtest.mp_luns=*) LUNS=${arg#*=} ;;
        vmtest.mp_reps=*) REPS=${arg#*=} ;;
    esac
done
ERRORS=0
RES=$VT/mp.results
: >"$RES"
: >"$MP_LOG"

udev_fails_since() { # udev_fails_since LINE: failure lines in udevd's log after LINE
    tail -n +"$(($1 + 1))" "$VT/udevd.log" |
        grep -ciE 'failed with exit code|timed out|timeout|taking a long time|killing'
}

# verify N: "maps nodes links" of N maps with 4 partition maps each (expected: N*4 each).
verify() {
    local l w a k name maps=0 nodes=0 links=0 dev
    for l in $(mp_wwids | awk '{ print $1 }'); do
        w=$(mp_wwids | awk -v l="$l" '$1 == l { print $2 }')
        a=$(mp_alias_of "$l")
        k=1
        while [ "$k" -le 4 ]; do
            name=$a-part$k
            if map_exists "$name" && [ "$(map_uuid "$name")" = "part$k-mpath-$w" ]; then
                maps=$((maps + 1))
                dev="$(map_field "$name" major):$(map_field "$name" minor)"
                [ "$(devno "/dev/mapper/$name" 2>/dev/null)" = "$dev" ] && nodes=$((nodes + 1))
                [ "$(devno "/dev/disk/by-id/scsi-$w-part$k" 2>/dev/null)" = "$dev" ] &&
                    [ "$(devno "/dev/disk/by-id/wwn-0x${w#?}-part$k" 2>/dev/null)" = "$dev" ] &&
                    links=$((links + 1))
            fi
            k=$((k + 1))
        done
    done
    echo "$maps $nodes $links"
}

# record IMPL KIND N CS MAPS NODES LINKS FAILS
record() {
    log "$1 $2 $3: $(fmt_cs "$4") s, maps $5 nodes $6 links $7 (of $(($3 * 4))), udev log failures $8"
    echo "$*" >>"$RES"
    # progress on the console (the host keeps it in the console log): partial figures of a long run
    echo "bench-multipath: $*" >/dev/console 2>/dev/null
    if [ "$2" = flush ]; then
        [ "$5" -eq 0 ] || ERRORS=$((ERRORS + 1))
    else
        [ "$5" -eq $(($3 * 4)) ] && [ "$6" -eq $(($3 * 4)) ] && [ "$7" -eq $(($3 * 4)) ] ||
            ERRORS=$((ERRORS + 1))
    fi
}

# timed_until_made IMPL KIND N T0 LOG0: wait for N maps + 4N partition maps and settle.
timed_until_made() {
    mp_wait 900 mp_counts_are "$3" $(($3 * 4)) || log "$1 $2 $3: maps missing after 900 s"
    udevadm settle -t 900 || log "udevadm settle failed"
    set -- "$1" "$2" "$3" "$(elapsed_cs "$4")" "$5"
    # shellcheck disable=SC2046 # verify prints three numbers
    record "$1" "$2" "$3" "$4" $(verify "$3") "$(udev_fails_since "$5")"
}

flush() { # flush IMPL N
    local t0 log0 rc
    log0=$(wc -l <"$VT/udevd.log")
    t0=$(now_cs)
    /usr/sbin/multipath -F >"$VT/mp.out" 2>&1
    rc=$?
    udevadm settle -t 900 || log "udevadm settle failed"
    set -- "$1" "$2" "$(elapsed_cs "$t0")"
    [ "$rc" -eq 0 ] || { log "multipath -F: exit $rc: $(cat "$VT/mp.out")"; ERRORS=$((ERRORS + 1)); }
    record "$1" flush "$2" "$3" "$(mp_count_parts)" 0 0 "$(udev_fails_since "$log0")"
    [ "$(mp_count_maps)" -eq 0 ] || { log "maps left after multipath -F: $(mp_all_maps | tr '\n' ' ')"; ERRORS=$((ERRORS + 1)); }
}

run_one() { # run_one IMPL N
    local t0 log0
    mp_conf
    mp_register
    mp_rules "$1"
    log0=$(wc -l <"$VT/udevd.log")
    t0=$(now_cs)
    mp_daemon_start
    timed_until_made "$1" storm "$2" "$t0" "$log0"
    flush "$1" "$2"
    log0=$(wc -l <"$VT/udevd.log")
    t0=$(now_cs)
    /usr/sbin/multipathd reconfigure >/dev/null || log "multipathd reconfigure failed"
    timed_until_made "$1" recreate "$2" "$t0" "$log0"
    flush "$1" "$2"
    mp_daemon_stop
    udev_settle
    log0=$(wc -l <"$VT/udevd.log")
    t0=$(now_cs)
    /usr/sbin/multipath -v0 >"$VT/mp.out" 2>&1 || log "multipath -v0: $(cat "$VT/mp.out")"
    timed_until_made "$1" initrd "$2" "$t0" "$log0"
    if [ "$1" = ref ]; then kbin=/opt/ref/kpartx; else kbin=/usr/sbin/kpartx; fi
    log0=$(wc -l <"$VT/udevd.log")
    t0=$(now_cs)
    dmsetup ls --target multipath --exec "$kbin -a -p -part" >/dev/null 2>"$VT/mp.out" ||
        log "kpartx -a loop: $(cat "$VT/mp.out")"
    timed_until_made "$1" initrd-a "$2" "$t0" "$log0"
    flush "$1" "$2"
    udev_settle
}

for n in $(echo "$LUNS" | tr ',' ' '); do
    mp_scsi_load "$n" 16
    udev_start >/dev/null
    mp_gpt
    rep=1
    while [ "$rep" -le "$REPS" ]; do
        if [ $((rep % 2)) -eq 1 ]; then order="ref rs"; else order="rs ref"; fi
        for impl in $order; do run_one "$impl" "$n"; done
        rep=$((rep + 1))
    done
    udev_start >/dev/null
    mp_scsi_unload
done
udev_stop
cp "$VT/kpartx_id.ours" /usr/lib/udev/kpartx_id 2>/dev/null

# stat IMPL KIND N FIELD best|median
stat_of() {
    awk -v i="$1" -v k="$2" -v n="$3" -v f="$4" '$1 == i && $2 == k && $3 == n { print $f }' "$RES" |
        sort -n | awk -v how="$5" '{ v[NR] = $1 }
            END { if (!NR) print "-"; else if (how == "best") print v[1]; else print v[int((NR + 1) / 2)] }'
}
sum_of() { awk -v i="$1" -v k="$2" -v n="$3" -v f="$4" '$1 == i && $2 == k && $3 == n { s += $f } END { print s + 0 }' "$RES"; }

{
    echo "@@TABLE-BEGIN"
    echo "Debian $VM_STACK, $(/usr/sbin/multipath -h 2>&1 | sed -n 's/^multipath-tools \(v[^ ]*\).*/multipathd \1/p' | head -n1), scsi_debug LUNs x 2 paths x 4 partitions, $(nproc) vCPU (TCG); seconds until udev settled"
    echo "best / median of $REPS runs (flush: 3 samples per run); rs/ref of the medians"
    printf '%-14s %15s %15s %7s  %-13s %s\n' case "ref best/med" "rs best/med" "rs/ref" "checks ref/rs" "udev failures ref/rs"
    for n in $(echo "$LUNS" | tr ',' ' '); do
        for kind in storm recreate initrd initrd-a flush; do
            rm=$(stat_of ref "$kind" "$n" 4 median); sm=$(stat_of rs "$kind" "$n" 4 median)
            if [ "$kind" = flush ]; then
                chk="left $(sum_of ref "$kind" "$n" 5)/$(sum_of rs "$kind" "$n" 5)"
            else
                chk="$(stat_of ref "$kind" "$n" 7 best)/$(stat_of rs "$kind" "$n" 7 best) of $((n * 4))"
            fi
            printf '%-14s %15s %15s %7s  %-13s %s\n' "$kind $n LUNs" \
                "$(fmt_cs "$(stat_of ref "$kind" "$n" 4 best)")/$(fmt_cs "$rm")" \
                "$(fmt_cs "$(stat_of rs "$kind" "$n" 4 best)")/$(fmt_cs "$sm")" \
                "$(awk -v a="$sm" -v b="$rm" 'BEGIN { printf "%.2f", a / b }')" \
                "$chk" "$(sum_of ref "$kind" "$n" 8)/$(sum_of rs "$kind" "$n" 8)"
        done
    done
    [ "$ERRORS" -eq 0 ] || echo "WARNING: $ERRORS runs had missing maps/nodes/links or a failed flush (see the log)"
    echo "@@TABLE-END"
} >&2
[ "$ERRORS" -eq 0 ]
