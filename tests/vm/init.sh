#!/bin/sh
# shellcheck shell=dash
# tests/vm/init.sh — PID 1 of the test VM (installed as /init in the initramfs; busybox sh).
#
# Kernel command line (set by run.sh):
#   vmtest.scenarios=a,b,c   scenarios to run, in order (/harness/scenarios/NAME.sh; "bench" and
#                            "bench-*" run /harness/NAME.sh --in-vm)
#   vmtest.timeout=SECS      time limit per scenario (default 240)
#
# For every scenario: bring udevd into the state the scenario declares in a "# vm: udev=on|off|any"
# header line, run it in its own session (so it can be killed as a whole) under a watchdog, then
# print to the console, for the host:
#   @@START name
#   @@LOG-BEGIN name / ...the scenario's output... / @@LOG-END name
#   @@RESULT name PASS|FAIL|TIMEOUT seconds
# and finally "@@DONE" before powering off.  PID 1 must never exit, so nothing here uses set -e.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
hostname vmtest 2>/dev/null

# Kernel modules, in dependency order (dm-mod first).
while read -r mod; do
    [ -n "$mod" ] || continue
    insmod "$mod" || echo "@@WARN insmod $mod failed"
done </etc/vmtest/modules
# Keep kernel messages off the console (they would interleave with the framed logs); they are
# collected per scenario with dmesg instead.
echo 1 >/proc/sys/kernel/printk

# shellcheck source=tests/vm/lib.sh
. /harness/lib.sh

SCENARIOS=
TIMEOUT=240
read -r CMDLINE </proc/cmdline
for arg in $CMDLINE; do
    case $arg in
        vmtest.scenarios=*) SCENARIOS=$(echo "${arg#*=}" | tr ',' ' ') ;;
        vmtest.timeout=*) TIMEOUT=${arg#*=} ;;
    esac
done

echo
echo "@@BOOTED $(fmt_cs "$(now_cs)") kernel=$(uname -r) cpus=$(nproc)"
[ -e /dev/mapper/control ] || echo "@@WARN /dev/mapper/control is missing"

# udev requirement of a scenario: on (default), off, or any.
udev_requirement() {
    local f=/harness/scenarios/$1.sh r
    case $1 in bench | bench-*) echo on; return ;; esac
    r=$(sed -n 's/^# vm:.*udev=\([a-z]*\).*/\1/p' "$f" 2>/dev/null | head -n1)
    echo "${r:-on}"
}

# scenario_timeout NAME: seconds the scenario may take: its `# vm: timeout=N` line, else the
# boot's vmtest.timeout.
scenario_timeout() {
    local r
    r=$(sed -n 's/^# vm:.*timeout=\([0-9]*\).*/\1/p' "/harness/scenarios/$1.sh" 2>/dev/null | head -n1)
    echo "${r:-$TIMEOUT}"
}

# run_with_watchdog NAME LOG: run the scenario in its own session; prints PASS, FAIL or TIMEOUT.
run_with_watchdog() {
    local name=$1 logf=$2 rcf=$VT/rc.$1 pid deadline rc limit
    rm -f "$rcf"
    if [ "$name" = bench ] || [ "${name#bench-}" != "$name" ]; then
        setsid sh -c "/harness/$name.sh --in-vm >'$logf' 2>&1; echo \$? >'$rcf'" </dev/null &
    else
        setsid sh -c "/harness/run-scenario.sh '$name' >'$logf' 2>&1; echo \$? >'$rcf'" </dev/null &
    fi
    pid=$!
    limit=$(scenario_timeout "$name")
    deadline=$(($(now_cs) + limit * 100))
    while [ ! -s "$rcf" ] && [ "$(now_cs)" -lt "$deadline" ]; do
        sleep 0.2
    done
    if [ ! -s "$rcf" ]; then
        {
            echo "@@ scenario exceeded its time limit of ${limit}s; killing it"
            ps -o pid,pgid,stat,args 2>/dev/null || ps
        } >>"$logf"
        kill -TERM -"$pid" 2>/dev/null
        sleep 2
        kill -KILL -"$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        echo TIMEOUT
        return
    fi
    wait "$pid" 2>/dev/null
    kill -KILL -"$pid" 2>/dev/null   # stragglers left in the scenario's process group
    rc=$(cat "$rcf")
    if [ "$rc" = 0 ]; then echo PASS; else echo FAIL; fi
}

mkdir -p "$VT/log"
dmesg -c >/dev/null 2>&1
for s in $SCENARIOS; do
    echo "@@START $s"
    want=$(udev_requirement "$s")
    case $want in
        on) [ "$(udev_mode)" = normal ] || { udev_stop; udev_start >/dev/null; } ;;
        off) udev_stop --purge ;;
    esac
    logf=$VT/log/$s.log
    t0=$(now_cs)
    res=$(run_with_watchdog "$s" "$logf")
    secs=$(fmt_cs "$(elapsed_cs "$t0")")
    # Whatever a killed or sloppy scenario left behind must not leak into the next one.
    if [ -n "$(dm_names)" ] || [ -n "$(bound_loops)" ]; then
        {
            echo "@@ state left behind after the scenario (removed now):"
            dm_snapshot | sed 's/^/    /'
        } >>"$logf"
        global_reset
        [ "$res" = PASS ] && res=FAIL
    fi
    kmsg=$(dmesg -c 2>/dev/null)
    if [ -n "$kmsg" ]; then
        { echo "---- kernel messages"; printf '%s\n' "$kmsg"; } >>"$logf"
    fi
    if [ "$res" != PASS ] && [ -s "$VT/udevd.log" ]; then
        { echo "---- udevd log (last 40 lines)"; tail -n 40 "$VT/udevd.log"; } >>"$logf"
    fi
    echo "@@LOG-BEGIN $s"
    cat "$logf"
    echo "@@LOG-END $s"
    echo "@@RESULT $s $res $secs"
done

udev_stop
echo "@@DONE $(fmt_cs "$(now_cs)")"
sync
poweroff -f
# Not reached unless poweroff failed; PID 1 must not exit.
echo o >/proc/sysrq-trigger
while :; do sleep 60; done
