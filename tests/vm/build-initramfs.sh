#!/bin/bash
# tests/vm/build-initramfs.sh — build the gzip'd cpio initramfs that the test VM boots.
#
#   build-initramfs.sh [--kpartx PATH] [--overlay DIR] [--out FILE] [--no-strip] [--force]
#
#   --kpartx PATH   binary under test, installed as /opt/rs/kpartx (optional)
#   --overlay DIR   a DESTDIR-style tree (e.g. the result of `make install DESTDIR=DIR`) copied on
#                   top of the root; top-level bin/ sbin/ lib/ lib64/ are folded into usr/ to keep
#                   the merged-/usr layout; the shared libraries of its ELF files are added too
#   --out FILE      where to write the image (default: tests/vm/cache/initramfs.img)
#   --no-strip      keep debug info in the binary under test (default: strip --strip-debug a copy)
#   --force         rebuild the cached base layer even if it looks up to date
#
# The image is two concatenated gzip'd cpio archives (the kernel unpacks them in order):
#   1. a cached *base* layer: busybox and its applet links, kernel modules, dmsetup, the reference
#      kpartx (/opt/ref/kpartx), partitioning tools, udevd, udev rules, their shared libraries,
#      merged-/usr symlinks, /etc files.  Rebuilt only when this script, the kernel or one of the
#      host packages it copies from changes.
#   2. a small *top* layer rebuilt every time: /init, the harness (/harness), the binary under
#      test and the overlay.  So a rebuild after changing only the binary takes about a second.
#
# VM_STACK=13 builds the Debian 13 image: the base layer's programs, libraries, rules, kernel and
# modules come from the trixie root prepare.sh made (tests/vm/cache/deb13/root), with libraries
# resolved by that root's own loader (the host's ldd would find bookworm's); the top layer's ELF
# files (the binary under test, built on bookworm) get their missing libraries from that root too.
# Its cache lives in tests/vm/cache/deb13/.  VM_STACK=12 (the default) uses the host's programs.
#
# Needs tests/vm/prepare.sh to have run (it is idempotent; run.sh calls it).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STACK=${VM_STACK:-12}
case $STACK in
    12) CACHE=${VM_CACHE:-$HERE/cache}; SYS= ;;
    13) CACHE=${VM_CACHE:-$HERE/cache}/deb13; SYS=$CACHE/root ;;
    *) printf 'build-initramfs: error: VM_STACK=%s: only 12 and 13 are known\n' "$STACK" >&2; exit 1 ;;
esac

KPARTX=
OVERLAY=
OUT=$CACHE/initramfs.img
STRIP=1
FORCE=0

log() { printf 'build-initramfs: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case $1 in
        --kpartx) KPARTX=${2:?--kpartx needs a path}; shift 2 ;;
        --overlay) OVERLAY=${2:?--overlay needs a directory}; shift 2 ;;
        --out) OUT=${2:?--out needs a file}; shift 2 ;;
        --no-strip) STRIP=0; shift ;;
        --force) FORCE=1; shift ;;
        -h|--help) usage 0 ;;
        *) log "unknown argument: $1"; usage 1 >&2 ;;
    esac
done

if [ ! -e "$CACHE/vmlinuz" ] || [ ! -d "$CACHE/modules" ]; then die "run tests/vm/prepare.sh first"; fi
[ -z "$KPARTX" ] || [ -x "$KPARTX" ] || die "--kpartx $KPARTX: not an executable file"
[ -z "$OVERLAY" ] || [ -d "$OVERLAY" ] || die "--overlay $OVERLAY: not a directory"
KPARTX=${KPARTX:+$(realpath "$KPARTX")}
OVERLAY=${OVERLAY:+$(realpath "$OVERLAY")}
MODDIR=$(realpath "$CACHE/modules")
KVER=$(basename "$MODDIR")

# Host programs copied into the base layer: "host path:image path" (image path optional).
PROGRAMS=(
    /usr/sbin/dmsetup
    /usr/sbin/kpartx:/opt/ref/kpartx
    /usr/sbin/sfdisk /usr/sbin/sgdisk /usr/sbin/parted /usr/bin/partx /usr/sbin/wipefs
    /usr/sbin/losetup /usr/sbin/blockdev /usr/sbin/blkid /usr/bin/ipcs
    /usr/sbin/mkfs.ext4 /usr/sbin/mdadm
    /usr/bin/udevadm /lib/systemd/systemd-udevd
    /lib/udev/scsi_id
)
# udev rules: the device-mapper ones (dmsetup package) and udev's basic block-device rules.
RULES=(55-dm.rules 60-persistent-storage-dm.rules 95-dm-notify.rules
       50-udev-default.rules 60-block.rules 60-persistent-storage.rules)
# The reference kpartx's own udev files, kept inactive under /opt/ref/udev (scenarios may enable).
REF_UDEV=(rules.d/56-dm-parts.rules rules.d/60-kpartx.rules rules.d/68-del-part-nodes.rules kpartx_id)
# Debian's multipath-tools, unpacked by prepare.sh (never installed on the host): its programs,
# libraries, the checker/prioritizer plugins libmultipath dlopen()s from /lib/multipath (ldd does
# not list them) and its udev rules, kept inactive under /opt/mpath/udev (the mpath-* scenarios
# enable them). Their other libraries come from the host, found by ldd with LD_LIBRARY_PATH.
MPDIR=$CACHE/multipath-tools
MP_RULES=(56-dm-mpath.rules 60-multipath.rules)
if [ "$STACK" = 13 ]; then
    # trixie: the same layout under /usr of the root; 0.11.1 adds 99-z-dm-mpath-late.rules
    # (restores DM_UDEV_DISABLE_OTHER_RULES_FLAG saved under dm rules versions 1 and 2).
    MPDIR=$SYS/usr
    MP_RULES=(56-dm-mpath.rules 60-multipath.rules 99-z-dm-mpath-late.rules)
fi
# Kernel modules, loaded by /init in dependency order (dm-mod first).
# dm-service-time is multipath's default path selector (multipathd's maps need it).
MODULES=(dm-mod dm-multipath dm-round-robin dm-service-time loop md-mod raid1)
# Modules a scenario loads itself (scsi_debug makes an sd* disk), listed in dependency order in
# /etc/vmtest/modules-scsi.
MODULES_SCSI=(sd_mod scsi_debug)
# Host packages the base layer is made from; their versions are part of the cache key.
PACKAGES=(busybox-static dmsetup kpartx fdisk gdisk parted util-linux udev e2fsprogs mdadm
          libc6 libdevmapper1.02.1 liburcu8 libaio1)

# Image path for a host path: bin, sbin, lib, lib64 live under usr/ (merged-/usr).
image_path() {
    case $1 in
        /bin/*|/sbin/*|/lib/*|/lib64/*) printf '/usr%s\n' "$1" ;;
        *) printf '%s\n' "$1" ;;
    esac
}

# copy_file ROOT SRC [DEST]: copy SRC (symlinks dereferenced) to ROOT/DEST, replacing whatever is
# there (a busybox applet link must not be written through).
copy_file() {
    local root=$1 src=$2 dst=${3:-$(image_path "$2")}
    mkdir -p "$root$(dirname "$dst")"
    rm -f "$root$dst"
    cp -L --preserve=mode "$src" "$root$dst"
}

# list_libs FILE: the absolute paths of FILE's shared libraries (and loader), as found on the
# stack's system: the host's ldd for Debian 12; for Debian 13 the trixie root's own loader with
# that root's library directories, the paths printed without the root's prefix.
list_libs() {
    # "libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x..)"
    if [ -z "$SYS" ]; then
        ldd "$1" 2>/dev/null |
            awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
    else
        "$SYS/usr/lib64/ld-linux-x86-64.so.2" --list \
            --library-path "$SYS/usr/lib/x86_64-linux-gnu:$SYS/usr/lib/x86_64-linux-gnu/systemd:$SYS/usr/lib" \
            "$1" 2>/dev/null |
            awk -v sys="$SYS" '
                $2 == "=>" && $3 ~ /^\// { p = $3
                    if (index(p, sys "/") != 1) { print "NOT-IN-ROOT:" p; next }
                    print substr(p, length(sys) + 1) }
                $2 == "=>" && $3 == "not" { print "NOT-IN-ROOT:" $1 }'
    fi
}

is_elf() { [ "$(head -c4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }

# copy_libs ROOT FILE [SKIPROOT [SKIPDIR]]: copy the shared libraries list_libs finds for FILE
# into ROOT, except those already present under SKIPROOT (the base layer, when building the top
# one) and those found under SKIPDIR (an unpacked package whose files are copied on their own).
copy_libs() {
    local root=$1 file=$2 skip=${3:-} skipdir=${4:-} lib dst
    is_elf "$file" || return 0
    while read -r lib; do
        [ -n "$lib" ] || continue
        case $lib in NOT-IN-ROOT:*) die "$file: ${lib#*:} is not in the Debian $STACK root" ;; esac
        [ -n "$skipdir" ] && case $lib in "$skipdir"/*) continue ;; esac
        dst=$(image_path "$lib")
        [ -e "$root$dst" ] && continue
        [ -n "$skip" ] && [ -e "$skip$dst" ] && continue
        copy_file "$root" "$SYS$lib" "$dst"
    done < <(list_libs "$file")
}

# Modules in load order: dependencies (from modules.dep, listed nearest-first) before dependents.
resolve_modules() {
    local -A seen=()
    local order=()
    add_mod() {
        local path=$1 deps d i
        [ -n "${seen[$path]:-}" ] && return 0
        seen[$path]=1
        deps=$(awk -v m="$path:" '$1 == m { $1 = ""; print }' "$MODDIR/modules.dep")
        # shellcheck disable=SC2206 # word splitting of the dependency list is intended
        local arr=($deps)
        for ((i = ${#arr[@]} - 1; i >= 0; i--)); do add_mod "${arr[i]}"; done
        order+=("$path")
    }
    local m path
    for m in "$@"; do
        # (Debian 13's modules are .ko.xz: the name is compared without the compression suffix.)
        path=$(awk -F: -v n="/$m.ko" '{ p = $1; sub(/\.(xz|zst|gz)$/, "", p) }
                   index(p, n) && substr(p, length(p) - length(n) + 1) == n { print $1; exit }' \
                   "$MODDIR/modules.dep")
        [ -n "$path" ] || die "module $m not found in $MODDIR"
        add_mod "$path"
    done
    printf '%s\n' "${order[@]}"
}

install_module() { # install_module REL: uncompressed copy of a module in $BASE; prints its path
    local rel=$1 src dst base
    src=$MODDIR/$rel
    base=$(basename "$rel")
    dst=/usr/lib/modules/$KVER/${base%%.ko*}.ko
    if [ ! -e "$BASE$dst" ]; then
        case $rel in
            *.ko.xz) xz -dc "$src" >"$BASE$dst" ;;
            *.ko.zst) zstd -qdc "$src" >"$BASE$dst" ;;
            *.ko.gz) gzip -dc "$src" >"$BASE$dst" ;;
            *) cp "$src" "$BASE$dst" ;;
        esac
    fi
    echo "$dst"
}

make_cpio() { # make_cpio DIR OUT: newc cpio of DIR, owned by root, gzip'd
    (cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
        cpio --quiet -o -0 -H newc -R 0:0 | gzip -1 -n) >"$2.tmp"
    mv "$2.tmp" "$2"
}

# ------------------------------------------------------------------------------------------------
# Base layer
# ------------------------------------------------------------------------------------------------
BASE=$CACHE/base-root
BASE_CPIO=$CACHE/base.cpio.gz
key=$( {
    sha256sum "$0"
    cat "$CACHE/kernel-package"
    if [ -z "$SYS" ]; then
        cat "$MPDIR/.unpacked" 2>/dev/null
        dpkg-query -W -f='${Package} ${Version}\n' "${PACKAGES[@]}" 2>/dev/null
    else
        cat "$SYS/.vmtest-debs"
    fi
} | sha256sum | cut -d' ' -f1)

if [ "$FORCE" -eq 0 ] && [ -s "$BASE_CPIO" ] && [ "$(cat "$CACHE/base.key" 2>/dev/null)" = "$key" ]
then
    log "base layer up to date"
else
    log "building base layer"
    rm -rf "$BASE"
    mkdir -p "$BASE"
    # Merged-/usr skeleton.  The dm rules run /sbin/dmsetup; without these links every
    # synchronised dm operation would wait for ever.
    mkdir -p "$BASE"/usr/{bin,sbin,lib,lib64} "$BASE"/{dev,proc,sys,tmp,run,root,mnt,etc,opt}
    for d in bin sbin lib lib64; do ln -s "usr/$d" "$BASE/$d"; done
    mkdir -p "$BASE/usr/lib/x86_64-linux-gnu"

    # busybox and its applet links (the real tools copied below replace some of them).
    copy_file "$BASE" "$SYS/bin/busybox" /usr/bin/busybox
    while read -r applet; do
        [ -n "$applet" ] || continue
        dst=$(image_path "/$applet")
        [ -e "$BASE$dst" ] || [ -L "$BASE$dst" ] && continue
        mkdir -p "$BASE$(dirname "$dst")"
        ln -s /usr/bin/busybox "$BASE$dst"
    done < <("$SYS/bin/busybox" --list-full)

    for spec in "${PROGRAMS[@]}"; do
        src=${spec%%:*}
        dst=$(image_path "$src")
        [ "$spec" != "$src" ] && dst=${spec#*:}
        [ -e "$SYS$src" ] || die "$SYS$src is missing (run prepare.sh)"
        copy_file "$BASE" "$SYS$src" "$dst"
        copy_libs "$BASE" "$SYS$src"
    done
    # multipath-tools (see MPDIR above).
    [ -n "$SYS" ] || [ -e "$MPDIR/.unpacked" ] || die "$MPDIR is missing (run prepare.sh)"
    for f in "$MPDIR"/sbin/multipathd "$MPDIR"/sbin/multipath "$MPDIR"/lib/lib*.so.* \
             "$MPDIR"/lib/multipath/*.so; do
        dst=/usr${f#"$MPDIR"}
        copy_file "$BASE" "$f" "$dst"
    done
    for f in "$MPDIR"/sbin/multipathd "$MPDIR"/sbin/multipath "$MPDIR"/lib/multipath/*.so; do
        if [ -n "$SYS" ]; then
            copy_libs "$BASE" "$f"   # everything is in the root (missing libraries: die)
            continue
        fi
        if LD_LIBRARY_PATH=$MPDIR/lib ldd "$f" | grep -q 'not found'; then
            die "$f: a shared library is missing on the host (run prepare.sh)"
        fi
        LD_LIBRARY_PATH=$MPDIR/lib copy_libs "$BASE" "$f" "" "$MPDIR"
    done
    mkdir -p "$BASE/opt/mpath/udev/rules.d" "$BASE/etc/multipath"
    for r in "${MP_RULES[@]}"; do
        copy_file "$BASE" "$MPDIR/lib/udev/rules.d/$r" "/opt/mpath/udev/rules.d/$r"
    done
    # The GNU time-like reporting comes from busybox's `time -v` applet (bench.sh).

    # udev rules and the reference's (inactive) udev files.
    mkdir -p "$BASE/usr/lib/udev/rules.d" "$BASE/etc/udev/rules.d" "$BASE/opt/ref/udev/rules.d"
    for r in "${RULES[@]}"; do
        src=$SYS/lib/udev/rules.d/$r
        [ -e "$src" ] || die "udev rule $src missing"
        copy_file "$BASE" "$src" "/usr/lib/udev/rules.d/$r"
    done
    for f in "${REF_UDEV[@]}"; do
        [ -e "$SYS/lib/udev/$f" ] && copy_file "$BASE" "$SYS/lib/udev/$f" "/opt/ref/udev/$f"
    done
    [ -e "$SYS/etc/udev/udev.conf" ] && copy_file "$BASE" "$SYS/etc/udev/udev.conf" /etc/udev/udev.conf
    [ -e "$SYS/etc/mke2fs.conf" ] && copy_file "$BASE" "$SYS/etc/mke2fs.conf" /etc/mke2fs.conf

    # Kernel modules, uncompressed, with their load order in /etc/vmtest/modules (loaded at
    # boot) and /etc/vmtest/modules-scsi (loaded by the scenarios that want an sd* disk).
    mkdir -p "$BASE/usr/lib/modules/$KVER" "$BASE/etc/vmtest"
    for list in modules:MODULES modules-scsi:MODULES_SCSI; do
        : >"$BASE/etc/vmtest/${list%%:*}"
        declare -n mods=${list#*:}
        # (through a file: a module missing must stop the build, which a pipe would hide)
        resolve_modules "${mods[@]}" >"$BASE/etc/vmtest/${list%%:*}.rel" || exit 1
        while read -r rel; do
            printf '%s\n' "$(install_module "$rel")" >>"$BASE/etc/vmtest/${list%%:*}"
        done <"$BASE/etc/vmtest/${list%%:*}.rel"
        rm -f "$BASE/etc/vmtest/${list%%:*}.rel"
        unset -n mods
    done

    # /etc: users and groups (udev rules name these groups), mtab for mke2fs and mount.
    cat >"$BASE/etc/passwd" <<'EOT'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOT
    cat >"$BASE/etc/group" <<'EOT'
root:x:0:
tty:x:5:
disk:x:6:
lp:x:7:
kmem:x:15:
dialout:x:20:
cdrom:x:24:
floppy:x:25:
tape:x:26:
audio:x:29:
video:x:44:
input:x:101:
kvm:x:102:
render:x:103:
sgx:x:104:
nogroup:x:65534:
EOT
    : >"$BASE/etc/fstab"
    ln -s /proc/self/mounts "$BASE/etc/mtab"
    printf 'vmtest\n' >"$BASE/etc/hostname"
    # Which stack this image is (lib.sh: VM_STACK), for the few stack-aware expectations.
    printf '%s\n' "$STACK" >"$BASE/etc/vmtest/stack"

    make_cpio "$BASE" "$BASE_CPIO"
    printf '%s\n' "$key" >"$CACHE/base.key"
    log "base layer: $(du -h "$BASE_CPIO" | cut -f1)"
fi

# ------------------------------------------------------------------------------------------------
# Top layer: init, harness, binary under test, overlay
# ------------------------------------------------------------------------------------------------
TOP=$(mktemp -d "$CACHE/top.XXXXXX")
trap 'rm -rf "$TOP" "$TOP.cpio.gz"' EXIT

install -D -m 0755 "$HERE/init.sh" "$TOP/init"
mkdir -p "$TOP/harness/scenarios"
install -m 0644 "$HERE/lib.sh" "$TOP/harness/lib.sh"
install -m 0644 "$HERE/hotplug-lib.sh" "$TOP/harness/hotplug-lib.sh"
install -m 0644 "$HERE/mpath-lib.sh" "$TOP/harness/mpath-lib.sh"
install -m 0755 "$HERE/run-scenario.sh" "$HERE"/bench.sh "$HERE"/bench-*.sh "$TOP/harness/"
for f in "$HERE"/scenarios/*.sh; do
    [ -e "$f" ] && install -m 0644 "$f" "$TOP/harness/scenarios/"
done

if [ -n "$OVERLAY" ]; then
    # Copy the tree; fold top-level bin/sbin/lib/lib64 into usr/ (the base has them as symlinks,
    # and a directory entry in the top archive would replace such a symlink).
    for entry in "$OVERLAY"/* "$OVERLAY"/.[!.]*; do
        [ -e "$entry" ] || [ -L "$entry" ] || continue
        name=$(basename "$entry")
        case $name in
            bin|sbin|lib|lib64)
                [ -L "$entry" ] && continue   # the DESTDIR's own merged-/usr links
                mkdir -p "$TOP/usr/$name"
                cp -a "$entry/." "$TOP/usr/$name/"
                ;;
            *) cp -a "$entry" "$TOP/" ;;
        esac
    done
    while IFS= read -r -d '' f; do
        copy_libs "$TOP" "$f" "$BASE"
    done < <(find "$TOP" -path "$TOP/harness" -prune -o -type f -print0)
fi

if [ -n "$KPARTX" ]; then
    mkdir -p "$TOP/opt/rs"
    if [ "$STRIP" -eq 1 ] && is_elf "$KPARTX"; then
        strip --strip-debug -o "$TOP/opt/rs/kpartx" "$KPARTX"
    else
        cp "$KPARTX" "$TOP/opt/rs/kpartx"
    fi
    chmod 0755 "$TOP/opt/rs/kpartx"
    copy_libs "$TOP" "$KPARTX" "$BASE"
fi

make_cpio "$TOP" "$TOP.cpio.gz"
mkdir -p "$(dirname "$OUT")"
cat "$BASE_CPIO" "$TOP.cpio.gz" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
rm -f "$TOP.cpio.gz"
log "wrote $OUT ($(du -h "$OUT" | cut -f1))"
