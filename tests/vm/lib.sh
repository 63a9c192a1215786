# shellcheck shell=dash
# tests/vm/lib.sh — helpers for the scenarios that run inside the test VM (busybox ash).
#
# Sourced by /init (for the udev helpers and the global reset) and by run-scenario.sh (for every
# scenario).  Written for busybox ash: POSIX sh plus `local`; no bash arrays or ${var//x/y}.
#
# Main entry points for scenario authors (see README.md):
#   kp [-x RC] [-E] ARGS...   run "$K" ARGS, log it, record rc + normalised stdout in the trace
#   snap LABEL                 record a normalised dm/loop snapshot in the trace (and the log)
#   compare_impls FN           run FN with K=$REF, then with K=$RS, from the same state; diff traces
#   mkimg NAME MiB / mkgpt NAME MiB N PART_MiB / attach IMG [losetup opts] / loop_of IMG
#   udev_start [--no-notify] [--hotplug] / udev_stop [--purge] / udev_settle / udev_running
#   assert_eq / assert_ne / assert_contains / assert_map / assert_no_map / fail / die / log
#   now_cs / fmt_cs / elapsed_cs    timing in centiseconds from /proc/uptime

# The Debian stack the image was built from (build-initramfs.sh, VM_STACK on the host): 12
# (bookworm: udev 252, dm rules version 2, multipath-tools/kpartx 0.9.4) or 13 (trixie: udev 257,
# dm rules version 3, 0.11.1).  Scenarios test it only where an expectation differs per stack.
VM_STACK=$(cat /etc/vmtest/stack 2>/dev/null || echo 12)

# Implementations.  REF is Debian's kpartx (0.9.4 on stack 12, 0.11.1 on 13).  RS is the binary
# under test: /opt/rs/kpartx (build-initramfs.sh --kpartx) or else the overlay's /usr/sbin/kpartx.
REF=/opt/ref/kpartx
if [ -z "${RS:-}" ]; then
    if [ -x /opt/rs/kpartx ]; then RS=/opt/rs/kpartx; else RS=/usr/sbin/kpartx; fi
fi
K=${K:-$REF}       # the implementation kp runs; compare_impls switches it
IMPL=${IMPL:-}     # "ref" or "rs" while compare_impls runs a body

VT=/tmp/vmtest                 # scratch space on tmpfs
VT_IMG=$VT/img                 # disk images
VT_RUN=/run/vmtest             # udevd pid/mode
UDEVD=/usr/lib/systemd/systemd-udevd
# The Debian busybox runs its own applets in preference to $PATH (FEATURE_SH_STANDALONE), and
# its losetup/blockdev lack options we need: call util-linux's by path.
losetup() { /usr/sbin/losetup "$@"; }
blockdev() { /usr/sbin/blockdev "$@"; }
DMMAJ=$(awk '$2 == "device-mapper" { print $1 }' /proc/devices 2>/dev/null)
mkdir -p "$VT" "$VT_IMG" "$VT_RUN"

# ---------------------------------------------------------------------------------------------
# Logging, timing, assertions
# ---------------------------------------------------------------------------------------------

# now_cs: centiseconds since boot (busybox date has no %N).
now_cs() {
    local up _rest s c
    read -r up _rest </proc/uptime
    s=${up%.*}
    c=${up#*.}
    c=${c#0}
    echo $((s * 100 + c))
}
# fmt_cs N: centiseconds as seconds with two decimals.
fmt_cs() { printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); }
# elapsed_cs START: centiseconds since START (a now_cs value).
elapsed_cs() { echo $(($(now_cs) - $1)); }

# log MSG: a line in the scenario's log, stamped with the uptime in seconds.
log() {
    local up _rest
    read -r up _rest </proc/uptime
    printf '[%8s] %s\n' "$up" "$*" >&2
}

# fail MSG: record an assertion failure and carry on (the scenario fails at the end).
# Messages go to stderr so that helpers used in $(...) cannot swallow them.
fail() {
    printf 'FAIL%s: %s\n' "${IMPL:+[$IMPL]}" "$*" >&2
    printf '%s%s\n' "${IMPL:+[$IMPL] }" "$*" >>"${VT_FAILS:-$VT/fails}"
}
# die MSG: record a failure and abort the current (sub)shell.
die() { fail "$*"; exit 1; }

ok() { printf 'ok%s: %s\n' "${IMPL:+[$IMPL]}" "$*" >&2; }

assert_eq() { # assert_eq ACTUAL EXPECTED WHAT
    if [ "$1" = "$2" ]; then ok "$3 = '$2'"; else fail "$3: expected '$2', got '$1'"; fi
}
assert_ne() { # assert_ne ACTUAL UNEXPECTED WHAT
    if [ "$1" != "$2" ]; then ok "$3 != '$2'"; else fail "$3: did not expect '$2'"; fi
}
assert_contains() { # assert_contains HAYSTACK NEEDLE WHAT
    case $1 in
        *"$2"*) ok "$3 contains '$2'" ;;
        *) fail "$3: '$2' not found in: $1" ;;
    esac
}
assert_le() { # assert_le A B WHAT  (integers)
    if [ "$1" -le "$2" ]; then ok "$3 ($1 <= $2)"; else fail "$3: $1 > $2"; fi
}

# ---------------------------------------------------------------------------------------------
# Device-mapper and loop queries
# ---------------------------------------------------------------------------------------------

# dm_list: "name|uuid|attr|open|major|minor" per map, sorted; nothing when there are no maps.
dm_list() {
    dmsetup info -c --noheadings --separator '|' -o name,uuid,attr,open,major,minor 2>/dev/null |
        grep -v '^No devices found' | LC_ALL=C sort
}
dm_names() { dm_list | cut -d'|' -f1; }
map_exists() { dmsetup info "$1" >/dev/null 2>&1; }
map_field() { # map_field NAME FIELD (uuid attr open major minor)
    dmsetup info -c --noheadings --separator '|' -o "$2" "$1" 2>/dev/null
}
map_uuid() { map_field "$1" uuid; }
map_open() { map_field "$1" open; }
map_ro() { # 1 when the map is read-only
    case $(map_field "$1" attr) in ???r*) echo 1 ;; *) echo 0 ;; esac
}
map_table() { dmsetup table "$1" 2>/dev/null; }

assert_map() { # assert_map NAME [TABLE [UUID]]
    if ! map_exists "$1"; then fail "map $1 missing"; return; fi
    ok "map $1 exists"
    [ -z "${2:-}" ] || assert_eq "$(map_table "$1")" "$2" "table of $1"
    [ -z "${3:-}" ] || assert_eq "$(map_uuid "$1")" "$3" "uuid of $1"
}
assert_no_map() { # assert_no_map NAME
    if map_exists "$1"; then fail "map $1 still exists"; else ok "no map $1"; fi
}
assert_node() { # assert_node NAME: /dev/mapper/NAME is a block device with the map's dev_t
    local want got
    want="$(map_field "$1" major):$(map_field "$1" minor)"
    got=$(devno "/dev/mapper/$1" 2>/dev/null || true)
    assert_eq "$got" "$want" "dev_t of /dev/mapper/$1"
}
count_maps() { dm_list | grep -c . || true; }

# dm_create NAME ARGS...: `dmsetup create NAME ARGS...` for fixtures (foreign maps, multipath
# parents).  Debian's dmsetup trusts udev to make /dev/mapper nodes even when udevd is not running
# ("Skipping NODE_ADD ... [trust_udev]"), so without udevd the node is made with `dmsetup mknodes`.
dm_create() {
    local name=$1
    shift
    dmsetup create "$name" "$@" || return 1
    udev_running || dmsetup mknodes "$name"
}

# devno DEV: "major:minor" (decimal) of a block device node, following symlinks.
devno() {
    local t
    [ -b "$1" ] || return 1
    t=$(stat -L -c '%t %T' "$1") || return 1
    # shellcheck disable=SC2086 # two words on purpose
    printf '%d:%d\n' 0x${t% *} 0x${t#* }
}

# loop_of IMG: the first /dev/loopN whose backing file is IMG (realpath), via sysfs.
loop_of() {
    local img d
    img=$(realpath "$1")
    for d in /sys/block/loop*; do
        [ -r "$d/loop/backing_file" ] || continue
        if [ "$(cat "$d/loop/backing_file")" = "$img" ]; then
            echo "/dev/${d##*/}"
            return 0
        fi
    done
    return 1
}
loops_of() { # loops_of IMG: all loops backed by IMG
    local img d
    img=$(realpath "$1")
    for d in /sys/block/loop*; do
        [ -r "$d/loop/backing_file" ] || continue
        [ "$(cat "$d/loop/backing_file")" = "$img" ] && echo "/dev/${d##*/}"
    done
    return 0
}
bound_loops() { # every bound loop device
    local d
    for d in /sys/block/loop*; do
        [ -r "$d/loop/backing_file" ] && echo "/dev/${d##*/}"
    done
    return 0
}

# ---------------------------------------------------------------------------------------------
# Snapshots and normalisation
# ---------------------------------------------------------------------------------------------

# dm_devmap FILE: write "MAJ:MIN NAME" for every dm map (for normalisation).
dm_devmap() {
    dm_list | awk -F'|' '{ print $5 ":" $6, $1 }' >"$1"
}

# norm_dm MAPFILE: stdin -> stdout, replacing every device-mapper "MAJ:MIN" (not part of a longer
# number) by dm<NAME> using MAPFILE, or dm<?> for a device that no longer exists.  dm minors and
# dm-N indexes are allocation order, which may legitimately differ between implementations; the
# map they designate may not.
norm_dm() {
    awk -v maj="$DMMAJ" -v mapfile="$1" '
        FILENAME == mapfile { m[$1] = $2; next }
        {
            s = $0; out = ""
            while (maj != "" && match(s, maj ":[0-9]+")) {
                tok = substr(s, RSTART, RLENGTH)
                before = (RSTART > 1) ? substr(s, RSTART - 1, 1) : ""
                if (before ~ /[0-9]/) { out = out substr(s, 1, RSTART + RLENGTH - 1) }
                else { out = out substr(s, 1, RSTART - 1) ((tok in m) ? "dm<" m[tok] ">" : "dm<?>") }
                s = substr(s, RSTART + RLENGTH)
            }
            print out s
        }' "$1" -
}

# dm_snapshot: canonical, sorted description of the device-mapper and loop state:
#   map NAME uuid=UUID attr=ATTR ro=0|1 open=N node=ok|missing|wrong table=LINE[ ; LINE...]
#   loop /dev/loopN file=PATH ro= autoclear= partscan= offset= sizelimit= lbs=
#   stale-node /dev/mapper/X      (a node without a map)
#   cookies=N                     (udev cookie semaphores left behind)
#   env udevd=running|stopped dev-block=present|absent
# dev-block records whether udev's /dev/block/M:m links exist: without them the reference cannot
# find the loop device already backing an image file (it then attaches another one).
# Device-mapper dev_t values are normalised to dm<NAME> (see norm_dm).
dm_snapshot() {
    local mapf tabf statf d f back ro_l ac ps off sl lbs dblock udevd=stopped
    udev_settle
    mapf=$VT/devmap.$$
    tabf=$VT/tables.$$
    statf=$VT/stat.$$
    dm_list >"$mapf.list"
    awk -F'|' 'NF >= 6 { print $5 ":" $6, $1 }' "$mapf.list" >"$mapf"
    # one call for every table: "name: start len target args", several lines for several targets
    dmsetup table 2>/dev/null | grep -v '^No devices found' >"$tabf"
    # one stat for every /dev/mapper entry: "path F|B major-hex minor-hex" (F = not a block device)
    : >"$statf"
    for f in /dev/mapper/*; do
        [ "$f" = /dev/mapper/control ] && continue
        [ -e "$f" ] || [ -L "$f" ] || continue
        if [ -b "$f" ]; then
            printf '%s B %s\n' "$f" "$(stat -L -c '%t %T' "$f")" >>"$statf"
        else
            printf '%s F\n' "$f" >>"$statf"
        fi
    done
    {
        awk -F'|' -v tabf="$tabf" -v statf="$statf" '
            BEGIN {
                while ((getline l < tabf) > 0) {
                    n = l; sub(/: .*/, "", n); t = l; sub(/^[^:]*: /, "", t)
                    if (n in tab) t = tab[n] " ; " t    # busybox awk: test before assigning
                    tab[n] = t
                }
                while ((getline l < statf) > 0) {
                    split(l, a, " "); p = a[1]; sub(/^\/dev\/mapper\//, "", p)
                    node[p] = (a[2] == "B") ? hex(a[3]) ":" hex(a[4]) : "-"
                }
            }
            function hex(h,   i, c, v) {
                v = 0; h = tolower(h)
                for (i = 1; i <= length(h); i++) { c = index("0123456789abcdef", substr(h, i, 1)) - 1; v = v * 16 + c }
                return v
            }
            NF >= 6 {
                name = $1; seen[name] = 1
                ro = (substr($3, 4, 1) == "r") ? 1 : 0
                if (!(name in node)) st = "missing"
                else if (node[name] == $5 ":" $6) st = "ok"
                else st = "wrong"
                printf "map %s uuid=%s attr=%s ro=%s open=%s node=%s table=%s\n",
                    name, ($2 == "" ? "-" : $2), $3, ro, $4, st, tab[name]
            }
            END { for (p in node) if (!(p in seen)) printf "stale-node /dev/mapper/%s\n", p }
        ' "$mapf.list"
        for d in /sys/block/loop*; do
            [ -r "$d/loop/backing_file" ] || continue
            read -r back <"$d/loop/backing_file"
            read -r ro_l <"$d/ro"
            read -r ac <"$d/loop/autoclear"
            read -r ps <"$d/loop/partscan"
            read -r off <"$d/loop/offset"
            read -r sl <"$d/loop/sizelimit"
            read -r lbs <"$d/queue/logical_block_size"
            printf 'loop /dev/%s file=%s ro=%s autoclear=%s partscan=%s offset=%s sizelimit=%s lbs=%s\n' \
                "${d##*/}" "$back" "$ro_l" "$ac" "$ps" "$off" "$sl" "$lbs"
        done
        printf 'cookies=%s\n' "$(cookie_count)"
        dblock=absent
        for f in /dev/block/*; do [ -e "$f" ] || [ -L "$f" ] && dblock=present && break; done
        udev_running && udevd=running
        printf 'env udevd=%s dev-block=%s\n' "$udevd" "$dblock"
    } | norm_dm "$mapf" | LC_ALL=C sort
    rm -f "$mapf" "$mapf.list" "$tabf" "$statf"
}

# cookie_count: udev cookie semaphores (SysV key 0x0d4dXXXX) currently allocated; read from
# /proc/sysvipc/sem (keys in decimal) rather than `dmsetup udevcookies`, which costs a fork+exec.
cookie_count() {
    awk 'NR > 1 && $1 >= 223150080 && $1 <= 223215615 { n++ } END { print n + 0 }' /proc/sysvipc/sem 2>/dev/null ||
        echo 0
}

# ---------------------------------------------------------------------------------------------
# Traces: what compare_impls compares
# ---------------------------------------------------------------------------------------------

trace() { [ -z "${TRACE:-}" ] || printf '%s\n' "$*" >>"$TRACE"; }

# snap LABEL: append a labelled snapshot to the trace and to the log.
snap() {
    local s
    s=$(dm_snapshot)
    log "--- snapshot: $1"
    printf '%s\n' "$s" | sed 's/^/    /' >&2
    trace "## snapshot: $1"
    trace "$s"
}

# untraced CMD...: run CMD (e.g. kp) without recording anything in the comparison trace, for
# steps where the implementations differ on purpose (see docs/differences.md).
untraced() {
    local saved=${TRACE:-}
    TRACE=
    "$@"
    TRACE=$saved
}

# is_rs: true while compare_impls runs the binary under test.
is_rs() { [ "${IMPL:-}" = rs ]; }

# kp [-x RC] [-E] [-t SECS] ARGS...: run the current implementation ($K) with ARGS.
#   -x RC    assert the exit status
#   -E       also compare stderr (normally only logged: libdevmapper's own messages differ)
#   -t SECS  run under `timeout SECS` (status 143 if it had to be killed)
# Sets KP_RC, KP_OUT and KP_ERR (files), KP_CS (centiseconds).  The trace gets the command line,
# the status and the stdout, with device-mapper dev_t values normalised.
kp() {
    local expect='' cmp_err=0 tmo='' rc t0 mapf
    while [ $# -gt 0 ]; do
        case $1 in
            -x) expect=$2; shift 2 ;;
            -E) cmp_err=1; shift ;;
            -t) tmo=$2; shift 2 ;;
            *) break ;;
        esac
    done
    KP_OUT=$VT/kp.out
    KP_ERR=$VT/kp.err
    t0=$(now_cs)
    if [ -n "$tmo" ]; then
        timeout "$tmo" "$K" "$@" >"$KP_OUT" 2>"$KP_ERR"
    else
        "$K" "$@" >"$KP_OUT" 2>"$KP_ERR"
    fi
    rc=$?
    KP_CS=$(elapsed_cs "$t0")
    # shellcheck disable=SC2034 # KP_RC is for the scenarios
    KP_RC=$rc
    log "\$ kpartx $* -> rc=$rc ($(fmt_cs "$KP_CS") s)${IMPL:+ [$IMPL]}"
    sed 's/^/    stdout: /' "$KP_OUT" >&2
    sed 's/^/    stderr: /' "$KP_ERR" >&2
    mapf=$VT/devmap.kp
    dm_devmap "$mapf"
    trace "\$ kpartx $*"
    trace "rc=$rc"
    [ -z "${TRACE:-}" ] || norm_dm "$mapf" <"$KP_OUT" | sed 's/^/stdout: /' >>"$TRACE"
    if [ "$cmp_err" -eq 1 ] && [ -n "${TRACE:-}" ]; then
        norm_dm "$mapf" <"$KP_ERR" | sed 's/^/stderr: /' >>"$TRACE"
    fi
    [ -z "$expect" ] || assert_eq "$rc" "$expect" "exit status of kpartx $*"
    return 0
}

# ---------------------------------------------------------------------------------------------
# Images and loops
# ---------------------------------------------------------------------------------------------

# mkimg NAME SIZE_MiB: a fresh sparse image on tmpfs; prints its path.
mkimg() {
    local img=$VT_IMG/$1.img
    rm -f "$img"
    truncate -s "$2M" "$img"
    echo "$img"
}
# mkgpt NAME SIZE_MiB NPARTS PART_MiB: image with a GPT of NPARTS contiguous partitions of
# PART_MiB each, the first at sector 2048; prints its path.
# The result is the same image every time for the same geometry: the first call writes a template
# with sgdisk (slow under emulation), later calls copy its first and last MiB (where the GPT lives)
# into a fresh sparse file.
mkgpt() {
    local img tpl i args=''
    tpl=$VT/tpl/gpt-$2-$3-$4.img
    img=$(mkimg "$1" "$2")
    if [ ! -e "$tpl" ]; then
        mkdir -p "$VT/tpl"
        rm -f "$tpl.tmp"
        truncate -s "$2M" "$tpl.tmp"
        i=1
        while [ "$i" -le "$3" ]; do
            args="$args -n $i:0:+$4M"
            i=$((i + 1))
        done
        # shellcheck disable=SC2086 # $args is a list of options
        sgdisk -o -a 2048 $args "$tpl.tmp" >/dev/null || die "sgdisk for $img failed"
        mv "$tpl.tmp" "$tpl"
    fi
    if ! dd if="$tpl" of="$img" bs=1M count=1 conv=notrunc 2>/dev/null ||
        ! dd if="$tpl" of="$img" bs=1M skip=$(($2 - 1)) seek=$(($2 - 1)) count=1 conv=notrunc 2>/dev/null
    then
        die "copying $tpl failed"
    fi
    echo "$img"
}
# attach IMG [losetup options]: attach a loop device; prints /dev/loopN.
attach() {
    local img=$1
    shift
    losetup -f --show "$@" "$img" || die "losetup $* $img failed"
}

# ---------------------------------------------------------------------------------------------
# udev
# ---------------------------------------------------------------------------------------------

udev_pid() { cat "$VT_RUN/udevd.pid" 2>/dev/null; }
is_alive() { # is_alive PID: exists and is not a zombie (no fork: this is called a lot)
    local _pid _comm state _rest
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
    read -r _pid _comm state _rest <"/proc/$1/stat" 2>/dev/null || return 1
    case $state in Z|X|'') return 1 ;; esac
    return 0
}
udev_running() {
    local pid
    [ -r "$VT_RUN/udevd.pid" ] || return 1
    read -r pid <"$VT_RUN/udevd.pid"
    is_alive "$pid"
}
udev_mode() { if udev_running; then cat "$VT_RUN/udevd.mode"; else echo off; fi; }

# udev_settle: wait for the udev event queue to drain (no-op without udevd).
udev_settle() {
    udev_running || return 0
    udevadm settle -t 60 || log "udevadm settle timed out" >&2
}

# udev_start [--no-notify|--no-dm-rules] [--hotplug]: start systemd-udevd in the background (own
# session, log in /tmp/vmtest/udevd.log), replay "add" for block devices so /dev/block links
# exist, settle.
#   --no-notify    mask 95-dm-notify.rules: cookies are never completed ("broken udev")
#   --no-dm-rules  mask every device-mapper rule (*dm*.rules): udev neither completes cookies nor
#                  makes /dev/mapper links nor records maps by name
#   --hotplug    keep kpartx's udev rules active (by default every *kpartx*.rules file is masked
#                so that no kpartx runs behind a scenario's back)
# shellcheck disable=SC2120 # the options are optional
udev_start() {
    local notify=1 hotplug=0 dmrules=1 r mode
    while [ $# -gt 0 ]; do
        case $1 in
            --no-notify) notify=0 ;;
            --no-dm-rules) notify=0; dmrules=0 ;;
            --hotplug) hotplug=1 ;;
            *) die "udev_start: unknown option $1" ;;
        esac
        shift
    done
    udev_running && udev_stop
    mkdir -p /run/udev /etc/udev/rules.d
    rm -f /etc/udev/rules.d/*.rules
    mode=normal
    if [ "$notify" -eq 0 ]; then
        ln -s /dev/null /etc/udev/rules.d/95-dm-notify.rules
        mode=no-notify
    fi
    if [ "$dmrules" -eq 0 ]; then
        for r in /usr/lib/udev/rules.d/*dm*.rules; do
            [ -e "$r" ] && ln -sf /dev/null "/etc/udev/rules.d/${r##*/}"
        done
        mode=no-dm-rules
    fi
    if [ "$hotplug" -eq 0 ]; then
        for r in /usr/lib/udev/rules.d/*kpartx*.rules; do
            [ -e "$r" ] && ln -sf /dev/null "/etc/udev/rules.d/${r##*/}"
        done
    else
        mode="$mode+hotplug"
    fi
    # In the background and in its own session: `--daemon` would keep the console pipe open, and
    # a scenario's process group may be killed on timeout.
    setsid "$UDEVD" >"$VT/udevd.log" 2>&1 &
    echo $! >"$VT_RUN/udevd.pid"
    echo "$mode" >"$VT_RUN/udevd.mode"
    r=0
    while [ ! -S /run/udev/control ] && [ "$r" -lt 100 ]; do sleep 0.1; r=$((r + 1)); done
    udev_running || { log "udevd failed to start:"; cat "$VT/udevd.log"; return 1; }
    udevadm trigger --action=add --subsystem-match=block
    udevadm settle -t 60
    log "udevd running (pid $(udev_pid), mode $mode)"
}

# udev_stop [--purge]: stop udevd.  --purge also removes what udev created (/dev/block,
# /dev/disk, /dev/mapper symlinks, /run/udev) to get a "never had udev" environment.
# shellcheck disable=SC2120 # the option is optional
udev_stop() {
    local pid i
    pid=$(udev_pid)
    if is_alive "$pid"; then
        udevadm control --exit 2>/dev/null || kill "$pid" 2>/dev/null
        i=0
        while is_alive "$pid" && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        is_alive "$pid" && kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$VT_RUN/udevd.pid" "$VT_RUN/udevd.mode" /etc/udev/rules.d/*.rules
    # libdevmapper treats udev as running while /run/udev/control exists.
    rm -f /run/udev/control
    if [ "${1:-}" = --purge ]; then
        rm -rf /dev/block /dev/disk /run/udev
        find /dev/mapper -mindepth 1 -type l -exec rm -f {} + 2>/dev/null
    fi
    return 0
}

# ---------------------------------------------------------------------------------------------
# State marks and cleanup: remove only the maps and loops created since a mark
# ---------------------------------------------------------------------------------------------

# state_mark FILE: remember the current maps and loops.
state_mark() {
    { dm_names | sed 's/^/map /'; bound_loops | sed 's/^/loop /'; } >"$1"
}

# state_restore FILE: remove the maps and detach the loops that are not in FILE.  Maps are
# removed repeatedly so that partitions go before their parents; nodes are left to udev when it
# runs, else libdevmapper removes them itself (--noudevsync never waits for a cookie).
state_restore() {
    local mark=$1 pass name left lp f
    udev_settle
    pass=0
    while [ "$pass" -lt 10 ]; do
        left=0
        for name in $(dm_names); do
            grep -qxF "map $name" "$mark" 2>/dev/null && continue
            left=1
            [ "$(map_open "$name")" = 0 ] || continue
            dmsetup --noudevsync remove "$name" >/dev/null 2>&1 ||
                dmsetup --noudevsync remove --force "$name" >/dev/null 2>&1 || true
        done
        [ "$left" -eq 0 ] && break
        udev_settle
        pass=$((pass + 1))
    done
    for lp in $(bound_loops); do
        grep -qxF "loop $lp" "$mark" 2>/dev/null && continue
        losetup -d "$lp" 2>/dev/null || true
    done
    # stale /dev/mapper entries of maps that no longer exist
    for f in /dev/mapper/*; do
        name=${f##*/}
        [ "$name" = control ] && continue
        [ -e "$f" ] || [ -L "$f" ] || continue
        map_exists "$name" || rm -f "$f"
    done
    # cookies nobody will complete any more (a killed reference, broken udev)
    if [ "$(cookie_count)" != 0 ]; then dmsetup --yes udevcomplete_all >/dev/null 2>&1 || true; fi
    udev_settle
}

# state_diff FILE: print what differs from a mark ("+ map X" created, "- loop Y" gone).
state_diff() {
    local now=$VT/state.now
    state_mark "$now"
    LC_ALL=C sort "$1" >"$now.a"
    LC_ALL=C sort "$now" >"$now.b"
    diff "$now.a" "$now.b" | grep '^[-+][^-+]' | sed 's/^\([-+]\)/\1 /'
    rm -f "$now" "$now.a" "$now.b"
    return 0
}

# ---------------------------------------------------------------------------------------------
# Differential runs
# ---------------------------------------------------------------------------------------------

# compare_impls FN [ARGS...]: run FN once with K=$REF and once with K=$RS, each from the state at
# entry (everything created since is removed in between), then compare the traces (kp results and
# snap snapshots, plus a final snapshot).  Assertions inside FN apply to both implementations.
compare_impls() {
    local fn=$1 impl mark rt st
    shift
    mark=$VT/mark.$fn
    state_mark "$mark"
    if [ ! -x "$RS" ]; then
        fail "no binary under test ($RS); use run.sh --kpartx PATH or --overlay DIR"
        return 1
    fi
    for impl in ref rs; do
        TRACE=$VT/${SCN:-scn}.$fn.$impl.trace
        : >"$TRACE"
        log "===== $fn [$impl]"
        st=$(now_cs)
        (
            IMPL=$impl
            if [ "$impl" = ref ]; then K=$REF; else K=$RS; fi
            "$fn" "$@"
        )
        rt=$?
        [ "$rt" -eq 0 ] || fail "[$impl] $fn returned $rt"
        IMPL=$impl snap "final ($fn)"
        log "===== $fn [$impl] took $(fmt_cs "$(elapsed_cs "$st")") s"
        state_restore "$mark"
    done
    TRACE=
    if cmp -s "$VT/${SCN:-scn}.$fn.ref.trace" "$VT/${SCN:-scn}.$fn.rs.trace"; then
        ok "$fn: reference and binary under test agree ($(wc -l <"$VT/${SCN:-scn}.$fn.ref.trace") trace lines)"
    else
        fail "$fn: reference and binary under test differ (diff -u ref rs):"
        diff -u "$VT/${SCN:-scn}.$fn.ref.trace" "$VT/${SCN:-scn}.$fn.rs.trace" | sed 's/^/    /'
    fi
}

# ---------------------------------------------------------------------------------------------
# Used by /init between scenarios
# ---------------------------------------------------------------------------------------------

# global_reset: remove every map and loop, complete every cookie (a fresh environment).
global_reset() {
    local empty=$VT/mark.empty
    : >"$empty"
    state_restore "$empty"
}
