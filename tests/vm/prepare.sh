#!/bin/bash
# tests/vm/prepare.sh — idempotent host setup for the VM test harness.
#
# * installs (with apt-get) the host packages the harness needs: QEMU, cpio, a static busybox, the
#   reference kpartx and the tools copied into the VM image;
# * downloads the Debian cloud kernel package (the one linux-image-cloud-amd64 depends on) into
#   tests/vm/cache/ and unpacks it there with dpkg-deb -x.  The package is never installed.
# * likewise downloads Debian's multipath-tools (multipathd, multipath, libmultipath, checker
#   plugins, udev rules) and unpacks it into tests/vm/cache/multipath-tools/ for the VM image;
#   installing it on the host would start services and add udev rules there.  Its shared-library
#   dependencies that the host lacks (liburcu8, libaio1) are installed, so that ldd resolves them.
#
# With VM_STACK=13 (Debian 13, trixie) it instead builds, with mmdebstrap, a trixie root in
# tests/vm/cache/deb13/root (variant "extract": the packages' files and their dependencies, no
# maintainer script runs), which holds the kernel (linux-image-cloud-amd64, 6.12), udev 257,
# trixie's dmsetup rules (DM_UDEV_RULES_VSN=3), multipath-tools and kpartx 0.11.1 and every tool
# the VM image copies; build-initramfs.sh takes the base layer from it.  The root is rebuilt only
# when the package list below (or VM_REFRESH=1) asks for it.
#
# Work that is already done is skipped, so this is cheap to call before every run.
# Environment: VM_CACHE overrides the cache directory (default tests/vm/cache; Debian 13 uses its
# subdirectory deb13/), VM_STACK selects the stack (12, the default, or 13).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STACK=${VM_STACK:-12}
case $STACK in
    12) CACHE=${VM_CACHE:-$HERE/cache} ;;
    13) CACHE=${VM_CACHE:-$HERE/cache}/deb13 ;;
    *) printf 'prepare: error: VM_STACK=%s: only 12 and 13 are known\n' "$STACK" >&2; exit 1 ;;
esac

log() { printf 'prepare: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get, and losetup-free but root-owned cache)"

# Host packages.  qemu-system-x86 is installed without its (large) recommends.
PKGS_NORECOMMENDS=(qemu-system-x86)
PKGS=(cpio busybox-static dmsetup kpartx fdisk gdisk parted util-linux udev e2fsprogs mdadm kmod
      gzip xz-utils zstd binutils liburcu8 libaio1)

# Succeeds when every named package is installed.
all_installed() {
    local p status
    for p in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
        [[ $status == ii* ]] || return 1
    done
}

APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        apt-get update -qq
        APT_UPDATED=1
    fi
}

# unpack_deb PKG DIR: the newest PKG .deb in $CACHE/deb (downloaded first when there is none)
# unpacked into an emptied DIR, without installing it; its path is left in UNPACKED_DEB.
unpack_deb() {
    local pkg=$1 dir=$2 debs
    shopt -s nullglob
    debs=("$CACHE/deb/${pkg}_"*.deb)
    if [ ${#debs[@]} -eq 0 ]; then
        apt_update_once
        log "downloading $pkg"
        (cd "$CACHE/deb" && apt-get download -qq -o APT::Sandbox::User=root "$pkg")
        debs=("$CACHE/deb/${pkg}_"*.deb)
    fi
    [ ${#debs[@]} -ge 1 ] || die "download of $pkg failed"
    UNPACKED_DEB=${debs[-1]}
    log "unpacking ${UNPACKED_DEB##*/}"
    rm -rf "$dir"
    mkdir -p "$dir"
    dpkg-deb -x "$UNPACKED_DEB" "$dir"
}

export DEBIAN_FRONTEND=noninteractive
if ! all_installed "${PKGS_NORECOMMENDS[@]}"; then
    apt_update_once
    log "installing ${PKGS_NORECOMMENDS[*]} (no recommends)"
    apt-get install -y -qq --no-install-recommends "${PKGS_NORECOMMENDS[@]}" >/dev/null
fi
if ! all_installed "${PKGS[@]}"; then
    apt_update_once
    log "installing ${PKGS[*]}"
    apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
fi

# Debian 13: everything comes from one trixie root (see the header).
if [ "$STACK" = 13 ]; then
    if ! all_installed mmdebstrap; then
        apt_update_once
        log "installing mmdebstrap"
        apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
    fi
    ROOT=$CACHE/root
    # The trixie packages the VM image is made from (their dependencies come along).
    PKGS13=(linux-image-cloud-amd64 busybox-static dmsetup kpartx multipath-tools fdisk gdisk parted
            util-linux mount udev e2fsprogs mdadm kmod libc-bin)
    MIRROR=${VM_MIRROR_13:-http://deb.debian.org/debian}
    want="trixie ${PKGS13[*]}"
    if [ "${VM_REFRESH:-0}" = 1 ] || [ ! -e "$ROOT/.vmtest-ready" ] ||
        [ "$(cat "$ROOT/.vmtest-request" 2>/dev/null)" != "$want" ]; then
        log "building the Debian 13 root (mmdebstrap, variant extract)"
        rm -rf "$ROOT" "$ROOT.tmp"
        mkdir -p "$CACHE"
        # The list of .deb files is the root's identity (build-initramfs.sh keys its cache on it):
        # variant extract leaves no dpkg status behind (and runs no hooks), so the downloaded
        # archives are kept, listed, and removed.
        mmdebstrap --quiet --variant=extract --include="$(IFS=,; echo "${PKGS13[*]}")" \
            --skip=cleanup/apt/cache trixie "$ROOT.tmp" "deb $MIRROR trixie main" >&2 ||
            die "mmdebstrap of the trixie root failed"
        (cd "$ROOT.tmp/var/cache/apt/archives" && ls -- *.deb) >"$ROOT.tmp/.vmtest-debs"
        rm -f "$ROOT.tmp"/var/cache/apt/archives/*.deb
        # Merged-/usr links (usr-is-merged's job, whose scripts did not run) and the loader's
        # cache, so that `chroot ROOT ldd` resolves the root's own libraries.
        for d in bin sbin lib lib64; do
            [ -e "$ROOT.tmp/$d" ] || ln -s "usr/$d" "$ROOT.tmp/$d"
        done
        chroot "$ROOT.tmp" /usr/sbin/ldconfig
        kver=$(basename "$(find "$ROOT.tmp/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")
        depmod -b "$ROOT.tmp" "$kver"
        printf '%s\n' "$want" >"$ROOT.tmp/.vmtest-request"
        touch "$ROOT.tmp/.vmtest-ready"
        mv "$ROOT.tmp" "$ROOT"
    fi
    vmlinuz=$(find "$ROOT/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n1)
    moddir=$(find "$ROOT/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)
    if [ -z "$vmlinuz" ] || [ -z "$moddir" ]; then die "unexpected layout in $ROOT"; fi
    ln -sfn "${vmlinuz#"$CACHE"/}" "$CACHE/vmlinuz"
    ln -sfn "${moddir#"$CACHE"/}" "$CACHE/modules"
    # build-initramfs.sh's cache key: the kernel and the other packages of the root.
    grep '^linux-image-[0-9]' "$ROOT/.vmtest-debs" >"$CACHE/kernel-package.tmp"
    mv "$CACHE/kernel-package.tmp" "$CACHE/kernel-package"
    log "ready: Debian 13, kernel $(basename "$moddir"), $(grep -E '^(kpartx|udev|dmsetup)_' "$ROOT/.vmtest-debs" | tr '\n' ' ')"
    exit 0
fi

# The kernel: resolve linux-image-cloud-amd64 to the versioned image package, download, unpack.
mkdir -p "$CACHE/deb"
KPKG_FILE=$CACHE/kernel-package
if [ ! -s "$KPKG_FILE" ]; then
    apt_update_once
    kpkg=$(apt-cache depends linux-image-cloud-amd64 |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
    [ -n "$kpkg" ] || die "cannot resolve the kernel package behind linux-image-cloud-amd64"
    printf '%s\n' "$kpkg" >"$KPKG_FILE"
fi
kpkg=$(cat "$KPKG_FILE")
KDIR=$CACHE/kernel/$kpkg
if [ ! -e "$KDIR/.unpacked" ]; then
    unpack_deb "$kpkg" "$KDIR"
    # The package's postinst would run depmod; do it here so that modules.dep exists.
    kver=$(basename "$(find "$KDIR/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")
    depmod -b "$KDIR" "$kver"
    touch "$KDIR/.unpacked"
fi

# multipath-tools for the VM (tests/vm/scenarios/mpath-*.sh): unpacked, never installed.
MPDIR=$CACHE/multipath-tools
if [ ! -e "$MPDIR/.unpacked" ]; then
    unpack_deb multipath-tools "$MPDIR"
    printf '%s\n' "${UNPACKED_DEB##*/}" >"$MPDIR/.unpacked"
fi

# Stable names for the other scripts: cache/vmlinuz and cache/modules (the lib/modules/<ver> tree).
vmlinuz=$(find "$KDIR/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n1)
moddir=$(find "$KDIR/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)
if [ -z "$vmlinuz" ] || [ -z "$moddir" ]; then die "unexpected layout in $KDIR"; fi
ln -sfn "${vmlinuz#"$CACHE"/}" "$CACHE/vmlinuz"
ln -sfn "${moddir#"$CACHE"/}" "$CACHE/modules"
log "ready: kernel $(basename "$moddir") ($kpkg)"
