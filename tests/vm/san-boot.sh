#!/bin/bash
# tests/vm/san-boot.sh — boot a Debian root file system from a partition of a two-path
# multipath map ("boot from SAN"), through an initramfs built by Debian's own tools
# (initramfs-tools or dracut), once with this project's package and once with Debian's kpartx
# (the reference).
#
#   tests/vm/san-boot.sh [--stack 12|13] [--builder initramfs-tools|dracut]
#                        [--dracut hostonly|generic] [--deb PATH] [--work DIR]
#                        [--impl both|rs|ref] [--fresh-base] [--base-only] [--timeout SEC]
#                        [--run-autopkgtest] [--rules-only] [--reps N] [--luns N]
#                        [--mem MiB] [--udev-log] [--keep-logs] [--cmdline ARGS]
#                        [--settle SEC]
#
# --stack picks Debian 12 (bookworm, the default) or 13 (trixie; the host's mirror with suite
# trixie, VM_MIRROR_13 overrides it); --builder the initramfs builder (default
# initramfs-tools); --dracut the kind of dracut image (default generic).
# For each implementation:
#   1. a Debian root (mmdebstrap, minbase, no other network): the cloud kernel, the builder
#      (initramfs-tools and multipath-tools-boot, or dracut), multipath-tools, udev and
#      Debian's kpartx; made once per stack and package list and reused (--fresh-base makes it
#      again, --base-only stops after it);
#   2. a copy of it, configured for multipath (multipath.conf with user_friendly_names and
#      find_multipaths off, every LUN's WWID in wwids and bindings, the root's map mpatha) and
#      given /usr/local/sbin/san-init; for "rs" the project's .deb is installed with dpkg -i
#      over Debian's kpartx (Conflicts/Replaces: kpartx, as an admin would swap it);
#   3. the initramfs, built inside the root (chroot): `update-initramfs -u`, or
#      `dracut -f --no-hostonly` (generic) or `dracut -f --hostonly --add "multipath
#      [kpartx-rs]" --add-drivers "virtio_scsi sd_mod"` (host-only: in a chroot dracut sees
#      the build host's devices and drivers, not the VM's, so its own detection cannot pick
#      multipath or the SCSI disk driver; the first boot of a host-only root
#      then runs `dracut --hostonly --no-kernel` on its real root, and the modules of that
#      image show what the detection picks there).
#      lsinitramfs/lsinitrd must list the binary, the rules, kpartx_id and (rs) the policy,
#      each once, exactly one rule file must run the helper (rs) and the image's binary must be
#      the root's;
#   4. the root on partition 2 of a GPT disk image; QEMU (TCG, 2 vCPUs) boots the root's own
#      kernel and initrd with the image attached twice, as two scsi-hd disks on one
#      virtio-scsi-pci controller with the same serial and WWN (two paths to one LUN), and
#      root=/dev/mapper/mpatha-part2 init=/usr/local/sbin/san-init; --luns N attaches N more
#      two-path LUNs (sparse copies of one 4-partition GPT image, one serial/WWN each);
#   5. san-init (PID 1 on the real root; a full systemd boot is too slow under TCG) checks that
#      / is mounted from the partition map (DM name mpatha-part2, DM UUID part2-mpath-<wwid>)
#      on the multipath map, that `multipath -ll mpatha` shows two active paths, that every
#      partition map of every LUN exists (2 + 4N, each UUID part<K>-mpath-<wwid> on its map),
#      that (rs) the paths' kernel partitions are gone when the image can run
#      68-del-part-nodes.rules (a rule claims the paths for multipath and multipathd is in
#      the image), prints the result and powers off. With --run-autopkgtest the "rs" boot also
#      runs debian/tests/map-unmap there (udevd started), since the host kernel has no
#      device-mapper.
#   The console log is checked for udev workers killed or timed out and for failed RUN
#   programs, and for `udevadm settle` timing out (--udev-log boots with udev.log_level=info
#   and printk.devkmsg=on, and with dracut systemd.log_target=kmsg, so that udevd's messages
#   reach the console unthrottled).
#   --reps N boots each image N times, the implementations interleaved (timings: medians).
#   --cmdline ARGS adds ARGS to every boot's kernel command line. Not rootdelay=N to let
#   initramfs-tools wait longer for the root: its init runs `sleep "$ROOTDELAY"` unconditionally
#   (after init-top's `udevadm settle`, before init-premount; Debian 12 and 13 alike), so
#   rootdelay=900 adds 900 s to every boot however soon the root is there.
#   --settle SEC gives an initramfs-tools image a local-top script that runs
#   `udevadm settle --timeout=SEC` and prints the guest's uptime before and after: the wait that
#   many LUNs under TCG need (Debian 13 with 64 LUNs: udev's queue empties after about 220-330 s,
#   past init-top's 120 s settle, local-premount's 121 s and the 30 s root wait), without a
#   fixed sleep, so the boot times stay the time the work took. A dracut boot gets
#   rd.timeout=SEC instead (systemd's wait for the root device, which ends when it appears).
#   --rules-only (Debian 12 with initramfs-tools only) adds a second root of each
#   implementation ("rs-rules", "ref-rules") whose initramfs has multipath-tools-boot's
#   local-top script without its `kpartx -a -p -part` call, so that only the udev rules copied
#   into the initramfs can make the root's map. Debian 13's scripts and dracut's have no kpartx
#   call (checked): there every boot is "rules only" and no variant is added.
#
# Prints per implementation: the initramfs build time, the image findings, the boot time
# (QEMU start to the root's init and to power-off on the host, and the guest's uptime when
# san-init started, i.e. kernel and initramfs until the root was mounted), the partition maps
# found, udev failures in the console log and the result; ends with "san-boot: N passed,
# N failed". Too slow for CI (about 3-6 minutes in all, the first run of a stack a few minutes
# more for the base root); run it by hand after changing the packaging or the rules.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)

DEB=
WORK=$HERE/cache/san-boot
IMPLS="ref rs"
FRESH=0
BASE_ONLY=0
TIMEOUT=600
AUTOPKGTEST=0
RULES_ONLY=0
REPS=1
STACK=12
BUILDER=initramfs-tools
DRACUT_MODE=generic
LUNS=0
MEM=1024
UDEV_LOG=0
KEEP_LOGS=0
CMDLINE=
SETTLE=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --deb) DEB=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --impl) case $2 in both) IMPLS="ref rs" ;; rs|ref) IMPLS=$2 ;; *) echo "--impl both|rs|ref" >&2; exit 2 ;; esac; shift 2 ;;
        --fresh-base) FRESH=1; shift ;;
        --base-only) BASE_ONLY=1; shift ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --run-autopkgtest) AUTOPKGTEST=1; shift ;;
        --rules-only) RULES_ONLY=1; shift ;;
        --reps) REPS=$2; shift 2 ;;
        --stack) case $2 in 12|13) STACK=$2 ;; *) echo "--stack 12|13" >&2; exit 2 ;; esac; shift 2 ;;
        --builder) case $2 in initramfs-tools|dracut) BUILDER=$2 ;; *) echo "--builder initramfs-tools|dracut" >&2; exit 2 ;; esac; shift 2 ;;
        --dracut) case $2 in hostonly|generic) DRACUT_MODE=$2 ;; *) echo "--dracut hostonly|generic" >&2; exit 2 ;; esac; shift 2 ;;
        --luns) LUNS=$2; shift 2 ;;
        --mem) MEM=$2; shift 2 ;;
        --udev-log) UDEV_LOG=1; shift ;;
        --keep-logs) KEEP_LOGS=1; shift ;;
        --cmdline) CMDLINE=$2; shift 2 ;;
        --settle) SETTLE=$2; shift 2 ;;
        *) usage ;;
    esac
done
if ! [[ $LUNS =~ ^[0-9]+$ ]] || [ "$LUNS" -gt 1000 ]; then echo "--luns 0..1000" >&2; exit 2; fi
[[ $REPS =~ ^[1-9][0-9]*$ ]] || { echo "--reps N (N >= 1)" >&2; exit 2; }
[[ $SETTLE =~ ^[0-9]+$ ]] || { echo "--settle SEC" >&2; exit 2; }
case $STACK in 12) SUITE=bookworm ;; 13) SUITE=trixie ;; esac
# What this run is, in the summary and the file names of its logs.
CONF="debian$STACK-$BUILDER"
[ "$BUILDER" = dracut ] && CONF="$CONF-$DRACUT_MODE"
# ... and in the names of its roots, disks and logs, so that runs with and without --luns can
# run side by side.
TAG=$CONF
[ "$LUNS" = 0 ] || TAG="$CONF-luns$LUNS"

log() { printf 'san-boot: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (mmdebstrap, chroot, mounts)"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# --rules-only: only Debian 12's initramfs-tools scripts call kpartx themselves.
if [ "$RULES_ONLY" = 1 ]; then
    if [ "$STACK" = 12 ] && [ "$BUILDER" = initramfs-tools ]; then
        v=
        for i in $IMPLS; do v="$v $i $i-rules"; done
        IMPLS=${v# }
    else
        log "--rules-only: $CONF's boot scripts run no kpartx (checked in the image below), so" \
            "every boot here is already rules-only; no variant added"
        RULES_ONLY=0
    fi
fi

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

if [ "$BASE_ONLY" = 0 ] && [[ " $IMPLS " == *" rs"[\ -]* ]]; then
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
# The builder's packages: initramfs-tools with multipath-tools-boot (Debian's multipath boot
# scripts and hook), or dracut (whose multipath module comes with dracut itself).
case $BUILDER in
    initramfs-tools) BPKGS=initramfs-tools,multipath-tools-boot ;;
    dracut) BPKGS=dracut,procps,systemd-sysv ;; # pkill (multipath module), poweroff (base)
esac
PKGS=linux-image-cloud-amd64,$BPKGS,multipath-tools,kpartx,udev,dmsetup,kmod,e2fsprogs,zstd,fdisk,gdisk
BASE=$WORK/base-$STACK-$BUILDER
BASE_KEY="$SUITE $PKGS"
if [ "$FRESH" = 1 ] || [ ! -e "$BASE/.san-base" ] || [ "$(cat "$BASE/.san-base")" != "$BASE_KEY" ]; then
    rm -rf "$BASE"
    sources=()
    if [ "$STACK" = 12 ]; then
        # The host is Debian 12: its own apt sources.
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
            [ -s "$f" ] && sources+=("$f")
        done
        [ ${#sources[@]} -gt 0 ] || die "no apt sources on the host"
    else
        # trixie from the mirror that serves the host's bookworm (as tests/vm/prepare.sh does).
        mirror=${VM_MIRROR_13:-}
        if [ -z "$mirror" ]; then
            mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
                awk 'BEGIN { RS = "" } /Suites:[^\n]*bookworm( |$|\n)/ && match($0, /URIs: *[^ \n]+/) { print substr($0, RSTART + 6, RLENGTH - 6); exit }' |
                tr -d ' ')
        fi
        if [ -z "$mirror" ]; then
            mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || :)
        fi
        mirror=${mirror:-http://deb.debian.org/debian}
        printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$mirror" >"$WORK/trixie.sources"
        sources=("$WORK/trixie.sources")
    fi
    log "mmdebstrap of $SUITE (minbase + $PKGS) from ${sources[*]}"
    t0=$SECONDS
    mmdebstrap --quiet --variant=minbase --include="$PKGS" "$SUITE" "$BASE" "${sources[@]}" \
        >"$WORK/mmdebstrap-$STACK-$BUILDER.log" 2>&1 ||
        { tail -n 30 "$WORK/mmdebstrap-$STACK-$BUILDER.log" >&2; die "mmdebstrap failed"; }
    printf '%s\n' "$BASE_KEY" >"$BASE/.san-base"
    log "base root made in $((SECONDS - t0)) s"
fi
# shellcheck disable=SC2016  # dpkg-query's own ${...} format
log "base $SUITE: $(in_root "$BASE" dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\n' kpartx multipath-tools udev dracut initramfs-tools 2>/dev/null | sed -n 's/^ii  *//p' | tr '\n' ' ')"
[ "$BASE_ONLY" = 0 ] || exit 0

# The LUN both paths show (the map's WWID is the NAA WWN with multipath's type prefix 3).
SERIAL=SANBOOT0001
WWN=0x5000c50015ea71ac
WWID=35000c50015ea71ac
# --luns N: LUN i (1..N) has serial SANLUN<i>, WWN 0x5000c5002<i as 7 hex digits>.
lun_wwn() { printf '0x5000c5002%07x' "$1"; }
# multipath's user_friendly_names order: mpatha..mpathz, mpathaa.. (bijective base 26).
mpath_alias() { # mpath_alias INDEX (0 = mpatha)
    local n=$(($1 + 1)) s='' letters=abcdefghijklmnopqrstuvwxyz
    while [ "$n" -gt 0 ]; do
        n=$((n - 1))
        s=${letters:n%26:1}$s
        n=$((n / 26))
    done
    echo "mpath$s"
}
EXPECT_PARTS=$((2 + 4 * LUNS))

# --- 2. san-init: PID 1 on the real root -------------------------------------------------------------
write_init() { # write_init ROOT IMPL DELPARTS
    cat >"$1/usr/local/sbin/san-init" <<'INIT'
#!/bin/sh
# PID 1 of the san-boot VM: the initramfs has mounted / from the partition map; check it,
# print the findings between markers and power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
read -r up _ </proc/uptime
echo "SAN-BOOT: init-start uptime=$up"
IMPL=@IMPL@
EXPECT_PARTS=@EXPECT_PARTS@
DELPARTS=@DELPARTS@
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
echo "SAN-BOOT: by-id links of the root map: $(udevadm info -q symlink "/dev/block/$majmin" 2>/dev/null | tr ' ' '\n' | sed -n 's|^disk/by-id/||p' | tr '\n' ' ')"
check "root-is-mpatha-part2" [ "$name" = mpatha-part2 ]
check "root-uuid-part2-of-the-multipath-map" [ "$uuid" = "part2-$puuid" ]
check "parent-is-a-multipath-map" [ "${puuid#mpath-}" != "$puuid" ]
echo "SAN-BOOT: multipath -ll mpatha begin"
multipath -ll mpatha 2>&1 | sed 's/^/SAN-BOOT: | /'
echo "SAN-BOOT: multipath -ll mpatha end"
paths=$(multipath -ll mpatha 2>/dev/null | grep -Ec '[0-9]+:[0-9]+:[0-9]+:[0-9]+ +sd[a-z]+ .*active ready')
check "two-active-paths (found $paths)" [ "$paths" = 2 ]
if [ "$IMPL" = rs ]; then
    # 56-kpartx-parts.rules ran in the initramfs: kpartx --udev-id's properties and link.
    check "by-id-link-wwn-part2-from-56-kpartx-parts.rules" [ -L /dev/disk/by-id/wwn-@WWN@-part2 ]
fi
# Every partition map of every LUN: mpath<x>-part<K> whose UUID is part<K>-<its map's UUID>,
# on a multipath map (made in the initramfs: nothing has run udev or kpartx since).
dmsetup info -c --noheadings -o name,uuid --separator ' ' >/tmp/dm.txt 2>/dev/null
counts=$(awk '{ u[$1] = $2; n[NR] = $1 }
    END {
        for (i = 1; i <= NR; i++) {
            x = n[i]
            if (u[x] ~ /^mpath-/) maps++
            if (x !~ /^mpath[a-z]+-part[0-9]+$/) continue
            all++
            k = x; sub(/.*-part/, "", k); p = x; sub(/-part[0-9]+$/, "", p)
            if (u[p] ~ /^mpath-/ && u[x] == "part" k "-" u[p]) good++
        }
        printf "%d %d %d\n", maps, all, good
    }' /tmp/dm.txt)
set -- $counts
echo "SAN-BOOT: maps multipath=$1 partition-maps=$2 correct=$3 expected=$EXPECT_PARTS"
check "every-partition-map-of-every-LUN ($3 of $EXPECT_PARTS)" [ "$3" = "$EXPECT_PARTS" ] && [ "$2" = "$EXPECT_PARTS" ]
if [ "$EXPECT_PARTS" -le 2 ]; then
    echo "SAN-BOOT: dmsetup table begin"
    dmsetup table 2>&1 | sed 's/^/SAN-BOOT: | /'
    echo "SAN-BOOT: dmsetup table end"
fi
kparts=$(ls -d /sys/block/sd*/sd* 2>/dev/null | sed 's|.*/||' | tr '\n' ' ')
echo "SAN-BOOT: kernel partitions of the paths: $(echo "$kparts" | wc -w) ($(echo "$kparts" | cut -c1-200))"
if [ "$DELPARTS" = 1 ]; then
    # The image claims the paths for multipath and has 68-del-part-nodes.rules: the paths'
    # kernel partitions must be gone, only the maps' remain.
    check "paths-kernel-partitions-removed-by-68-del-part-nodes" [ -z "$kparts" ]
fi
if grep -qw san.hostonly_check=1 /proc/cmdline; then
    # What dracut's host-only detection picks on this real root (a chroot on the build host
    # cannot see these devices): a host-only image without the kernel's modules, its modules.
    read -r t0 _ </proc/uptime
    dracut --hostonly --no-kernel --no-compress --tmpdir /tmp --force /tmp/hostonly.img >/tmp/dracut.log 2>&1
    rc=$?
    read -r t1 _ </proc/uptime
    echo "SAN-BOOT: dracut --hostonly --no-kernel in the VM: exit $rc ($t0 -> $t1 s uptime)"
    [ "$rc" = 0 ] || tail -n 5 /tmp/dracut.log | sed 's/^/SAN-BOOT: dracut: /'
    echo "SAN-BOOT: host-only modules begin"
    lsinitrd /tmp/hostonly.img 2>/dev/null | sed -n '/^dracut modules:/,/^=====/p' | sed '1d;$d' | sed 's/^/SAN-BOOT: | /'
    echo "SAN-BOOT: host-only modules end"
    rm -f /tmp/hostonly.img
fi
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
    sed -i -e "s/@IMPL@/$2/" -e "s/@WWN@/$WWN/" -e "s/@EXPECT_PARTS@/$EXPECT_PARTS/" \
        -e "s/@DELPARTS@/$3/" "$1/usr/local/sbin/san-init"
    chmod 0755 "$1/usr/local/sbin/san-init"
}

# --- 3. the LUNs of --luns: one 4-partition GPT, copied sparsely per LUN -----------------------------
LUNDIR=$WORK/luns
if [ "$LUNS" -gt 0 ]; then
    mkdir -p "$LUNDIR"
    T=$LUNDIR/template.img
    if [ ! -s "$T" ]; then
        truncate -s 40M "$T.tmp"
        printf 'label: gpt\nsize=8M\nsize=8M\nsize=8M\nsize=8M\n' | sfdisk --quiet "$T.tmp"
        mv "$T.tmp" "$T"
    fi
    for ((i = 1; i <= LUNS; i++)); do
        [ -s "$LUNDIR/lun$i.img" ] || cp --sparse=always "$T" "$LUNDIR/lun$i.img"
    done
    log "$LUNS LUNs of $(du -h --apparent-size "$T" | cut -f1) (4 partitions each), $(du -sh "$LUNDIR" | cut -f1) on disk"
fi

# The helper rule, and the rules that claim disks for multipath, as found in an image.
helper_rules() { grep -lE 'RUN\+?=.*kpartx (--udev"|-[a-z]*[au])' "$@" 2>/dev/null || :; }
claim_rules() { grep -lE 'multipath -u|DM_MULTIPATH_DEVICE_PATH\}=?"1"' "$@" 2>/dev/null || :; }

# --- 4. per implementation: root, initramfs, disk -------------------------------------------------
declare -A T_INITRD T_BOOT T_INIT T_UPTIME RESULT MAPS UFAIL KERNEL INITRD DISK BUILD_CMD RETRIES
for impl in $IMPLS; do
    kind=${impl%-rules}
    R=$WORK/root-$TAG-$impl
    log "[$impl] root copy ($CONF)"
    rm -rf "$R"
    cp -a "$BASE" "$R"

    # Multipath: every SCSI disk is a path (find_multipaths off); the root's map is mpatha, the
    # LUNs' maps follow in user_friendly_names order.
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
    {
        # The header libmultipath writes; 0.10 and later reject a file without all of it when
        # it is read-only (`multipath -B` in Debian 13's initramfs).
        printf '# Multipath bindings, Version : 1.0\n# NOTE: this file is automatically maintained by the multipath program.\n'
        printf '# You should not need to edit this file in normal circumstances.\n#\n# Format:\n# alias wwid\n#\n'
        printf 'mpatha %s\n' "$WWID"
        for ((i = 1; i <= LUNS; i++)); do
            w=$(lun_wwn "$i")
            printf '%s 3%s\n' "$(mpath_alias "$i")" "${w#0x}"
        done
    } >"$R/etc/multipath/bindings"
    {
        printf '# Multipath wwids, Version : 1.0\n/%s/\n' "$WWID"
        for ((i = 1; i <= LUNS; i++)); do
            w=$(lun_wwn "$i")
            printf '/3%s/\n' "${w#0x}"
        done
    } >"$R/etc/multipath/wwids"
    echo san-boot >"$R/etc/hostname"
    printf '/dev/mapper/mpatha-part2 / ext4 ro 0 1\n' >"$R/etc/fstab"
    mkdir -p "$R/usr/local/sbin"

    if [ "$impl" != "$kind" ]; then
        # Rules only: Debian 12's multipath-tools-boot local-top script also runs
        # `kpartx -a -p -part` on every multipath map after creating them; without it only the
        # udev rules copied into the initramfs can make the root's partition map.
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
        in_root "$R" dpkg -i /tmp/kpartx-rs.deb >"$WORK/dpkg-$TAG-$impl.log" 2>&1 ||
            { cat "$WORK/dpkg-$TAG-$impl.log" >&2; die "dpkg -i kpartx-rs failed"; }
        rm -f "$R/tmp/kpartx-rs.deb"
        # shellcheck disable=SC2016  # dpkg-query's own ${...} format
        if in_root "$R" dpkg-query -W -f='${Status}\n' kpartx 2>/dev/null | grep -q '^install ok installed'; then
            bad "[$impl] Debian's kpartx still installed after dpkg -i kpartx-rs"
        else
            ok "[$impl] kpartx-rs replaced Debian's kpartx (multipath-tools' dependency satisfied)"
        fi
        if [ "$BUILDER" = initramfs-tools ]; then
            if grep -q 'update-initramfs' "$WORK/dpkg-$TAG-$impl.log"; then
                ok "[$impl] dpkg -i ran the update-initramfs trigger"
            else
                bad "[$impl] dpkg -i did not trigger update-initramfs"
            fi
        fi
        if [ "$AUTOPKGTEST" = 1 ] && [ "$impl" = rs ]; then
            mkdir -p "$R/usr/local/share/san-boot"
            install -m 0755 "$TOP/debian/tests/map-unmap" "$R/usr/local/share/san-boot/map-unmap"
        fi
    fi

    # --settle: wait for udev's queue in local-top (before local-premount's settle and
    # `multipath -r`, and before the wait for the root device), with no fixed sleep.
    if [ "$SETTLE" != 0 ] && [ "$BUILDER" = initramfs-tools ]; then
        mkdir -p "$R/etc/initramfs-tools/scripts/local-top"
        cat >"$R/etc/initramfs-tools/scripts/local-top/san-settle" <<EOF
#!/bin/sh
[ "\$1" = prereqs ] && exit 0
read -r up _ </proc/uptime
echo
echo "SAN-BOOT: settle-start uptime=\$up"
udevadm settle --timeout=$SETTLE; rc=\$?
read -r up _ </proc/uptime
echo "SAN-BOOT: settle-end rc=\$rc uptime=\$up"
exit 0
EOF
        chmod 0755 "$R/etc/initramfs-tools/scripts/local-top/san-settle"
    fi

    # The initramfs, by Debian's tools inside the root.
    kver=$(basename "$(find "$R/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
    INITRD[$impl]=$R/boot/initrd.img-$kver
    KERNEL[$impl]=$R/boot/vmlinuz-$kver
    case $BUILDER/$DRACUT_MODE in
        initramfs-tools/*) cmd=(update-initramfs -u -k "$kver") ;;
        dracut/generic) cmd=(dracut -f --no-hostonly "/boot/initrd.img-$kver" "$kver") ;;
        dracut/hostonly)
            # In this chroot dracut's host-only detection sees the build host's devices and
            # drivers (a virtio-blk disk), not the VM's multipath root on virtio-scsi: name the
            # dracut modules and the disk drivers the VM's root needs.
            if [ "$kind" = rs ]; then add="multipath kpartx-rs"; else add=multipath; fi
            cmd=(dracut -f --hostonly --add "$add" --add-drivers "virtio_scsi sd_mod"
                "/boot/initrd.img-$kver" "$kver") ;;
    esac
    BUILD_CMD[$impl]="${cmd[*]}"
    ILOG=$WORK/initramfs-$TAG-$impl.log
    t0=$SECONDS
    in_root "$R" "${cmd[@]}" >"$ILOG" 2>&1 || { cat "$ILOG" >&2; die "[$impl] ${cmd[*]} failed"; }
    T_INITRD[$impl]=$((SECONDS - t0))
    log "[$impl] initramfs: ${cmd[*]} (${T_INITRD[$impl]} s)"
    grep -E '^(W|E):|dracut\[[WE]\]|(^| )(warning|error)' "$ILOG" | sed "s/^/    [$impl] ${cmd[0]}: /" || :

    # What the image holds: the builder's own lister, and the unpacked image.
    LIST=$WORK/list-$TAG-$impl.txt
    X=$WORK/unpacked-$TAG-$impl
    rm -rf "$X" "$R/tmp/unpacked"
    mkdir -p "$X"
    if [ "$BUILDER" = initramfs-tools ]; then
        in_root "$R" lsinitramfs "/boot/initrd.img-$kver" | sed 's|^\./||' >"$LIST"
        in_root "$R" unmkinitramfs "/boot/initrd.img-$kver" /tmp/unpacked >/dev/null 2>&1 || :
    else
        in_root "$R" lsinitrd "/boot/initrd.img-$kver" >"$WORK/lsinitrd-$TAG-$impl.txt"
        grep -E '^[-dlcbps][-rwxsStT]{9} ' "$WORK/lsinitrd-$TAG-$impl.txt" | awk '{ sub(/^\.\//, "", $9); print $9 }' >"$LIST"
        mods=$(sed -n '/^dracut modules:/,/^=====/p' "$WORK/lsinitrd-$TAG-$impl.txt" | sed '1d;$d' | tr '\n' ' ')
        log "[$impl] dracut modules: $mods"
        for m in multipath $([ "$kind" = rs ] && echo kpartx-rs); do
            if [[ " $mods " == *" $m "* ]]; then ok "[$impl] lsinitrd: dracut module $m included"; else bad "[$impl] lsinitrd: dracut module $m missing"; fi
        done
        in_root "$R" sh -c "mkdir /tmp/unpacked && cd /tmp/unpacked && lsinitrd --unpack /boot/initrd.img-$kver" >/dev/null 2>&1 || :
    fi
    mv "$R/tmp/unpacked" "$X/img" 2>/dev/null || :
    inner=$X/img/main
    [ -d "$inner" ] || inner=$X/img
    listed() { grep -Ec "^(usr/)?$1\$" "$LIST" || :; }
    lister=lsinitramfs
    [ "$BUILDER" = dracut ] && lister=lsinitrd
    if [ "$kind" = rs ]; then
        files=(sbin/kpartx lib/udev/rules.d/66-kpartx.rules lib/udev/rules.d/56-kpartx-parts.rules
            lib/udev/rules.d/68-del-part-nodes.rules lib/udev/kpartx_id etc/kpartx/kpartx.toml
            etc/multipath.conf sbin/multipath)
        n=$(listed 'lib/udev/rules.d/60-kpartx\.rules')
        if [ "$n" = 0 ]; then
            ok "[$impl] $lister: no 60-kpartx.rules (only this package's 66-kpartx.rules runs the helper)"
        else
            bad "[$impl] $lister: a 60-kpartx.rules is in the image (the helper rule would run twice)"
        fi
    else
        files=(sbin/kpartx lib/udev/kpartx_id etc/multipath.conf sbin/multipath)
    fi
    for f in "${files[@]}"; do
        n=$(listed "${f//./\\.}")
        if [ "$n" = 1 ]; then ok "[$impl] $lister lists $f once"; else bad "[$impl] $lister lists $f $n times"; fi
    done
    # The rules udev reads in the image, by content: which run kpartx, which claim the paths.
    rdirs=()
    for d in "$inner/usr/lib/udev/rules.d" "$inner/lib/udev/rules.d" "$inner/etc/udev/rules.d"; do
        [ -d "$d" ] || continue
        d=$(realpath "$d")
        [[ " ${rdirs[*]} " == *" $d "* ]] || rdirs+=("$d")
    done
    rules=()
    for d in "${rdirs[@]}"; do for f in "$d"/*.rules; do [ -f "$f" ] && rules+=("$f"); done; done
    log "[$impl] rules in the image: $(for f in "${rules[@]}"; do printf '%s ' "${f##*/}"; done)"
    hr=$(helper_rules "${rules[@]}" | sed 's|.*/||' | tr '\n' ' ')
    cr=$(claim_rules "${rules[@]}" | sed 's|.*/||' | tr '\n' ' ')
    nhr=$(wc -w <<<"$hr")
    ncr=$(wc -w <<<"$cr")
    log "[$impl] rules that run kpartx: ${hr:-none}; rules that claim the paths for multipath: ${cr:-none}"
    if [ "$kind" = rs ]; then
        if [ "$nhr" = 1 ]; then ok "[$impl] one rule file runs the helper ($hr)"; else bad "[$impl] $nhr rule files run kpartx (${hr:-none})"; fi
        if [ "$ncr" = 1 ]; then ok "[$impl] one rule file claims the paths for multipath ($cr)"; else bad "[$impl] $ncr rule files claim the paths (${cr:-none})"; fi
    elif [ "$nhr" = 0 ]; then
        log "[$impl] NOTE: no rule in the image runs kpartx"
    fi
    # 68-del-part-nodes.rules can only act when a rule claims the paths and multipathd runs.
    delparts=0
    if [ "$kind" = rs ] && [ "$ncr" -ge 1 ] && [ "$(listed 'sbin/multipathd')" -ge 1 ] &&
        [ "$(listed 'lib/udev/rules.d/68-del-part-nodes\.rules')" -ge 1 ]; then
        delparts=1
    fi
    log "[$impl] paths' kernel partitions expected gone after boot: $([ "$delparts" = 1 ] && echo yes || echo "no (not checked)")"
    write_init "$R" "$kind" "$delparts"
    # Which boot scripts (not udev's rules and programs, not binaries) call kpartx themselves.
    # (Lines that only test for the binary, `[ -x /sbin/kpartx -a ... ]`, and comments are no call.)
    sk=$(grep -rIE '(^|[[:space:]/"])kpartx[[:space:]]+-' "$inner" 2>/dev/null | grep -v '^[^:]*/udev/' |
        grep -vE '^[^:]*:[[:space:]]*#|\[ .*-[ex] [^ ]*kpartx' | cut -d: -f1 | sort -u | sed "s|^$inner/||" | tr '\n' ' ' || :)
    if [ "$STACK/$BUILDER" = 12/initramfs-tools ] && [ "$impl" = "$kind" ]; then
        if [ -n "$sk" ]; then ok "[$impl] boot scripts that run kpartx: $sk"; else bad "[$impl] no boot script runs kpartx (Debian 12's local-top/multipath should)"; fi
    else
        if [ -z "$sk" ]; then ok "[$impl] no boot script runs kpartx: only the udev rules can map partitions"; else bad "[$impl] boot scripts still run kpartx: $sk"; fi
    fi
    # The binary in the image is the installed one.
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
    log "[$impl] initramfs: $(du -h "${INITRD[$impl]}" | cut -f1), ${T_INITRD[$impl]} s"

    # The disk: GPT, partition 1 (8 MiB, unused), partition 2 the root file system.
    DISK[$impl]=$WORK/disk-$TAG-$impl.img
    PART=$WORK/part2-$TAG-$impl.img
    used_mb=$(du -sm "$R" | cut -f1)
    size_mb=$((used_mb * 13 / 10 + 128))
    rm -f "${DISK[$impl]}" "$PART"
    mkfs.ext4 -q -F -L sanroot -d "$R" "$PART" "${size_mb}M"
    truncate -s $((size_mb + 16))M "${DISK[$impl]}"
    printf 'label: gpt\nstart=2048, size=16384, type=21686148-6449-6E6F-744E-656564454649, name="spare"\nstart=18432, size=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\n' \
        $((size_mb * 2048)) | sfdisk --quiet "${DISK[$impl]}"
    dd if="$PART" of="${DISK[$impl]}" bs=1M seek=9 conv=notrunc,sparse status=none
    rm -f "$PART"
    RESULT[$impl]=pass
done

# --- 5. boots: the same image twice, same serial and WWN: two paths to one LUN -------------------
# Messages of udevd (252 and 257) about workers and RUN programs that failed or took too long,
# of `udevadm settle` giving up on a queue that did not empty (257's and 252's wording), and
# of kpartx itself.
UDEV_FAIL_RE='Worker \[[0-9]+\].*(killed|taking a long time|terminated by signal|failed)|Spawned process.*(timed out|taking longer)|Process .*(failed with exit code|terminated by signal)|Timed out (while waiting for udev queue|for waiting the udev queue)|kpartx.*(error|failed)'
boot_one() { # boot_one IMPL REP
    local impl=$1 rep=$2 extra='' tb ti tu t0 i w
    local BOOTLOG=$WORK/boot-$TAG-$impl-$rep.log
    [ "$impl" = rs ] && [ "$AUTOPKGTEST" = 1 ] && [ "$rep" = 1 ] && extra+=" san.autopkgtest=1"
    [ "$BUILDER/$DRACUT_MODE" = dracut/hostonly ] && [ "$rep" = 1 ] && [ "$LUNS" = 0 ] && extra+=" san.hostonly_check=1"
    # dracut waits for the root without a limit by default: give up after 3 minutes (and 3 s
    # more per LUN of --luns), or after --settle SEC, power off.
    local rd_timeout=$((180 + 3 * LUNS))
    [ "$SETTLE" = 0 ] || rd_timeout=$SETTLE
    [ "$BUILDER" = dracut ] && extra+=" rd.timeout=$rd_timeout rd.shell=0 rd.emergency=poweroff"
    [ "$UDEV_LOG" = 1 ] && extra+=" udev.log_level=info printk.devkmsg=on"
    # dracut's systemd runs udevd as a service that logs to the journal: send it to kmsg.
    [ "$UDEV_LOG" = 1 ] && [ "$BUILDER" = dracut ] && extra+=" systemd.log_target=kmsg"
    [ -z "$CMDLINE" ] || extra+=" $CMDLINE"
    # shellcheck disable=SC2054  # commas inside QEMU's option values
    local args=(-accel tcg -smp 2 -m "$MEM" -nographic -no-reboot
        -kernel "${KERNEL[$impl]}" -initrd "${INITRD[$impl]}"
        -append "root=/dev/mapper/mpatha-part2 ro console=ttyS0 init=/usr/local/sbin/san-init panic=-1$extra"
        -device virtio-scsi-pci,id=scsi0
        -drive "if=none,id=path0,file=${DISK[$impl]},format=raw,file.locking=off"
        -device "scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=path0,serial=$SERIAL,wwn=$WWN"
        -drive "if=none,id=path1,file=${DISK[$impl]},format=raw,file.locking=off"
        -device "scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=path1,serial=$SERIAL,wwn=$WWN")
    for ((i = 1; i <= LUNS; i++)); do
        w=$(lun_wwn "$i")
        args+=(-drive "if=none,id=l${i}p0,file=$LUNDIR/lun$i.img,format=raw,file.locking=off"
            -device "scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=$i,drive=l${i}p0,serial=SANLUN$i,wwn=$w"
            -drive "if=none,id=l${i}p1,file=$LUNDIR/lun$i.img,format=raw,file.locking=off"
            -device "scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=$i,drive=l${i}p1,serial=SANLUN$i,wwn=$w")
    done
    log "[$impl] boot $rep/$REPS ($CONF, QEMU TCG, -smp 2, -m $MEM, $((LUNS + 1)) two-path LUNs)"
    local try
    for try in 1 2 3; do
        rm -f "$BOOTLOG.init"
        t0=$(date +%s.%N)
        # The console, with the host's time of the root's init start noted as it appears.
        { timeout "$TIMEOUT" qemu-system-x86_64 "${args[@]}" </dev/null 2>&1 || :; } |
            while IFS= read -r line; do
                printf '%s\n' "${line%$'\r'}"
                if [ ! -e "$BOOTLOG.init" ] && [[ $line == *"SAN-BOOT: init-start"* ]]; then date +%s.%N >"$BOOTLOG.init"; fi
            done >"$BOOTLOG"
        tb=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        ti=none
        [ -s "$BOOTLOG.init" ] && ti=$(awk -v a="$t0" -v b="$(cat "$BOOTLOG.init")" 'BEGIN { printf "%.1f", b - a }')
        rm -f "$BOOTLOG.init"
        # Debian 13's 6.12 kernel sometimes takes an int3 oops while patching its own code under
        # multi-threaded TCG (as tests/vm/run.sh notes): such a boot tested nothing of ours;
        # boot again, at most twice, and say so.
        if [ "$ti" = none ] && grep -q 'Oops: int3' "$BOOTLOG" && [ "$try" -lt 3 ]; then
            log "[$impl] boot $rep: the kernel took an int3 oops (TCG code patching) before the root's init: booting again"
            cp "$BOOTLOG" "$BOOTLOG.oops$try"
            RETRIES[$impl]=$((${RETRIES[$impl]:-0} + 1))
            continue
        fi
        break
    done
    tu=$(sed -n 's/.*SAN-BOOT: init-start uptime=//p' "$BOOTLOG" | tail -n 1)
    T_BOOT[$impl]+="${T_BOOT[$impl]:+ }$tb"
    T_INIT[$impl]+="${T_INIT[$impl]:+ }$ti"
    T_UPTIME[$impl]+="${T_UPTIME[$impl]:+ }${tu:-none}"
    local maps uf
    maps=$(sed -n 's/^SAN-BOOT: maps .*correct=\([0-9]*\) .*/\1/p' "$BOOTLOG" | tail -n 1)
    MAPS[$impl]+="${MAPS[$impl]:+ }${maps:-0}"
    uf=$(grep -v '^SAN-BOOT: ' "$BOOTLOG" | grep -cE "$UDEV_FAIL_RE" || :)
    UFAIL[$impl]=$((${UFAIL[$impl]:-0} + uf))
    if [ "$rep" = 1 ]; then grep '^SAN-BOOT: ' "$BOOTLOG" | sed "s/^SAN-BOOT: /    [$impl] /" || :; fi
    if grep -q '^SAN-BOOT: RESULT pass' "$BOOTLOG"; then
        ok "[$impl] boot $rep: / mounted from /dev/mapper/mpatha-part2 on a two-path multipath map, ${maps:-0} of $EXPECT_PARTS partition maps (root's init at ${ti} s on the host, ${tu} s uptime; $tb s in all)"
    else
        RESULT[$impl]=fail
        bad "[$impl] boot $rep ($CONF) from mpatha-part2 (log: $BOOTLOG)"
        grep -v '^SAN-BOOT: ' "$BOOTLOG" | grep -vE 'Job .*start running|A start job is running' | tail -n 25 |
            sed "s/^/    [$impl] console: /" || :
    fi
    if [ "$uf" = 0 ]; then
        ok "[$impl] boot $rep: no udev worker killed or timed out, no failed RUN program or kpartx error on the console"
    else
        bad "[$impl] boot $rep: $uf console lines about failed or timed-out udev work or kpartx:"
        grep -v '^SAN-BOOT: ' "$BOOTLOG" | grep -E "$UDEV_FAIL_RE" | head -n 10 | sed "s/^/    [$impl] console: /"
    fi
    grep -v '^SAN-BOOT: ' "$BOOTLOG" | grep -iE 'timed? ?out' | grep -vE "$UDEV_FAIL_RE" | head -n 5 |
        sed "s/^/    [$impl] console (other 'timeout' line, for the reader): /" || :
    if [[ $extra == *san.autopkgtest=1* ]]; then
        if grep -q '^SAN-BOOT: | map-unmap: 0 failed' "$BOOTLOG"; then
            ok "[$impl] autopkgtest map-unmap passed in the VM"
        else
            bad "[$impl] autopkgtest map-unmap in the VM"
        fi
    fi
    if [[ $extra == *san.hostonly_check=1* ]] && [ "$ti" != none ]; then
        local hm
        hm=$(sed -n '/^SAN-BOOT: host-only modules begin/,/end$/p' "$BOOTLOG" | sed -n 's/^SAN-BOOT: | //p' | tr '\n' ' ')
        log "[$impl] in the VM, dracut --hostonly included: $hm"
        for m in multipath $([ "$impl" = rs ] && echo kpartx-rs); do
            if [[ " $hm " == *" $m "* ]]; then
                ok "[$impl] in the booted VM, dracut's host-only detection includes $m"
            else
                bad "[$impl] in the booted VM, dracut's host-only detection leaves out $m"
            fi
        done
    fi
}
# Interleaved: each repetition boots every implementation, the order reversed every other time.
for ((rep = 1; rep <= REPS; rep++)); do
    order=$IMPLS
    [ $((rep % 2)) = 0 ] && order=$(tr ' ' '\n' <<<"$IMPLS" | tac | tr '\n' ' ')
    for impl in $order; do boot_one "$impl" "$rep"; done
done
if [ "$KEEP_LOGS" = 0 ]; then
    for impl in $IMPLS; do rm -f "${DISK[$impl]}"; done
fi

median() { tr ' ' '\n' | grep -v none | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "none" }'; }
echo
echo "$CONF, $((LUNS + 1)) two-path LUNs, $EXPECT_PARTS partition maps expected. Times in seconds;"
echo "medians of $REPS boots, every boot's value in brackets. 'init' is QEMU's start to the root's"
echo "init on the host's clock; 'uptime' the guest's uptime then (kernel + initramfs + root map +"
echo "mount); 'boot' QEMU's start to power-off (the rs boot 1 also ran map-unmap if asked);"
echo "'udev!' console lines about failed udev work; 'oops' boots repeated after a TCG int3 oops."
printf '%-9s %-10s %-24s %-24s %-24s %-10s %-6s %-5s %s\n' impl initramfs init uptime boot maps udev! oops result
for impl in $IMPLS; do
    printf '%-9s %-10s %-24s %-24s %-24s %-10s %-6s %-5s %s\n' "$impl" "${T_INITRD[$impl]}" \
        "$(median <<<"${T_INIT[$impl]}") [${T_INIT[$impl]}]" \
        "$(median <<<"${T_UPTIME[$impl]}") [${T_UPTIME[$impl]}]" \
        "$(median <<<"${T_BOOT[$impl]}") [${T_BOOT[$impl]}]" \
        "$(tr ' ' '\n' <<<"${MAPS[$impl]}" | sort -n | head -n 1)/$EXPECT_PARTS" "${UFAIL[$impl]}" "${RETRIES[$impl]:-0}" "${RESULT[$impl]}"
done
for impl in $IMPLS; do
    echo "san-boot-summary: conf=$CONF impl=$impl luns=$LUNS init=$(median <<<"${T_INIT[$impl]}") uptime=$(median <<<"${T_UPTIME[$impl]}") init_all=${T_INIT[$impl]// /,} maps_min=$(tr ' ' '\n' <<<"${MAPS[$impl]}" | sort -n | head -n 1) maps_expected=$EXPECT_PARTS udev_fail=${UFAIL[$impl]} oops_retries=${RETRIES[$impl]:-0} result=${RESULT[$impl]} cmdline='$CMDLINE' settle=$SETTLE initramfs_cmd='${BUILD_CMD[$impl]}'"
done
echo "san-boot: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
