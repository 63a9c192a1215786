#!/bin/sh
# shellcheck shell=dash
# tests/vm/bench-hotplug.sh — benchmark (not a test) of helper mode under load: this project's
# installed rules and helper against the reference kpartx with Debian's rules, in one boot.
#
# On the host (needs the installed tree: make install DESTDIR=DIR):
#   tests/vm/bench-hotplug.sh --overlay DIR [--storms 24,64] [--serial 16] [--big 128]
#                             [--reps 1] [--smp 2] [--mem MiB] [--keep-log DIR]
# Inside the VM, for each implementation — "ref": Debian's 60-kpartx.rules (`kpartx -un -p
# -part`, pointed at /opt/ref/kpartx), 56-dm-parts.rules and kpartx_id, with this project's rules
# masked; "rs": this project's 66-kpartx.rules, 56-kpartx-parts.rules and `kpartx --udev` — it
# times, from the first `dmsetup create` until `udevadm settle` returns:
#   storm N   N multipath maps, each over a loop with a 4-partition GPT, created at once
#   serial N  N such maps created one after another (each dmsetup create waits for its cookie)
#   big N     one multipath map over a GPT with N partitions
# and checks that every partition map, its /dev/mapper node and its by-id links exist; it counts
# udevd log lines about failed or timed-out RUN programs. Prints one table (medians of --reps).

if [ "${1:-}" != --in-vm ]; then
    # ------------------------------------------------------------------ host side
    set -eu
    HERE=$(cd "$(dirname "$0")" && pwd)
    # shellcheck source=tests/vm/bench-host.sh
    . "$HERE/bench-host.sh"
    STORMS=24,64
    SERIAL=16
    BIG=128
    REPS=1
    while [ $# -gt 0 ]; do
        case $1 in
            --storms) STORMS=$2; shift 2 ;;
            --serial) SERIAL=$2; shift 2 ;;
            --big) BIG=$2; shift 2 ;;
            --reps) REPS=$2; shift 2 ;;
            *) bench_arg "$@"; shift "$BENCH_SHIFT" ;;
        esac
    done
    bench_run 5000 \
        "vmtest.hp_storms=$STORMS vmtest.hp_serial=$SERIAL vmtest.hp_big=$BIG vmtest.hp_reps=$REPS"
fi

# ---------------------------------------------------------------------- VM side
# shellcheck source=tests/vm/lib.sh
. /harness/lib.sh

STORMS=24,64
SERIAL=16
BIG=128
REPS=1
read -r CMDLINE </proc/cmdline
for arg in $CMDLINE; do
    case $arg in
        vmtest.hp_storms=*) STORMS=${arg#*=} ;;
        vmtest.hp_serial=*) SERIAL=${arg#*=} ;;
        vmtest.hp_big=*) BIG=${arg#*=} ;;
        vmtest.hp_reps=*) REPS=${arg#*=} ;;
    esac
done
[ -x /usr/sbin/kpartx ] && [ -e /usr/lib/udev/rules.d/66-kpartx.rules ] ||
    die "the packaged kpartx is not installed in the VM (run with --overlay)"
ERRORS=0
OURS="56-kpartx-parts.rules 66-kpartx.rules 68-del-part-nodes.rules"
cp /usr/lib/udev/kpartx_id "$VT/kpartx_id.ours"

# use_rules IMPL: restart udevd with one implementation's rules.
use_rules() {
    local r
    udev_start --hotplug || exit 1
    cp "$VT/kpartx_id.ours" /usr/lib/udev/kpartx_id
    if [ "$1" = ref ]; then
        for r in $OURS; do ln -sf /dev/null "/etc/udev/rules.d/$r"; done
        sed 's|"[^"]*/sbin/kpartx |"/opt/ref/kpartx |' /opt/ref/udev/rules.d/60-kpartx.rules \
            >/etc/udev/rules.d/60-kpartx.rules
        cp /opt/ref/udev/rules.d/56-dm-parts.rules /etc/udev/rules.d/
        cp /opt/ref/udev/kpartx_id /usr/lib/udev/kpartx_id
    fi
    udevadm control --reload
    udev_settle
}

wwid() { printf '3600a0b80000000000000000000%06d' "$1"; }

# mk_maps N PARTS PART_MiB: N images with a GPT and loops; loop paths in $VT/hb.loopI.
mk_maps() {
    local i=1 img
    while [ "$i" -le "$1" ]; do
        img=$(mkgpt "hb$i" $(($2 * $3 + 8)) "$2" "$3")
        attach "$img" >"$VT/hb.loop$i"
        i=$((i + 1))
    done
    udev_settle
}

create_map() { # create_map I
    local lp
    lp=$(cat "$VT/hb.loop$1")
    dmsetup create "hb$1" -u "mpath-$(wwid "$1")" --table \
        "0 $(blockdev --getsz "$lp") multipath 0 0 1 1 round-robin 0 1 1 $(devno "$lp") 1000"
}

# verify N PARTS: prints "maps nodes links" found for N maps of PARTS partitions.
verify() {
    local i=1 k name maps=0 nodes=0 links=0
    while [ "$i" -le "$1" ]; do
        k=1
        while [ "$k" -le "$2" ]; do
            name=hb$i-part$k
            if map_exists "$name"; then
                maps=$((maps + 1))
                [ "$(devno "/dev/mapper/$name" 2>/dev/null)" = "$(map_field "$name" major):$(map_field "$name" minor)" ] &&
                    nodes=$((nodes + 1))
                [ -e "/dev/disk/by-id/scsi-$(wwid "$i")-part$k" ] &&
                    [ -e "/dev/disk/by-id/wwn-0x$(wwid "$i" | cut -c2-)-part$k" ] && links=$((links + 1))
            fi
            k=$((k + 1))
        done
        i=$((i + 1))
    done
    echo "$maps $nodes $links"
}

teardown() { # teardown N
    local i name pass=0
    while [ -n "$(dm_names | grep '^hb')" ] && [ "$pass" -lt 5 ]; do
        for name in $(dm_names | grep '^hb[0-9]*-part'); do dmsetup remove "$name" 2>/dev/null; done
        for name in $(dm_names | grep '^hb[0-9]*$'); do dmsetup remove "$name" 2>/dev/null; done
        udev_settle
        pass=$((pass + 1))
    done
    i=1
    while [ "$i" -le "$1" ]; do
        losetup -d "$(cat "$VT/hb.loop$i")" 2>/dev/null
        rm -f "$VT_IMG/hb$i.img"
        i=$((i + 1))
    done
    udev_settle
}

# run_case IMPL KIND N PARTS: one measurement; appends "IMPL KIND N cs maps nodes links fails".
run_case() {
    local impl=$1 kind=$2 n=$3 parts=$4 i t0 cs log0 fails pids=
    mk_maps "$n" "$parts" "$([ "$parts" -gt 8 ] && echo 1 || echo 4)"
    log0=$(wc -l <"$VT/udevd.log")
    t0=$(now_cs)
    i=1
    while [ "$i" -le "$n" ]; do
        if [ "$kind" = storm ]; then
            create_map "$i" &
            pids="$pids $!"
        else
            create_map "$i"
        fi
        i=$((i + 1))
    done
    # Not a bare `wait`: udevd is a background job of this shell too.
    # shellcheck disable=SC2086 # a list of pids
    [ -z "$pids" ] || wait $pids
    udevadm settle -t 900
    cs=$(elapsed_cs "$t0")
    fails=$(tail -n +"$((log0 + 1))" "$VT/udevd.log" |
        grep -ciE 'failed with exit code|timed out|timeout|taking a long time|killing')
    set -- "$impl" "$kind" "$n" "$cs" $(verify "$n" "$parts") "$fails"
    log "$impl $kind $n: $(fmt_cs "$4") s, maps $5 nodes $6 links $7 (of $((n * parts))), udev log failures $8"
    echo "$*" >>"$VT/hb.results"
    [ "$5" -eq $((n * parts)) ] || ERRORS=$((ERRORS + 1))
    teardown "$n"
}

: >"$VT/hb.results"
rep=1
while [ "$rep" -le "$REPS" ]; do
    for impl in ref rs; do
        use_rules "$impl"
        for n in $(echo "$STORMS" | tr ',' ' '); do run_case "$impl" storm "$n" 4; done
        [ -z "$SERIAL" ] || run_case "$impl" serial "$SERIAL" 4
        [ -z "$BIG" ] || run_case "$impl" big 1 "$BIG"
    done
    rep=$((rep + 1))
done
udev_stop

median_of() { # median_of IMPL KIND N FIELD
    awk -v i="$1" -v k="$2" -v n="$3" -v f="$4" '$1 == i && $2 == k && $3 == n { print $f }' \
        "$VT/hb.results" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}

{
    echo "@@TABLE-BEGIN"
    echo "helper under load: $(nproc) vCPU (TCG), udev children_max default, median of $REPS; seconds until settled"
    printf '%-10s %9s %9s %7s  %-17s %-17s %s\n' case "ref" "rs" "rs/ref" "ref maps/nodes/links" "rs maps/nodes/links" "udev failures ref/rs"
    for spec in $(for n in $(echo "$STORMS" | tr ',' ' '); do echo "storm:$n:4"; done) \
        ${SERIAL:+serial:$SERIAL:4} ${BIG:+big:1:$BIG}; do
        kind=${spec%%:*}; rest=${spec#*:}; n=${rest%%:*}; parts=${rest#*:}
        r=$(median_of ref "$kind" "$n" 4); s=$(median_of rs "$kind" "$n" 4)
        printf '%-10s %9s %9s %7s  %-17s %-17s %s\n' "$kind $([ "$kind" = big ] && echo "$parts" || echo "$n")" \
            "$(fmt_cs "$r")" "$(fmt_cs "$s")" \
            "$(awk -v a="$s" -v b="$r" 'BEGIN { printf "%.2f", a / b }')" \
            "$(median_of ref "$kind" "$n" 5)/$(median_of ref "$kind" "$n" 6)/$(median_of ref "$kind" "$n" 7) of $((n * parts))" \
            "$(median_of rs "$kind" "$n" 5)/$(median_of rs "$kind" "$n" 6)/$(median_of rs "$kind" "$n" 7)" \
            "$(median_of ref "$kind" "$n" 8)/$(median_of rs "$kind" "$n" 8)"
    done
    [ "$ERRORS" -eq 0 ] || echo "WARNING: $ERRORS cases left partition maps missing (see the log)"
    echo "@@TABLE-END"
} >&2
[ "$ERRORS" -eq 0 ]
