#!/bin/sh
# shellcheck shell=dash
# tests/vm/bench-scale.sh — benchmark (not a test, not in CI) of helper mode at scale: event
# storms of many multipath maps, and the cost of one event or one -a/-d with many unrelated
# device-mapper devices present. Host driver and in-VM part in one file, like bench.sh.
#
# On the host (needs the installed tree: make install DESTDIR=DIR):
#   tests/vm/bench-scale.sh --overlay DIR [--storms 64,256] [--impls floor,ref,rs]
#                           [--storm-reps 1] [--counts 0,1500,3000] [--reps 7]
#                           [--children-max 10] [--same-guids] [--smp 2] [--mem 3072]
#                           [--keep-log DIR]
#   --storms none / --counts none skip that part. --children-max pins udev's worker limit
#   (udev.children_max on the kernel command line; "default" leaves udev's own choice, which is
#   min(2 x CPUs + 16, max(memory / 128 MiB, 10)): 10 at run.sh's default 1024 MiB, 20 at
#   3072 MiB). --same-guids gives every storm image the same GPT (disk and partition GUIDs), as
#   hotplug-storm.sh's template copies do.
#
# Storms (one boot, N loops with a 4-partition GPT each, unique GUIDs, made once): N multipath
# maps created at once (`dmsetup create … &`, each waiting for its own cookie), timed from the
# first create until `udevadm settle` returns (and, should settle return early, until every
# partition map exists and a second settle returns), for
#   floor  no partition rules at all; each background job creates its map and then, at once,
#          the map's 4 partition maps with one `dmsetup --noudevsync create --concise` (no
#          wait): the time udev itself needs for the same devices
#   ref    Debian's 60-kpartx.rules (`kpartx -un -p -part`, pointed at /opt/ref/kpartx),
#          56-dm-parts.rules and kpartx_id, this project's rules masked
#   rs     this project's installed 66-kpartx.rules, 56-kpartx-parts.rules and `kpartx --udev`
# Then every partition map, its /dev/mapper node (right dev_t) and, for ref and rs, both by-id
# links (scsi-<wwid>-partN, wwn-0x…-partN, resolving to the map) are counted, and udevd's log of
# the run is searched for failed RUN programs ("failed with exit code") and worker timeouts
# ("timed out", "taking a long time", "killing"). The rules are switched with
# `udevadm control --reload` (no udevd restart, no re-trigger of the loops).
#
# Per-event cost (another part of the same boot; udevd running with the normal rules, kpartx's
# masked, settled before every timed command): with each number of unrelated linear dm devices
# (made in batches with `dmsetup --noudevsync create --concise` while udevd is stopped), best and
# median wall time in ms (busybox ash's $EPOCHREALTIME) of --reps runs after one warm-up round:
#   this: `env -i ACTION=change MAJOR MINOR DEVNAME DM_NAME DM_UUID kpartx --udev` for a
#         multipath map over a 4-partition GPT (creates 4 maps; then again with the 4 in place),
#         `kpartx -a -n` / `-d -n` of a loop with a 4-partition GPT, and the helper's remove event
#         of a dm device that had no partition maps (ACTION=remove, no DM_* variables: what every
#         partition map's generic block remove event looks like)
#   ref:  `-u -n -p -part /dev/dm-N` of the same multipath map (what its udev rule runs; creates
#         4, then with the 4 in place), `-a -n` / `-d -n` of the same loop
# Prints Markdown tables ready for docs/performance.md.

if [ "${1:-}" != --in-vm ]; then
    # ------------------------------------------------------------------ host side
    set -eu
    HERE=$(cd "$(dirname "$0")" && pwd)
    BENCH_MEM=3072
    # shellcheck source=tests/vm/bench-host.sh
    . "$HERE/bench-host.sh"
    STORMS=64,256
    IMPLS=floor,ref,rs
    STORM_REPS=1
    COUNTS=0,1500,3000
    REPS=7
    CHILDREN=10
    SAME_GUIDS=0
    while [ $# -gt 0 ]; do
        case $1 in
            --storms) STORMS=$2; shift 2 ;;
            --impls) IMPLS=$2; shift 2 ;;
            --storm-reps) STORM_REPS=$2; shift 2 ;;
            --counts) COUNTS=$2; shift 2 ;;
            --reps) REPS=$2; shift 2 ;;
            --children-max) CHILDREN=$2; [ "$CHILDREN" != default ] || CHILDREN=; shift 2 ;;
            --same-guids) SAME_GUIDS=1; shift ;;
            *) bench_arg "$@"; shift "$BENCH_SHIFT" ;;
        esac
    done
    bench_run 9000 \
        "vmtest.bs_storms=$STORMS vmtest.bs_impls=$IMPLS vmtest.bs_storm_reps=$STORM_REPS vmtest.bs_counts=$COUNTS vmtest.bs_reps=$REPS vmtest.bs_same_guids=$SAME_GUIDS${CHILDREN:+ udev.children_max=$CHILDREN}"
fi

# ---------------------------------------------------------------------- VM side
# shellcheck source=tests/vm/lib.sh
. /harness/lib.sh

STORMS=64,256
IMPLS=floor,ref,rs
STORM_REPS=1
COUNTS=0,1500,3000
REPS=7
SAME_GUIDS=0
read -r CMDLINE </proc/cmdline
for arg in $CMDLINE; do
    case $arg in
        vmtest.bs_storms=*) STORMS=${arg#*=} ;;
        vmtest.bs_impls=*) IMPLS=${arg#*=} ;;
        vmtest.bs_storm_reps=*) STORM_REPS=${arg#*=} ;;
        vmtest.bs_counts=*) COUNTS=${arg#*=} ;;
        vmtest.bs_reps=*) REPS=${arg#*=} ;;
        vmtest.bs_same_guids=*) SAME_GUIDS=${arg#*=} ;;
    esac
done
[ "$STORMS" = none ] && STORMS=
[ "$COUNTS" = none ] && COUNTS=
STORMS=$(echo "$STORMS" | tr ',' ' ')
IMPLS=$(echo "$IMPLS" | tr ',' ' ')
COUNTS=$(echo "$COUNTS" | tr ',' ' ')
[ -x /usr/sbin/kpartx ] && [ -e /usr/lib/udev/rules.d/66-kpartx.rules ] ||
    die "the packaged kpartx is not installed in the VM (run with --overlay)"
[ -n "${EPOCHREALTIME:-}" ] || die "this shell has no \$EPOCHREALTIME"
ERRORS=0
error() { log "ERROR: $*"; ERRORS=$((ERRORS + 1)); }
# progress MSG: a log line, also on the console, so that a long boot can be followed on the host
# (the host side keeps the console in its temporary directory; only @@ lines are parsed).
progress() { log "$*"; echo "bench-scale: $*" >/dev/console 2>/dev/null || true; }
OURS="56-kpartx-parts.rules 66-kpartx.rules 68-del-part-nodes.rules"
[ -e /usr/lib/udev/kpartx_id ] && cp /usr/lib/udev/kpartx_id "$VT/kpartx_id.ours"
RES=$VT/bs.results
: >"$RES"
PART_SECTORS=8192     # 4 partitions of 4 MiB, the first at sector 2048 (sgdisk -a 2048)
DISK_MIB=24

# us_since T0: microseconds since T0 (an $EPOCHREALTIME value).
us_since() {
    local t1=$EPOCHREALTIME
    echo $((${t1%.*}${t1#*.} - ${1%.*}${1#*.}))
}

# rules_files IMPL: lay out /etc/udev/rules.d for IMPL (floor|none|ref|rs); see the header.
rules_files() {
    local r
    rm -f /etc/udev/rules.d/*.rules
    [ -e "$VT/kpartx_id.ours" ] && cp "$VT/kpartx_id.ours" /usr/lib/udev/kpartx_id
    case $1 in
        rs) ;;
        ref)
            for r in $OURS; do ln -sf /dev/null "/etc/udev/rules.d/$r"; done
            sed 's|"[^"]*/sbin/kpartx |"/opt/ref/kpartx |' /opt/ref/udev/rules.d/60-kpartx.rules \
                >/etc/udev/rules.d/60-kpartx.rules
            cp /opt/ref/udev/rules.d/56-dm-parts.rules /etc/udev/rules.d/
            cp /opt/ref/udev/kpartx_id /usr/lib/udev/kpartx_id
            ;;
        *) for r in $OURS; do ln -sf /dev/null "/etc/udev/rules.d/$r"; done ;;
    esac
}
# set_rules IMPL: switch the running udevd to IMPL's rules.
set_rules() {
    rules_files "$1"
    udevadm control --reload
    udev_settle
}
# udev_resume: start udevd again after udev_stop, without re-triggering any device.
udev_resume() {
    local r=0
    rules_files none
    mkdir -p /run/udev
    setsid "$UDEVD" >>"$VT/udevd.log" 2>&1 &
    echo $! >"$VT_RUN/udevd.pid"
    echo normal >"$VT_RUN/udevd.mode"
    while [ ! -S /run/udev/control ] && [ "$r" -lt 100 ]; do sleep 0.1; r=$((r + 1)); done
    udev_running || die "udevd did not start again"
}

# mk_disk NAME: a sparse 24 MiB image with a 4-partition GPT written by sgdisk itself (random
# disk and partition GUIDs: copies of one template would give every partition map of the same
# number the same by-partuuid link, and udev's cost for a link with hundreds of claimants is
# not what is measured here).
# With --same-guids (vmtest.bs_same_guids=1) every image gets the same GPT (mkgpt's template
# copy, as hotplug-storm.sh uses), to see what the shared links cost.
mk_disk() {
    local img=$VT_IMG/$1.img
    if [ "$SAME_GUIDS" = 1 ]; then
        mkgpt "$1" "$DISK_MIB" 4 4 >/dev/null
        return
    fi
    rm -f "$img"
    truncate -s "${DISK_MIB}M" "$img"
    sgdisk -o -a 2048 -n 1:0:+4M -n 2:0:+4M -n 3:0:+4M -n 4:0:+4M "$img" >/dev/null ||
        die "sgdisk $img failed"
}

wwid() { printf '3600a0b800000000000000000002%05d' "$1"; }

# dm_count PATTERN: number of dm devices whose name matches the grep PATTERN.
dm_count() {
    dmsetup info -c --noheadings -o name 2>/dev/null | grep -c "$1"
}

kernel_info() {
    local mem cpus cm
    mem=$(awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
    cpus=$(nproc)
    # systemd-udevd's default: min(2 x CPUs + 16, max(memory / 128 MiB, 10))
    cm=$((2 * cpus + 16))
    [ "$cm" -le $(( (mem / 128) > 10 ? (mem / 128) : 10 )) ] || cm=$(( (mem / 128) > 10 ? (mem / 128) : 10 ))
    case " $CMDLINE " in *" udev.children_max="*)
        cm=$(echo " $CMDLINE " | sed 's/.* udev\.children_max=\([0-9]*\) .*/\1/') ;;
    esac
    echo "$cpus vCPU (TCG), $mem MiB, kernel $(uname -r), udev children_max $cm"
}

# ------------------------------------------------------------------------------------- storms

# storm_setup N: N images and loops (made once for every storm), the multipath tables in
# TAB_i, the WWIDs in WWID_i.
storm_setup() {
    local n=$1 i=1 j lp sz t0
    t0=$(now_cs)
    # the template of --same-guids first, so that the parallel jobs below only copy it
    [ "$SAME_GUIDS" = 1 ] && mk_disk sc1
    while [ "$i" -le "$n" ]; do
        # two sgdisk at a time (2 vCPUs)
        mk_disk "sc$i" &
        j=$((i + 1))
        [ "$j" -le "$n" ] && mk_disk "sc$j"
        wait $!
        i=$((i + 2))
    done
    i=1
    while [ "$i" -le "$n" ]; do
        lp=$(attach "$VT_IMG/sc$i.img")
        [ -n "$sz" ] || sz=$(blockdev --getsz "$lp")
        eval "TAB_$i=\"0 $sz multipath 0 0 1 1 round-robin 0 1 1 $(devno "$lp") 1000\""
        eval "WWID_$i=$(wwid "$i")"
        echo "$lp" >>"$VT/sc.loops"
        i=$((i + 1))
    done
    udev_settle
    progress "storm setup: $n images and loops in $(fmt_cs "$(elapsed_cs "$t0")") s ($(bound_loops | wc -l) loops bound)"
}

storm_cleanup() {
    local lp
    for lp in $(cat "$VT/sc.loops" 2>/dev/null); do losetup -d "$lp" 2>/dev/null; done
    rm -f "$VT/sc.loops" "$VT_IMG"/sc*.img
    udev_settle
}

# storm_one IMPL I: background job of a storm: create map scI; for the floor also its 4
# partition maps, without waiting for udev.
storm_one() {
    local impl=$1 i=$2 tab w dev k spec=
    eval "tab=\$TAB_$i; w=\$WWID_$i"
    dmsetup create "sc$i" -u "mpath-$w" --table "$tab" || { echo "dmsetup create sc$i failed" >&2; return 1; }
    [ "$impl" = floor ] || return 0
    dev=$(dmsetup info -c --noheadings --separator : -o major,minor "sc$i")
    k=1
    while [ "$k" -le 4 ]; do
        spec="$spec${spec:+;}sc$i-part$k,part$k-mpath-$w,,,0 $PART_SECTORS linear $dev $((2048 + (k - 1) * PART_SECTORS))"
        k=$((k + 1))
    done
    dmsetup --noudevsync create --concise "$spec" || echo "partition maps of sc$i failed" >&2
}

# storm_verify IMPL N: prints "maps nodes links" (links "-" for the floor): partition maps that
# exist, /dev/mapper nodes with the map's dev_t, partitions whose two by-id links resolve to it.
storm_verify() {
    local impl=$1 n=$2
    dm_list >"$VT/sc.list"
    # shellcheck disable=SC2086 # globs on purpose
    stat -L -c '%n %t %T' /dev/mapper/sc*-part* /dev/disk/by-id/scsi-3600a0b80*-part* \
        /dev/disk/by-id/wwn-0x600a0b80*-part* 2>/dev/null >"$VT/sc.stat"
    awk -F'|' -v n="$n" -v impl="$impl" -v statf="$VT/sc.stat" '
        function hex(h,   i, v) {
            v = 0; h = tolower(h)
            for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
            return v
        }
        BEGIN { while ((getline l < statf) > 0) { split(l, a, " "); dev[a[1]] = hex(a[2]) ":" hex(a[3]) } }
        { uuid[$1] = $2; mm[$1] = $5 ":" $6 }
        END {
            for (i = 1; i <= n; i++) {
                w = sprintf("3600a0b800000000000000000002%05d", i)
                for (k = 1; k <= 4; k++) {
                    name = "sc" i "-part" k
                    if (!(name in mm) || uuid[name] != "part" k "-mpath-" w) continue
                    maps++
                    if (dev["/dev/mapper/" name] == mm[name]) nodes++
                    if (dev["/dev/disk/by-id/scsi-" w "-part" k] == mm[name] &&
                        dev["/dev/disk/by-id/wwn-0x" substr(w, 2) "-part" k] == mm[name]) links++
                }
            }
            printf "%d %d %s\n", maps, nodes, (impl == "floor" ? "-" : links + 0)
        }' "$VT/sc.list"
}

# storm_teardown: remove every sc map with the kpartx rules masked (no helper runs), settle.
storm_teardown() {
    local names pass=0
    set_rules none
    while [ "$(dm_count '^sc')" -gt 0 ] && [ "$pass" -lt 5 ]; do
        names=$(dm_names | grep '^sc[0-9]*-part')
        # shellcheck disable=SC2086 # a list of names
        [ -z "$names" ] || dmsetup --noudevsync remove $names >/dev/null 2>&1
        names=$(dm_names | grep '^sc[0-9]*$')
        # shellcheck disable=SC2086 # a list of names
        [ -z "$names" ] || dmsetup --noudevsync remove $names >/dev/null 2>&1
        udev_settle
        pass=$((pass + 1))
    done
    [ "$(dm_count '^sc')" -eq 0 ] || error "storm maps left after the teardown: $(dm_names | grep -c '^sc')"
    # nodes of maps that are gone (udev removes them; make sure)
    for f in /dev/mapper/sc*; do [ -e "$f" ] || [ -L "$f" ] && rm -f "$f"; done
}

# storm_case IMPL N: one storm; appends "storm IMPL N us maps nodes links fails timeouts settle_rc".
storm_case() {
    local impl=$1 n=$2 i t0 us pids='' log0 src waited=0 res fails tmo mon evs
    set_rules "$impl"
    log0=$(wc -l <"$VT/udevd.log")
    progress "storm $impl $n: start"
    # what udev processed during the storm (events by action; partition maps' events with a
    # DM_COOKIE, for which 55-dm.rules and 95-dm-notify.rules each run a dmsetup)
    udevadm monitor --udev --property --subsystem-match=block >"$VT/sc.mon" 2>/dev/null &
    mon=$!
    sleep 1
    t0=$EPOCHREALTIME
    i=1
    while [ "$i" -le "$n" ]; do
        storm_one "$impl" "$i" &
        pids="$pids $!"
        i=$((i + 1))
    done
    # Not a bare `wait`: udevd may be a background job of this shell too.
    # shellcheck disable=SC2086 # a list of pids
    wait $pids
    udevadm settle -t 1800
    src=$?
    # settle can return early under a storm (e.g. "Broken pipe"): wait, bounded, for the
    # partition maps, then settle again.
    if [ "$(dm_count '^sc[0-9]*-part')" -ne $((n * 4)) ]; then
        i=0
        while [ "$(dm_count '^sc[0-9]*-part')" -ne $((n * 4)) ] && [ "$i" -lt 600 ]; do
            sleep 0.5
            i=$((i + 1))
        done
        udevadm settle -t 1800 || src="$src+$?"
        waited=1
    fi
    us=$(us_since "$t0")
    kill "$mon" 2>/dev/null
    wait "$mon" 2>/dev/null
    evs=$(awk '
        /^UDEV / { if (a != "") tally(); a = $3; u = ""; c = 0; next }
        /^DM_UUID=/ { u = substr($0, 9) }
        /^DM_COOKIE=/ { c = 1 }
        function tally() { n[a]++; if (u ~ /^part[0-9]/) { p[a]++; if (c) pc[a]++ } }
        END { if (a != "") tally()
              printf "%d/%d/%d %d/%d", n["add"], n["change"], n["remove"], pc["change"] + 0, p["change"] + 0 }' "$VT/sc.mon")
    res=$(storm_verify "$impl" "$n")
    tail -n +"$((log0 + 1))" "$VT/udevd.log" >"$VT/sc.udev"
    fails=$(grep -ci 'failed with exit code' "$VT/sc.udev")
    tmo=$(grep -ciE 'timed out|timeout|taking a long time|killing' "$VT/sc.udev")
    # shellcheck disable=SC2086 # res is three words
    set -- $res
    progress "storm $impl $n: $((us / 1000)) ms until settled (settle status $src$([ "$waited" = 1 ] && echo ", settle returned early")), partition maps $1 nodes $2 links $3 of $((n * 4)), udev log: $fails failed programs, $tmo timeouts; udev events add/change/remove ${evs% *}, partition-map change events with DM_COOKIE ${evs#* }"
    [ "$fails$tmo" = 00 ] || grep -iE 'failed with exit code|timed out|timeout|taking a long time|killing' "$VT/sc.udev" | head -5 | sed 's/^/    udevd: /' >&2
    echo "storm $impl $n $us $1 $2 $3 $fails $tmo $src $evs" >>"$RES"
    [ "$1" -eq $((n * 4)) ] && [ "$2" -eq $((n * 4)) ] || error "storm $impl $n: maps or nodes missing"
    [ "$3" = - ] || [ "$3" -eq $((n * 4)) ] || error "storm $impl $n: by-id links missing"
    storm_teardown
}

storm_section() {
    local max=0 n rep impl
    for n in $STORMS; do [ "$n" -le "$max" ] || max=$n; done
    set_rules none
    storm_setup "$max"
    rep=1
    while [ "$rep" -le "$STORM_REPS" ]; do
        for n in $STORMS; do
            for impl in $IMPLS; do storm_case "$impl" "$n"; done
        done
        rep=$((rep + 1))
    done
    storm_cleanup
}

# ---------------------------------------------------------------------------- per-event cost

# add_filler FROM TO: unrelated linear maps fill<FROM+1>…fill<TO> (8 sectors each on the filler
# loop), created with udevd stopped, in batches of 500 per dmsetup call.
add_filler() {
    local from=$1 to=$2 t0 j spec
    t0=$(now_cs)
    udev_stop
    j=$((from + 1))
    while [ "$j" -le "$to" ]; do
        spec=$(awk -v a="$j" -v b="$to" -v dev="$FDEV" 'BEGIN {
            e = a + 499; if (e > b) e = b
            for (x = a; x <= e; x++) printf "%sfill%05d,,,,0 8 linear %s %d", (x > a ? ";" : ""), x, dev, (x * 8) % 60000
        }')
        dmsetup --noudevsync create --concise "$spec" || error "creating filler maps from $j failed"
        j=$((j + 500))
    done
    udev_resume
    log "filler: $((to - from)) linear maps made in $(fmt_cs "$(elapsed_cs "$t0")") s; $(dmsetup info -c --noheadings -o name | wc -l) dm devices now"
}

# ev OP COUNT EXPECTED_RC CMD...: one timed command (udev settled before and after); records
# "event COUNT OP us" unless it is the warm-up round.
ev() {
    local op=$1 count=$2 rc=$3 t0 us got
    shift 3
    udev_settle
    t0=$EPOCHREALTIME
    "$@" >"$VT/ev.out" 2>"$VT/ev.err"
    got=$?
    us=$(us_since "$t0")
    if [ "$got" != "$rc" ]; then
        error "$op ($count devices): exit status $got, expected $rc: $*"
        sed 's/^/    /' "$VT/ev.err" >&2
    fi
    [ "$WARMUP" = 1 ] || echo "event $count $op $us" >>"$RES"
    udev_settle
}

# expect_parts PREFIX N WHAT: exactly N maps PREFIX1..4 exist.
expect_parts() {
    local got
    got=$(dm_count "^$1[0-9]*\$")
    [ "$got" -eq "$2" ] || error "$3: $got partition maps ($1*), expected $2"
}

event_round() {
    local count=$1 helper_env
    helper_env="ACTION=change MAJOR=$EMAJ MINOR=$EMIN DEVNAME=/dev/$EKN DM_NAME=evm DM_UUID=mpath-$EW"
    # this project's helper: a change event that creates the 4 maps, then one with them in place
    # shellcheck disable=SC2086 # helper_env is a list of assignments
    ev rs_chg_new "$count" 0 env -i $helper_env "$RS" --udev
    expect_parts evm-part 4 "rs helper change"
    # shellcheck disable=SC2086
    ev rs_chg_same "$count" 0 env -i $helper_env "$RS" --udev
    expect_parts evm-part 4 "rs helper change (in place)"
    dmsetup remove evm-part1 evm-part2 evm-part3 evm-part4 || error "removing evm-part*"
    # the reference: what its 60-kpartx.rules runs for the same event
    ev ref_u_new "$count" 0 "$REF" -u -n -p -part "/dev/$EKN"
    expect_parts evm-part 4 "ref -u"
    ev ref_u_same "$count" 0 "$REF" -u -n -p -part "/dev/$EKN"
    expect_parts evm-part 4 "ref -u (in place)"
    dmsetup remove evm-part1 evm-part2 evm-part3 evm-part4 || error "removing evm-part*"
    # -a -n / -d -n of a loop device with a 4-partition GPT
    ev rs_a "$count" 0 "$RS" -a -n "$LPL"
    expect_parts "${LPL#/dev/}p" 4 "rs -a -n"
    ev rs_d "$count" 0 "$RS" -d -n "$LPL"
    expect_parts "${LPL#/dev/}p" 0 "rs -d -n"
    ev ref_a "$count" 0 "$REF" -a -n "$LPL"
    expect_parts "${LPL#/dev/}p" 4 "ref -a -n"
    ev ref_d "$count" 0 "$REF" -d -n "$LPL"
    expect_parts "${LPL#/dev/}p" 0 "ref -d -n"
    # the helper's remove event of a dm device that had no partition maps (the generic block
    # remove event carries no DM_* variable)
    dmsetup create evx --table "0 8 linear $FDEV 65000" || error "dmsetup create evx"
    set -- "$(map_field evx major)" "$(map_field evx minor)" "$(basename "$(readlink -f /dev/mapper/evx)")"
    dmsetup remove evx || error "dmsetup remove evx"
    ev rs_rm "$count" 0 env -i ACTION=remove MAJOR="$1" MINOR="$2" DEVNAME="/dev/$3" DEVTYPE=disk "$RS" --udev
}

event_section() {
    local have=0 count rep
    set_rules none
    mk_disk evm
    mk_disk evl
    truncate -s 32M "$VT_IMG/evf.img"
    LPM=$(attach "$VT_IMG/evm.img")
    LPL=$(attach "$VT_IMG/evl.img")
    LPF=$(attach "$VT_IMG/evf.img")
    FDEV=$(devno "$LPF")
    EW=$(wwid 99999)
    dmsetup create evm -u "mpath-$EW" --table \
        "0 $(blockdev --getsz "$LPM") multipath 0 0 1 1 round-robin 0 1 1 $(devno "$LPM") 1000" ||
        die "dmsetup create evm failed"
    udev_settle
    EMAJ=$(map_field evm major)
    EMIN=$(map_field evm minor)
    EKN=$(basename "$(readlink -f /dev/mapper/evm)")
    for count in $COUNTS; do
        if [ "$count" -lt "$have" ]; then
            error "--counts must be ascending ($count after $have)"
            continue
        fi
        [ "$count" -eq "$have" ] || add_filler "$have" "$count"
        have=$count
        rep=0
        while [ "$rep" -le "$REPS" ]; do
            WARMUP=$([ "$rep" -eq 0 ] && echo 1 || echo 0)
            event_round "$count"
            rep=$((rep + 1))
        done
        progress "event rounds with $count unrelated dm devices done"
    done
    # cleanup: every dm device (a single remove_all) with udevd stopped, then the loops
    udev_stop
    dmsetup --noudevsync remove_all >/dev/null 2>&1 || dmsetup --noudevsync remove_all --force >/dev/null 2>&1
    losetup -d "$LPM" "$LPL" "$LPF"
    rm -f "$VT_IMG"/ev*.img
    find /dev/mapper -mindepth 1 ! -name control -exec rm -f {} + 2>/dev/null
    udev_resume
}

# -------------------------------------------------------------------------------------- main

log "bench-scale: $(kernel_info); same GPT GUIDs on every image: $SAME_GUIDS; storms '$STORMS' (${IMPLS}) x $STORM_REPS; counts '$COUNTS' x $REPS"
log "loop devices before: $(ls -d /sys/block/loop* | wc -l); max_loop=$(cat /sys/module/loop/parameters/max_loop 2>/dev/null)"
udev_running || udev_start || exit 1
[ -z "$STORMS" ] || storm_section
[ -z "$COUNTS" ] || event_section
udev_stop

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }
best() { sort -n | awk 'NR == 1 { v = $1 } END { print (NR ? v : "-") }'; }
# storm_val IMPL N FIELD: median over the repetitions
storm_val() { awk -v i="$1" -v n="$2" -v f="$3" '$1 == "storm" && $2 == i && $3 == n { print $f }' "$RES" | median; }
ev_vals() { awk -v c="$1" -v o="$2" '$1 == "event" && $2 == c && $3 == o { print $4 }' "$RES"; }
secs() { awk -v u="$1" 'BEGIN { if (u == "-") print "-"; else printf "%.1f s", u / 1e6 }'; }
ms() { awk -v u="$1" 'BEGIN { if (u == "-") print "-"; else printf "%.0f", u / 1e3 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

{
    echo "@@TABLE-BEGIN"
    echo "bench-scale: $(kernel_info)$([ "$SAME_GUIDS" = 1 ] && echo "; every storm image has the same GPT GUIDs (--same-guids)")"
    if [ -n "$STORMS" ]; then
        echo
        echo "Storms: N multipath maps x 4 GPT partitions created at once; seconds until udevadm settle returns (median of $STORM_REPS)"
        echo
        echo "| maps × 4 partitions | floor | reference rules | this project | this / floor | this / reference | reference / floor |"
        echo "|---:|---:|---:|---:|---:|---:|---:|"
        for n in $STORMS; do
            f=$(storm_val floor "$n" 4); r=$(storm_val ref "$n" 4); s=$(storm_val rs "$n" 4)
            echo "| $n | $(secs "$f") | $(secs "$r") | $(secs "$s") | $(ratio "$s" "$f") | $(ratio "$s" "$r") | $(ratio "$r" "$f") |"
        done
        echo
        echo "| case | partition maps | /dev/mapper nodes | both by-id links | failed RUN programs | worker timeouts | settle status | udev events add/change/remove | partition-map change events with DM_COOKIE |"
        echo "|---|---:|---:|---:|---:|---:|---|---:|---:|"
        for n in $STORMS; do
            for impl in $IMPLS; do
                awk -v i="$impl" -v n="$n" '$1 == "storm" && $2 == i && $3 == n {
                    printf "| %s %d | %d/%d | %d/%d | %s | %d | %d | %s | %s | %s |\n", i, n, $5, 4 * n, $6, 4 * n,
                        ($7 == "-" ? "-" : $7 "/" 4 * n), $8, $9, $10, $11, $12 }' "$RES"
            done
        done
    fi
    if [ -n "$COUNTS" ]; then
        echo
        echo "Per-event cost with unrelated dm devices present: best / median of $REPS runs, ms (4 partitions)"
        echo
        hdr="| operation |"; sep="|---|"
        for c in $COUNTS; do hdr="$hdr $c devices |"; sep="$sep---:|"; done
        first=$(echo "$COUNTS" | awk '{ print $1 }'); last=$(echo "$COUNTS" | awk '{ print $NF }')
        echo "$hdr $last / $first (best) | $last / $first (median) |"
        echo "$sep---:|---:|"
        for spec in "rs_chg_new:this: helper change event, multipath map, creates 4 maps" \
            "rs_chg_same:this: helper change event, the 4 maps in place" \
            "ref_u_new:reference: -u -n -p -part (its rule), creates 4 maps" \
            "ref_u_same:reference: -u -n -p -part, the 4 maps in place" \
            "rs_a:this: -a -n, loop" "ref_a:reference: -a -n, loop" \
            "rs_d:this: -d -n, loop" "ref_d:reference: -d -n, loop" \
            "rs_rm:this: helper remove event, dm device without partition maps"; do
            op=${spec%%:*}
            line="| ${spec#*:} |"
            for c in $COUNTS; do
                line="$line $(ms "$(ev_vals "$c" "$op" | best)") / $(ms "$(ev_vals "$c" "$op" | median)") |"
            done
            line="$line $(ratio "$(ev_vals "$last" "$op" | best)" "$(ev_vals "$first" "$op" | best)") | $(ratio "$(ev_vals "$last" "$op" | median)" "$(ev_vals "$first" "$op" | median)") |"
            echo "$line"
        done
    fi
    [ "$ERRORS" -eq 0 ] || echo "WARNING: $ERRORS checks failed (see the log)"
    echo "@@TABLE-END"
} >&2
[ "$ERRORS" -eq 0 ]
