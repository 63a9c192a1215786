#!/bin/bash
# tests/vm/san-boot.sh — boot a Debian root file system from a partition of a two-path
# multipath map ("boot from SAN"), through an initramfs built by Debian's own tools, once with
# this project's package and once with Debian's kpartx (the reference).
#
#   tests/vm/san-boot.sh [--deb PATH] [--work DIR] [--impl both|rs|ref] [--fresh-base]
#                        [--timeout SEC] [--run-autopkgtest] [--rules-only] [--reps N]
#
# For each implementation:
#   1. a Debian root (mmdebstrap, the host's apt sources, no other network): the cloud kernel,
#      initramfs-tools, multipath-tools, multipath-tools-boot, udev and Debian's kpartx; made
#      once and reused (--fresh-base makes it again);
#   2. a copy of it, configured for multipath (multipath.conf with user_friendly_names, the
#      map's WWID in wwids and bindings so it is called mpatha) and given /usr/local/sbin/
#      san-init; for "rs" the project's .deb is installed with dpkg -i over Debian's kpartx
#      (Conflicts/Replaces: kpartx, as an admin would swap it);
#   3. update-initramfs -u inside the root (chroot); lsinitramfs must list the binary, the
#      rules, kpartx_id and (rs) the policy, and the binary in the image must be the package's;
#   4. the root on partition 2 of a GPT disk image; QEMU (TCG, 2 vCPUs) boots the root's own
#      kernel and initrd with the image attached twice, as two scsi-hd disks on one
#      virtio-scsi-pci controller with the same serial and WWN (two paths to one LUN), and
#      root=/dev/mapper/mpatha-part2 init=/usr/local/sbin/san-init;
#   5. san-init (PID 1 on the real root; a full systemd boot is too slow under TCG) checks that
#      / is mounted from the partition map (DM name mpatha-part2, DM UUID part2-mpath-<wwid>)
#      on the multipath map, that `multipath -ll` shows two active paths, prints the result
#      and powers off. With --run-autopkgtest the "rs" boot also runs debian/tests/map-unmap
#      there (udevd started), since the host kernel has no device-mapper.
#   --reps N boots each image N times (timings: medians).
#   --rules-only adds a second root of each implementation ("rs-rules", "ref-rules") whose
#   initramfs has multipath-tools-boot's local-top script without its `kpartx -a -p -part`
#   call, so that only the udev rules copied into the initramfs can make the root's map.
#
# Prints per implementation: the initramfs build time, the lsinitramfs findings, the boot time
# (QEMU start to power-off, and the guest's uptime when san-init started, i.e. kernel and
# initramfs until the root was mounted) and the result; ends with "san-boot: N passed,
# N failed". Too slow for CI (about 3-6 minutes in all, the first run a minute more for the
# base root); run it by hand after changing the packaging or the rules.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)

DEB=
WORK=$HERE/cache/san-boot
IMPLS="ref rs"
FRESH=0
TIMEOUT=600
AUTOPKGTEST=0
RULES_ONLY=0
REPS=1
while [ $# -gt 0 ]; do
    case $1 in
        --deb) DEB=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --impl) case $2 in both) IMPLS="ref rs" ;; rs|ref) IMPLS=$2 ;; *) echo "--impl both|rs|ref" >&2; exit 2 ;; esac; shift 2 ;;
        --fresh-base) FRESH=1; shift ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --run-autopkgtest) AUTOPKGTEST=1; shift ;;
        --rules-only) RULES_ONLY=1; shift ;;
        --reps) REPS=$2; shift 2 ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
if [ "$RULES_ONLY" = 1 ]; then
    v=
    for i in $IMPLS; do v="$v $i $i-rules"; done
    IMPLS=${v# }
fi

log() { printf 'san-boot: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (mmdebstrap, chroot, mounts)"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# --- host tools ----------------------------------------------------------------------------------
need=()
for pair in mmdebstrap:mmdebstrap qemu-system-x86_64:qemu-system-x86 mkfs.ext4:e2fsprogs \
    sfdisk:fdisk zstd:zstd cpio:cpio; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [[ " $IMPLS " == *" rs"[\ -]* ]]; then
    if [ -z "$DEB" ]; then
        DEB=$(find "$TOP/target/packages" -maxdepth 1 -name 'kpartx-rs_*.deb' 2>/dev/null | sort | tail -n 1)
    fi
    if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then die "no kpartx-rs .deb (make deb, or --deb PATH)"; fi
    DEB=$(realpath "$DEB")
fi

mkdir -p "$WORK"
WORK=$(realpath "$WORK")

# --- chroot with the API file systems ------------------------------------------------------------
MOUNTED=()
umount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTED[i]}" 2>/dev/null || :; done
    MOUNTED=()
}
trap umount_all EXIT
in_root() { # in_root ROOT COMMAND...: run COMMAND chrooted, /proc /sys /dev /run mounted
    local r=$1 rc=0
    shift
    mount -t proc proc "$r/proc" && MOUNTED+=("$r/proc")
    mount -t sysfs sysfs "$r/sys" && MOUNTED+=("$r/sys")
    mount --bind /dev "$r/dev" && MOUNTED+=("$r/dev")
    mount -t tmpfs tmpfs "$r/run" && MOUNTED+=("$r/run")
    chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
    umount_all
    return "$rc"
}

# --- 1. the base root ----------------------------------------------------------------------------
PKGS=linux-image-cloud-amd64,initramfs-tools,multipath-tools,multipath-tools-boot,kpartx,udev,dmsetup,kmod,e2fsprogs,zstd,fdisk,gdisk
BASE=$WORK/base
if [ "$FRESH" = 1 ] || [ ! -e "$BASE/.san-base" ] || [ "$(cat "$BASE/.san-base")" != "$PKGS" ]; then
    rm -rf "$BASE"
    sources=()
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -s "$f" ] && sources+=("$f")
    done
    [ ${#sources[@]} -gt 0 ] || die "no apt sources on the host"
    log "mmdebstrap of bookworm (minbase + $PKGS) from ${sources[*]}"
    t0=$SECONDS
    mmdebstrap --quiet --variant=minbase --include="$PKGS" bookworm "$BASE" "${sources[@]}" \
        >"$WORK/mmdebstrap.log" 2>&1 || { tail -n 30 "$WORK/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
    printf '%s\n' "$PKGS" >"$BASE/.san-base"
    log "base root made in $((SECONDS - t0)) s"
fi

# The LUN both paths show (the map's WWID is the NAA WWN with multipath's type prefix 3).
SERIAL=SANBOOT0001
WWN=0x5000c50015ea71ac
WWID=35000c50015ea71ac

# --- 2. san-init: PID 1 on the real root -------------------------------------------------------------
write_init() { # write_init ROOT IMPL
    cat >"$1/usr/local/sbin/san-init" <<'INIT'
#!/bin/sh
# PID 1 of the san-boot VM: the initramfs has mounted / from the partition map; check it,
# print the findings between markers and power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
read -r up _ </proc/uptime
echo "SAN-BOOT: init-start uptime=$up"
IMPL=@IMPL@
fails=0
check() { # check WHAT COMMAND...
    what=$1
    shift
    if "$@"; then echo "SAN-BOOT: ok $what"; else echo "SAN-BOOT: FAIL $what"; fails=$((fails + 1)); fi
}
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
mountpoint -q /run || mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
majmin=$(mountpoint -d /)
d=/sys/dev/block/$majmin
name=$(cat "$d/dm/name" 2>/dev/null || echo none)
uuid=$(cat "$d/dm/uuid" 2>/dev/null || echo none)
parent=$(ls "$d/slaves" 2>/dev/null | head -n 1)
puuid=$(cat "/sys/block/$parent/dm/uuid" 2>/dev/null || echo none)
pname=$(cat "/sys/block/$parent/dm/name" 2>/dev/null || echo none)
echo "SAN-BOOT: root $(awk '$2 == "/" { print $1, $3, $4 }' /proc/mounts | tail -n 1) dev=$majmin"
echo "SAN-BOOT: root map name=$name uuid=$uuid parent=$parent ($pname, $puuid)"
echo "SAN-BOOT: kpartx package: $(dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' kpartx kpartx-rs 2>/dev/null | grep ' ii' | tr -s ' ')"
# What the initramfs's udev rules recorded for the root's partition map (the udev database
# and /dev came along from the initramfs).
echo "SAN-BOOT: udev properties of the root map: $(udevadm info -q property "/dev/block/$majmin" 2>/dev/null | grep -E '^(DM_PART|DM_MPATH|DM_WWN|DM_SERIAL|DM_TYPE)=' | tr '\n' ' ')"
echo "SAN-BOOT: by-id links of the root map: $(for l in /dev/disk/by-id/*; do [ "$(readlink -f "$l")" = "$(readlink -f "/dev/block/$majmin")" ] && printf '%s ' "${l##*/}"; done)"
check "root-is-mpatha-part2" [ "$name" = mpatha-part2 ]
check "root-uuid-part2-of-the-multipath-map" [ "$uuid" = "part2-$puuid" ]
check "parent-is-a-multipath-map" [ "${puuid#mpath-}" != "$puuid" ]
echo "SAN-BOOT: multipath -ll begin"
multipath -ll 2>&1 | sed 's/^/SAN-BOOT: | /'
echo "SAN-BOOT: multipath -ll end"
paths=$(multipath -ll 2>/dev/null | grep -Ec '[0-9]+:[0-9]+:[0-9]+:[0-9]+ +sd[a-z]+ .*active ready')
check "two-active-paths (found $paths)" [ "$paths" = 2 ]
if [ "$IMPL" = rs ]; then
    # 56-kpartx-parts.rules ran in the initramfs: kpartx --udev-id's properties and link.
    check "by-id-link-wwn-part2-from-56-kpartx-parts.rules" [ -L /dev/disk/by-id/wwn-@WWN@-part2 ]
fi
echo "SAN-BOOT: dmsetup table begin"
dmsetup table 2>&1 | sed 's/^/SAN-BOOT: | /'
echo "SAN-BOOT: dmsetup table end"
echo "SAN-BOOT: kernel partitions of the paths: $(ls -d /sys/block/sd*/sd* 2>/dev/null | sed 's|.*/||' | tr '\n' ' ')"
if [ -x /usr/local/share/san-boot/map-unmap ] && grep -qw san.autopkgtest=1 /proc/cmdline; then
    /usr/lib/systemd/systemd-udevd >/tmp/udevd.log 2>&1 &
    sleep 2
    echo "SAN-BOOT: autopkgtest map-unmap begin"
    if AUTOPKGTEST_TMP=/tmp sh /usr/local/share/san-boot/map-unmap 2>&1 | sed 's/^/SAN-BOOT: | /'; then :; fi
    echo "SAN-BOOT: autopkgtest map-unmap end"
fi
read -r up _ </proc/uptime
echo "SAN-BOOT: init-end uptime=$up"
if [ "$fails" -eq 0 ]; then echo "SAN-BOOT: RESULT pass"; else echo "SAN-BOOT: RESULT fail ($fails)"; fi
sync
echo o >/proc/sysrq-trigger
sleep 10
INIT
    sed -i -e "s/@IMPL@/$2/" -e "s/@WWN@/$WWN/" "$1/usr/local/sbin/san-init"
    chmod 0755 "$1/usr/local/sbin/san-init"
}

# --- per implementation --------------------------------------------------------------------------
declare -A T_INITRD T_BOOT T_UPTIME RESULT
for impl in $IMPLS; do
    kind=${impl%-rules}
    R=$WORK/root-$impl
    log "[$impl] root copy"
    rm -rf "$R"
    cp -a "$BASE" "$R"

    # Multipath: every SCSI disk is a path (find_multipaths off), the map is mpatha.
    cat >"$R/etc/multipath.conf" <<EOF
defaults {
    user_friendly_names yes
    find_multipaths off
    path_checker tur
}
blacklist {
    devnode "^(ram|loop|zram|sr|fd|vd)[0-9]*"
}
EOF
    mkdir -p "$R/etc/multipath"
    printf '# Multipath bindings, Version : 1.0\nmpatha %s\n' "$WWID" >"$R/etc/multipath/bindings"
    printf '# Multipath wwids, Version : 1.0\n/%s/\n' "$WWID" >"$R/etc/multipath/wwids"
    echo san-boot >"$R/etc/hostname"
    printf '/dev/mapper/mpatha-part2 / ext4 ro 0 1\n' >"$R/etc/fstab"
    mkdir -p "$R/usr/local/sbin"
    write_init "$R" "$kind"

    if [ "$impl" != "$kind" ]; then
        # Rules only: multipath-tools-boot's local-top script also runs `kpartx -a -p -part`
        # on every multipath map after creating them; without it only the udev rules copied
        # into the initramfs can make the root's partition map.
        f=$R/usr/share/initramfs-tools/scripts/local-top/multipath
        sed -i 's|^\([[:space:]]*\)/sbin/dmsetup ls --target multipath --exec.*|\1: # san-boot --rules-only: no kpartx here|' "$f"
        if grep -q 'san-boot --rules-only' "$f" && ! grep -q 'exec.*kpartx' "$f"; then
            ok "[$impl] local-top/multipath no longer runs kpartx (udev rules only)"
        else
            bad "[$impl] could not take kpartx out of local-top/multipath"
        fi
    fi

    if [ "$kind" = rs ]; then
        cp "$DEB" "$R/tmp/kpartx-rs.deb"
        log "[$impl] dpkg -i ${DEB##*/} (replaces kpartx)"
        in_root "$R" dpkg -i /tmp/kpartx-rs.deb >"$WORK/dpkg-rs.log" 2>&1 ||
            { cat "$WORK/dpkg-rs.log" >&2; die "dpkg -i kpartx-rs failed"; }
        rm -f "$R/tmp/kpartx-rs.deb"
        # shellcheck disable=SC2016  # dpkg-query's own ${...} format
        if in_root "$R" dpkg-query -W -f='${Status}\n' kpartx 2>/dev/null | grep -q '^install ok installed'; then
            bad "[$impl] Debian's kpartx still installed after dpkg -i kpartx-rs"
        else
            ok "[$impl] kpartx-rs replaced Debian's kpartx (multipath-tools' dependency satisfied)"
        fi
        if grep -q 'update-initramfs' "$WORK/dpkg-rs.log"; then
            ok "[$impl] dpkg -i ran the update-initramfs trigger"
        else
            bad "[$impl] dpkg -i did not trigger update-initramfs"
        fi
        if [ "$AUTOPKGTEST" = 1 ] && [ "$impl" = rs ]; then
            mkdir -p "$R/usr/local/share/san-boot"
            install -m 0755 "$TOP/debian/tests/map-unmap" "$R/usr/local/share/san-boot/map-unmap"
        fi
    fi

    # 3. The initramfs, by Debian's tools inside the root.
    kver=$(basename "$(find "$R/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
    t0=$SECONDS
    in_root "$R" update-initramfs -u -k "$kver" >"$WORK/update-initramfs-$impl.log" 2>&1 ||
        { cat "$WORK/update-initramfs-$impl.log" >&2; die "[$impl] update-initramfs failed"; }
    T_INITRD[$impl]=$((SECONDS - t0))
    INITRD=$R/boot/initrd.img-$kver
    KERNEL=$R/boot/vmlinuz-$kver
    grep -E '^(W|E):' "$WORK/update-initramfs-$impl.log" | sed "s/^/    [$impl] update-initramfs: /" || :
    in_root "$R" lsinitramfs "/boot/initrd.img-$kver" >"$WORK/lsinitramfs-$impl.txt"
    listed() { grep -Eq "^(usr/)?$1\$" "$WORK/lsinitramfs-$impl.txt"; }
    if [ "$kind" = rs ]; then
        files=(sbin/kpartx lib/udev/rules.d/66-kpartx.rules lib/udev/rules.d/56-kpartx-parts.rules
            lib/udev/rules.d/68-del-part-nodes.rules lib/udev/kpartx_id etc/kpartx/kpartx.toml
            etc/multipath.conf sbin/multipath lib/udev/rules.d/60-multipath.rules)
        if listed 'lib/udev/rules.d/60-kpartx\.rules'; then
            bad "[$impl] lsinitramfs: a 60-kpartx.rules is in the image (the helper rule would run twice)"
        else
            ok "[$impl] lsinitramfs: no 60-kpartx.rules (only this package's 66-kpartx.rules runs the helper)"
        fi
    else
        files=(sbin/kpartx lib/udev/rules.d/60-kpartx.rules lib/udev/kpartx_id etc/multipath.conf
            sbin/multipath lib/udev/rules.d/60-multipath.rules)
    fi
    for f in "${files[@]}"; do
        if listed "${f//./\\.}"; then ok "[$impl] lsinitramfs lists $f"; else bad "[$impl] lsinitramfs lacks $f"; fi
    done
    # The binary in the image is the installed one.
    X=$WORK/unpacked-$impl
    rm -rf "$X"
    mkdir -p "$X"
    in_root "$R" unmkinitramfs "/boot/initrd.img-$kver" /tmp/unpacked >/dev/null 2>&1 && mv "$R/tmp/unpacked" "$X/img"
    inner=$X/img/main
    [ -d "$inner" ] || inner=$X/img
    if cmp -s "$inner/usr/sbin/kpartx" "$R/usr/sbin/kpartx"; then
        ok "[$impl] the initramfs's kpartx is the root's /usr/sbin/kpartx"
    else
        bad "[$impl] the initramfs's kpartx differs from the root's"
    fi
    if [ "$kind" = rs ]; then
        if cmp -s "$inner/etc/kpartx/kpartx.toml" "$R/etc/kpartx/kpartx.toml"; then
            ok "[$impl] the initramfs's policy is /etc/kpartx/kpartx.toml"
        else
            bad "[$impl] the initramfs's policy differs from /etc/kpartx/kpartx.toml"
        fi
        if grep -q 'RUN+="/usr/sbin/kpartx --udev"' "$inner/usr/lib/udev/rules.d/66-kpartx.rules"; then
            ok "[$impl] the initramfs's 66-kpartx.rules runs /usr/sbin/kpartx --udev"
        else
            bad "[$impl] the initramfs's 66-kpartx.rules does not run the helper"
        fi
    fi
    rm -rf "$X"
    log "[$impl] initramfs: $(du -h "$INITRD" | cut -f1), ${T_INITRD[$impl]} s"

    # 4. The disk: GPT, partition 1 (8 MiB, unused), partition 2 the root file system.
    DISK=$WORK/disk-$impl.img
    PART=$WORK/part2-$impl.img
    used_mb=$(du -sm "$R" | cut -f1)
    size_mb=$((used_mb * 13 / 10 + 128))
    rm -f "$DISK" "$PART"
    mkfs.ext4 -q -F -L sanroot -d "$R" "$PART" "${size_mb}M"
    truncate -s $((size_mb + 16))M "$DISK"
    printf 'label: gpt\nstart=2048, size=16384, type=21686148-6449-6E6F-744E-656564454649, name="spare"\nstart=18432, size=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\n' \
        $((size_mb * 2048)) | sfdisk --quiet "$DISK"
    dd if="$PART" of="$DISK" bs=1M seek=9 conv=notrunc,sparse status=none
    rm -f "$PART"

    # 5. Boot: the same image twice, same serial and WWN: two paths to one LUN. REPS times
    # (the root is mounted read-only, so every boot sees the same disk).
    RESULT[$impl]=pass
    T_BOOT[$impl]=
    T_UPTIME[$impl]=
    for ((rep = 1; rep <= REPS; rep++)); do
        BOOTLOG=$WORK/boot-$impl-$rep.log
        extra=
        if [ "$impl" = rs ] && [ "$AUTOPKGTEST" = 1 ] && [ "$rep" = 1 ]; then extra=" san.autopkgtest=1"; fi
        log "[$impl] boot $rep/$REPS (QEMU TCG, -smp 2, two paths)"
        t0=$(date +%s.%N)
        timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -smp 2 -m 1024 -nographic -no-reboot \
            -kernel "$KERNEL" -initrd "$INITRD" \
            -append "root=/dev/mapper/mpatha-part2 ro console=ttyS0 init=/usr/local/sbin/san-init panic=-1$extra" \
            -device virtio-scsi-pci,id=scsi0 \
            -drive "if=none,id=path0,file=$DISK,format=raw,file.locking=off" \
            -device "scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=path0,serial=$SERIAL,wwn=$WWN" \
            -drive "if=none,id=path1,file=$DISK,format=raw,file.locking=off" \
            -device "scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=path1,serial=$SERIAL,wwn=$WWN" \
            </dev/null >"$BOOTLOG" 2>&1 || :
        tb=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        tr -d '\r' <"$BOOTLOG" >"$BOOTLOG.tmp" && mv "$BOOTLOG.tmp" "$BOOTLOG"
        tu=$(sed -n 's/^SAN-BOOT: init-start uptime=//p' "$BOOTLOG" | tail -n 1)
        T_BOOT[$impl]+="${T_BOOT[$impl]:+ }$tb"
        T_UPTIME[$impl]+="${T_UPTIME[$impl]:+ }${tu:-none}"
        if [ "$rep" = 1 ]; then grep '^SAN-BOOT: ' "$BOOTLOG" | sed "s/^SAN-BOOT: /    [$impl] /"; fi
        if grep -q '^SAN-BOOT: RESULT pass' "$BOOTLOG"; then
            ok "[$impl] boot $rep: / mounted from /dev/mapper/mpatha-part2 on a two-path multipath map (san-init at ${tu} s uptime, $tb s in all)"
        else
            RESULT[$impl]=fail
            bad "[$impl] boot $rep from mpatha-part2 (log: $BOOTLOG)"
            grep -v '^SAN-BOOT: ' "$BOOTLOG" | tail -n 25 | sed "s/^/    [$impl] console: /"
        fi
        if [ -n "$extra" ]; then
            if grep -q '^SAN-BOOT: | map-unmap: 0 failed' "$BOOTLOG"; then
                ok "[$impl] autopkgtest map-unmap passed in the VM"
            else
                bad "[$impl] autopkgtest map-unmap in the VM"
            fi
        fi
    done
    rm -f "$DISK"
done

median() { tr ' ' '\n' | grep -v none | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "none" }'; }
echo
echo "Times in seconds; medians of $REPS boots, every boot's value in brackets. 'san-init' is the"
echo "guest's uptime when the root's init started (kernel + initramfs + root map + mount);"
echo "'boot' is QEMU's start to power-off on the host (the rs boot 1 also ran map-unmap if asked)."
printf '%-9s %-10s %-28s %-28s %s\n' impl initramfs san-init boot result
for impl in $IMPLS; do
    printf '%-9s %-10s %-28s %-28s %s\n' "$impl" "${T_INITRD[$impl]}" \
        "$(median <<<"${T_UPTIME[$impl]}") [${T_UPTIME[$impl]}]" "$(median <<<"${T_BOOT[$impl]}") [${T_BOOT[$impl]}]" \
        "${RESULT[$impl]}"
done
echo "san-boot: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
