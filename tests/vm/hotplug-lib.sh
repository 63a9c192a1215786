# shellcheck shell=dash
# tests/vm/hotplug-lib.sh — helpers for the hotplug scenarios (sourced after lib.sh). These run
# with udevd and this project's installed rules (66-kpartx.rules, 56-kpartx-parts.rules), policy
# (/etc/kpartx) and binary (/usr/sbin/kpartx), as `make install` lays them out; nobody calls
# kpartx by hand unless a scenario says so.

HP_DROPIN=/etc/kpartx/kpartx.d

# hp_begin: start udevd with the kpartx rules active and no policy drop-ins.
hp_begin() {
    [ -x /usr/sbin/kpartx ] && [ -e /usr/lib/udev/rules.d/66-kpartx.rules ] ||
        die "the packaged kpartx is not installed in the VM (run with --overlay)"
    rm -f "$HP_DROPIN"/*.toml
    udev_start --hotplug
}

# hp_end: remove drop-ins and stop udevd (later scenarios start it as they need it).
hp_end() {
    rm -f "$HP_DROPIN"/*.toml
    udev_settle
    udev_stop
}

# hp_policy NAME TEXT: install a policy drop-in.
hp_policy() {
    mkdir -p "$HP_DROPIN"
    printf '%s\n' "$2" >"$HP_DROPIN/$1.toml"
    chmod 0644 "$HP_DROPIN/$1.toml"
}

# hp_mpath NAME WWID LOOP: a multipath map over one loop device (no multipathd needed).
hp_mpath() {
    local sectors
    sectors=$(blockdev --getsz "$3")
    dmsetup create "$1" -u "mpath-$2" \
        --table "0 $sectors multipath 0 0 1 1 round-robin 0 1 1 $(devno "$3") 1000" ||
        die "dmsetup create $1 failed"
}

# hp_change NAME: a "change" uevent for the DM map NAME, then wait for udev.
hp_change() {
    local dm
    dm=$(basename "$(readlink -f "/dev/mapper/$1")")
    udevadm trigger --action=change "/sys/block/$dm"
    udev_settle
}

# hp_count_runs [--stop]: from now on, record every helper run that udev starts (its ACTION and
# DM_NAME, else its kernel name) in $VT/helper-runs, by putting a recording wrapper in place of
# /usr/sbin/kpartx; --stop puts the binary back.
hp_count_runs() {
    if [ "${1:-}" = --stop ]; then
        mv /usr/sbin/kpartx.real /usr/sbin/kpartx
        return
    fi
    : >"$VT/helper-runs"
    mv /usr/sbin/kpartx /usr/sbin/kpartx.real
    cat >/usr/sbin/kpartx <<EOF
#!/bin/sh
echo "\$ACTION \${DM_NAME:-\${DEVNAME##*/}}" >>"$VT/helper-runs"
exec /usr/sbin/kpartx.real "\$@"
EOF
    chmod 0755 /usr/sbin/kpartx
}

# hp_runs ACTION: the recorded helper runs for ACTION events, sorted, on one line.
hp_runs() { grep "^$1 " "$VT/helper-runs" | sort | tr '\n' ' ' | sed 's/ $//'; }

# hp_dm_kernel NAME: the dm-N kernel name of map NAME.
hp_dm_kernel() { basename "$(readlink -f "/dev/mapper/$1")"; }

# hp_maps PREFIX: the sorted names of maps starting with PREFIX.
hp_maps() { dm_names | grep "^$1" | sort | tr '\n' ' ' | sed 's/ $//'; }

# hp_wait_maps PREFIX COUNT: wait (bounded, 60 s) until COUNT maps start with PREFIX.
hp_wait_maps() {
    local i=0
    while [ "$(dm_names | grep -c "^$1")" -ne "$2" ] && [ "$i" -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
}
