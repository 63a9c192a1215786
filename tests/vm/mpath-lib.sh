# shellcheck shell=dash
# tests/vm/mpath-lib.sh — the real multipath stack in the VM (sourced after lib.sh): Debian's
# multipathd and multipath (0.9.4, /usr/sbin, rules kept in /opt/mpath/udev until enabled here)
# over scsi_debug LUNs that each show through two SCSI hosts, with either implementation's kpartx
# udev rules. Used by scenarios/mpath-stack.sh and bench-multipath.sh.
#
#   mp_scsi_load NLUNS MiB    scsi_debug: add_host=2 num_tgts=1 max_luns=NLUNS vpd_use_hostno=0
#                             (every LUN has two paths, one WWID; all LUNs share one RAM store, so
#                             the GPT written by mp_gpt shows on every LUN)
#   mp_scsi_unload            rmmod scsi_debug (after the maps are gone)
#   mp_gpt                    4-partition GPT (2 MiB each) on the first sd disk, re-read on all
#   mp_wwids                  "LUN WWID" for every LUN, LUN order (host 0's paths)
#   mp_conf [EXTRA]           /etc/multipath.conf: aliases mp<LUN+1>, find_multipaths no, queueing,
#                             a long uxsock_timeout; EXTRA is a shell function printing more
#                             "multipath { }" blocks' attributes per WWID ("ATTR" lines, see below)
#   mp_register               every WWID in /etc/multipath/wwids
#   mp_rules ref|rs           restart udevd with multipath-tools' rules and one implementation's
#                             kpartx rules: "ref" = Debian's 60-kpartx.rules (/opt/ref/kpartx),
#                             56-dm-parts.rules, 68-del-part-nodes.rules and kpartx_id; "rs" =
#                             this project's installed rules (--overlay), helper and kpartx_id
#   mp_daemon_start / mp_daemon_stop   multipathd -d -s in the background (own session)
#   mp_wait SECS CMD...       run CMD every 0.2 s until it succeeds; status 1 at the time limit
#   mp_parts MAP              the names of MAP's partition maps (MAP-part*), sorted, one line
#   mp_part_ids MAP           "name major:minor table" of MAP's partition maps (stable identity)
#   mp_path_states MAP        "A"/"F" per path in dmsetup status order, e.g. "A A"

MP_CONF=/etc/multipath.conf
MP_LOG=$VT/multipathd.log
SCSI_DEBUG_SYS=/sys/bus/pseudo/drivers/scsi_debug

mp_scsi_load() {
    local mod sdmod n=0
    while read -r mod; do
        case $mod in
            */scsi_debug.ko) sdmod=$mod ;;
            *) insmod "$mod" 2>/dev/null ;;
        esac
    done </etc/vmtest/modules-scsi
    [ -n "$sdmod" ] || die "scsi_debug is not in /etc/vmtest/modules-scsi"
    insmod "$sdmod" add_host=2 num_tgts=1 max_luns="$1" vpd_use_hostno=0 dev_size_mb="$2" ||
        die "insmod scsi_debug failed"
    rm -f "$VT/mp.wwids"
    mp_wait 120 mp_sd_count_is $((2 * $1)) || die "scsi_debug made $(mp_sd_disks | wc -l) sd disks, not $((2 * $1))"
    udev_settle
    while [ "$n" -lt 30 ] && ! [ -b "/dev/$(mp_sd_disks | tail -n 1)" ]; do sleep 0.2; n=$((n + 1)); done
}

mp_scsi_unload() {
    local i=0
    while ! rmmod scsi_debug 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    udev_settle
}

# mp_sd_disks: sd disk names of scsi_debug hosts, in H:C:T:L order ("sda sdb ..." one a line).
mp_sd_disks() {
    local d
    for d in /sys/block/sd*; do
        [ -e "$d/device" ] || continue
        printf '%s %s\n' "$(basename "$(readlink -f "$d/device")")" "${d##*/}"
    done | sort -t: -k1,1n -k2,2n -k3,3n -k4,4n | awk '{ print $2 }'
}
mp_sd_count_is() { [ "$(mp_sd_disks | grep -c .)" -eq "$1" ]; }
# mp_hctl SD: "H:C:T:L" of an sd disk.
mp_hctl() { basename "$(readlink -f "/sys/block/$1/device")"; }

mp_gpt() {
    local sd
    sd=$(mp_sd_disks | head -n 1)
    sgdisk -o -a 2048 -n 1:0:+2M -n 2:0:+2M -n 3:0:+2M -n 4:0:+2M "/dev/$sd" >/dev/null ||
        die "sgdisk on /dev/$sd failed"
    for sd in $(mp_sd_disks); do blockdev --rereadpt "/dev/$sd" 2>/dev/null; done
    udev_settle
}

# WWID of an sd disk as multipath sees it (udev's scsi_id, the ID_SERIAL of 60-persistent-storage).
mp_wwid_of() { /usr/lib/udev/scsi_id -g -u -d "/dev/$1"; }

# (computed once per scsi_debug load: scsi_id for every disk is slow under emulation)
mp_wwids() {
    [ -s "$VT/mp.wwids" ] || mp_wwids_scan >"$VT/mp.wwids"
    cat "$VT/mp.wwids"
}
mp_wwids_scan() {
    local sd h l first=
    for sd in $(mp_sd_disks); do
        h=$(mp_hctl "$sd")
        [ -n "$first" ] || first=${h%%:*}
        [ "${h%%:*}" = "$first" ] || continue
        l=${h##*:}
        printf '%s %s\n' "$l" "$(mp_wwid_of "$sd")"
    done
}

# mp_conf [FN]: FN WWID ALIAS prints extra attribute lines for that WWID's multipath section.
mp_conf() {
    local l w extra=${1:-}
    mkdir -p /etc/multipath /etc/systemd/system/sysinit.target.wants
    # 0.9.4's `multipath -u` claims paths only if multipathd runs or is enabled.
    : >/etc/systemd/system/sysinit.target.wants/multipathd.service
    {
        cat <<'EOT'
defaults {
    user_friendly_names no
    find_multipaths no
    polling_interval 1
    no_path_retry queue
    path_checker tur
    path_grouping_policy multibus
    uxsock_timeout 120000
}
blacklist {
    devnode "^(ram|loop|zram|sr)[0-9]*"
}
multipaths {
EOT
        mp_wwids | while read -r l w; do
            printf '    multipath {\n        wwid %s\n        alias %s\n' "$w" "$(mp_alias_of "$l")"
            [ -z "$extra" ] || "$extra" "$w" "$(mp_alias_of "$l")" | sed 's/^/        /'
            printf '    }\n'
        done
        echo "}"
    } >"$MP_CONF.tmp"
    mv "$MP_CONF.tmp" "$MP_CONF"
}
# mp_alias_of LUN: default alias of a LUN (mp1 for LUN 0); MP_ALIAS_<LUN> overrides it.
mp_alias_of() {
    local v
    eval "v=\${MP_ALIAS_$1:-}"
    echo "${v:-mp$(($1 + 1))}"
}

mp_register() {
    local l w
    mkdir -p /etc/multipath
    {
        echo "# vmtest"
        mp_wwids | while read -r l w; do echo "/$w/"; done
    } >/etc/multipath/wwids
}

mp_rules() {
    local r ours="56-kpartx-parts.rules 66-kpartx.rules 68-del-part-nodes.rules"
    [ -x /usr/sbin/kpartx ] && [ -e /usr/lib/udev/rules.d/66-kpartx.rules ] ||
        die "the packaged kpartx is not installed in the VM (run with --overlay)"
    [ -e "$VT/kpartx_id.ours" ] || cp /usr/lib/udev/kpartx_id "$VT/kpartx_id.ours"
    udev_start --hotplug >/dev/null || die "udevd did not start"
    cp "$VT/kpartx_id.ours" /usr/lib/udev/kpartx_id
    if [ "$1" = ref ]; then
        for r in $ours; do ln -sf /dev/null "/etc/udev/rules.d/$r"; done
        # Debian's 68-del-part-nodes.rules replaces ours (same name): not through the mask link
        rm -f /etc/udev/rules.d/68-del-part-nodes.rules
        sed 's|"[^"]*/sbin/kpartx |"/opt/ref/kpartx |' /opt/ref/udev/rules.d/60-kpartx.rules \
            >/etc/udev/rules.d/60-kpartx.rules
        cp /opt/ref/udev/rules.d/56-dm-parts.rules /opt/ref/udev/rules.d/68-del-part-nodes.rules \
            /etc/udev/rules.d/
        cp /opt/ref/udev/kpartx_id /usr/lib/udev/kpartx_id
    fi
    cp /opt/mpath/udev/rules.d/*.rules /etc/udev/rules.d/
    udevadm control --reload
    # Let multipath -u see every path again with these rules.
    udevadm trigger --action=change --subsystem-match=block --sysname-match='sd*'
    udev_settle
}

mp_daemon_running() { [ -n "${MP_PID:-}" ] && is_alive "$MP_PID"; }
mp_daemon_start() {
    setsid /usr/sbin/multipathd -d -s >>"$MP_LOG" 2>&1 &
    MP_PID=$!
    echo "$MP_PID" >"$VT_RUN/multipathd.pid"
    mp_wait 30 mp_daemon_answers || { tail -n 20 "$MP_LOG" >&2; die "multipathd does not answer"; }
}
mp_daemon_answers() { /usr/sbin/multipathd show daemon >/dev/null 2>&1; }
mp_daemon_stop() {
    local i=0
    [ -n "${MP_PID:-}" ] || MP_PID=$(cat "$VT_RUN/multipathd.pid" 2>/dev/null)
    [ -n "${MP_PID:-}" ] || return 0
    /usr/sbin/multipathd shutdown >/dev/null 2>&1 || kill "$MP_PID" 2>/dev/null
    while is_alive "$MP_PID" && [ "$i" -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
    is_alive "$MP_PID" && kill -9 "$MP_PID" 2>/dev/null
    rm -f "$VT_RUN/multipathd.pid"
    MP_PID=
}

mp_wait() {
    local deadline
    deadline=$(($(now_cs) + $1 * 100))
    shift
    while ! "$@"; do
        [ "$(now_cs)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
    return 0
}

mp_parts() { dm_names | grep "^$1-part" | sort | tr '\n' ' ' | sed 's/ $//'; }
mp_part_ids() {
    local n
    for n in $(dm_names | grep "^$1-part" | sort); do
        printf '%s %s:%s %s\n' "$n" "$(map_field "$n" major)" "$(map_field "$n" minor)" "$(map_table "$n")"
    done
}
# mp_path_states MAP: the state letter after every path device in the status line.
mp_path_states() {
    dmsetup status "$1" 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i ~ /^[0-9]+:[0-9]+$/ && $(i + 1) ~ /^[AF]$/) printf "%s%s", (n++ ? " " : ""), $(i + 1) } END { print "" }'
}
# mp_path_devs MAP: the sd names of MAP's paths (sysfs slaves).
mp_path_devs() {
    local dm
    dm=$(hp_dm_kernel "$1")
    ls "/sys/block/$dm/slaves" 2>/dev/null | sort
}
hp_dm_kernel() { basename "$(readlink -f "/dev/mapper/$1")"; }
mp_states_are() { [ "$(mp_path_states "$1")" = "$2" ]; }
mp_all_maps() { dm_list | awk -F'|' '$2 ~ /^mpath-/ { print $1 }'; }
# mp_count_parts: partition maps over multipath maps (UUID part<N>-mpath-...).
mp_count_parts() { dm_list | awk -F'|' '$2 ~ /^part[0-9]+-mpath-/' | grep -c .; }
mp_count_maps() { mp_all_maps | grep -c .; }
mp_counts_are() { [ "$(mp_count_maps)" -eq "$1" ] && [ "$(mp_count_parts)" -eq "$2" ]; }
