#!/bin/bash
# dracut module of kpartx-rs: puts kpartx, its udev rules, kpartx_id and the policy
# (/etc/kpartx/kpartx.toml, /etc/kpartx/kpartx.d/*.toml) into the initramfs, so that the
# partition maps of a multipath map (root=/dev/mapper/mpatha-part2) appear there as on the
# running system.
#
# dracut's own multipath module installs the kpartx binary and the rules under upstream
# multipath-tools' names (11-dm-mpath, 62-multipath, 66-kpartx, ...), skipping those the
# system lacks. 66-kpartx.rules is this package's helper rule (installed here too, to the same
# path, so it is in the image once); 56-kpartx-parts.rules, 68-del-part-nodes.rules and the
# policy only this module installs. Debian names multipath-tools' rules differently
# (56-dm-mpath.rules, 60-multipath.rules, 99-z-dm-mpath-late.rules): there dracut's module
# finds none of its names, no rule in the image claims the paths (DM_MULTIPATH_DEVICE_PATH)
# and 68-del-part-nodes.rules could not remove the paths' kernel partitions. So when the
# multipath module is in the image and the system has a rule under Debian's name but not
# under upstream's, this module installs it under the system's name: each rule is in the
# image once, whichever module runs first.
#
# Included: in a host-only image when the root (or another device the host needs to mount)
# sits on a multipath map or a kpartx partition map, or when the admin has policy drop-ins
# in /etc/kpartx/kpartx.d/; in a generic image whenever multipath is installed; always with
# `dracut --add kpartx-rs`. The KPARTX, KPARTX_UDEV and KPARTX_POLICY lines are rewritten by
# `make install`. After changing the policy, rebuild the image (`dracut -f`).

KPARTX=/usr/sbin/kpartx
KPARTX_UDEV=/usr/lib/udev
KPARTX_POLICY=/etc/kpartx

# A device-mapper device whose partitions kpartx maps (multipath) or a partition map itself.
kpartx_is_dev() {
    local uuid
    [ -r /sys/dev/block/"$1"/dm/uuid ] || return 1
    uuid=$(cat /sys/dev/block/"$1"/dm/uuid)
    [[ $uuid == mpath-* || $uuid =~ ^part[0-9]+- ]]
}

kpartx_has_dropins() {
    local f
    for f in "$KPARTX_POLICY"/kpartx.d/*.toml; do
        [ -f "$f" ] && return 0
    done
    return 1
}

# kpartx_has_rule NAME: the system has udev rule NAME where dracut's inst_rules looks.
# shellcheck disable=SC2154  # udevdir and dracutsysrootdir are dracut's
kpartx_has_rule() {
    local d
    for d in "${dracutsysrootdir-}$udevdir/rules.d" "${dracutsysrootdir-}/etc/udev/rules.d"; do
        [ -e "$d/$1" ] && return 0
    done
    return 1
}

# The system's multipath rules that dracut's multipath module misses: "system name:upstream
# name" (the late rule restores what the dm-mpath rule saved; upstream's set has it under
# the same name, which dracut's module does not install either).
kpartx_mpath_rules() {
    local pair
    dracut_module_included multipath || return 0
    for pair in 56-dm-mpath.rules:11-dm-mpath.rules 60-multipath.rules:62-multipath.rules \
        99-z-dm-mpath-late.rules:11-dm-mpath.rules; do
        kpartx_has_rule "${pair%%:*}" || continue
        kpartx_has_rule "${pair#*:}" && continue
        inst_rules "${pair%%:*}"
    done
}

# called by dracut
check() {
    [ -x "$KPARTX" ] || return 1
    if [[ $hostonly ]] || [[ $mount_needs ]]; then
        for_each_host_dev_and_slaves kpartx_is_dev && return 0
        kpartx_has_dropins && return 0
        return 255
    fi
    find_binary multipath >/dev/null 2>&1 && return 0
    kpartx_has_dropins && return 0
    return 255
}

# called by dracut
depends() {
    echo dm
    return 0
}

# called by dracut
install() {
    local f
    inst_binary "$KPARTX" "$KPARTX"
    inst_rules 56-kpartx-parts.rules 66-kpartx.rules 68-del-part-nodes.rules
    kpartx_mpath_rules
    [ -e "$KPARTX_UDEV/kpartx_id" ] && inst_simple "$KPARTX_UDEV/kpartx_id" "$KPARTX_UDEV/kpartx_id"
    # The helper reads its policy from /etc/kpartx wherever the package keeps it.
    [ -f "$KPARTX_POLICY/kpartx.toml" ] && inst_simple "$KPARTX_POLICY/kpartx.toml" /etc/kpartx/kpartx.toml
    for f in "$KPARTX_POLICY"/kpartx.d/*.toml; do
        [ -f "$f" ] && inst_simple "$f" "/etc/kpartx/kpartx.d/${f##*/}"
    done
    if ! "$KPARTX" --check-config >/dev/null 2>&1; then
        dwarn "kpartx: the policy in $KPARTX_POLICY does not pass 'kpartx --check-config'; the initramfs helper will use the built-in defaults"
    fi
    return 0
}
