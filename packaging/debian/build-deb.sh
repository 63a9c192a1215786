#!/bin/bash
# packaging/debian/build-deb.sh — build the kpartx-rs Debian packages from source, as a
# distribution would: `dpkg-buildpackage -us -uc -b` in an unpacked source tree.
#
#   [OUT=target/packages] [BUILD_DIR=$OUT/deb-build] [SOURCES=$OUT/sources] [STACK=13]
#       packaging/debian/build-deb.sh
#
# The tree is the orig tarball of packaging/debian/make-orig.sh (the project at git HEAD; the
# tarballs are kept in $OUT/sources and the vendor one reused while newer than Cargo.lock),
# the vendor component tarball as vendor/ and this checkout's debian/ directory. Building
# there rather than in the checkout keeps dpkg-buildpackage's ../ output and debian/ build
# files out of the working tree. Needs the Build-Depends of debian/control (debhelper,
# libclang-dev, libdevmapper-dev, libudev-dev, pkgconf) and cargo >= 1.88 on PATH.
# Copies the .deb, -dbgsym .deb, .buildinfo and .changes to OUT; prints the .deb's path on the
# last line.
#
# With STACK=12 or 13, dpkg-buildpackage runs instead in a throwaway root of that Debian release
# (bookworm, trixie): mmdebstrap --variant=buildd, the Build-Depends installed there by
# `apt-get build-dep ./` from debian/control, and lintian (packaging/debian/pkg-root.sh; the root
# is cached as a tarball in tests/vm/cache/pkg-roots/build-<suite>.tar, a few minutes to make
# once). The build directory is bind-mounted at /build and this host's Rust toolchain
# (`rustc --print sysroot`, read-only) at /opt/rust, first on PATH: the Rust of both releases
# is older than 1.88 (debian/README.source). Only the tarballs and the .deb cross between the
# two; the root is removed afterwards. With LINTIAN_LOG=FILE, that release's
# `lintian --pedantic --fail-on error,warning` runs on the .changes there too; its output and a
# last line "lintian exit status: N" go to FILE.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
cd "$TOP"

die() { echo "build-deb: error: $*" >&2; exit 1; }

TOOLS=(dpkg-buildpackage dh cargo tar xz)
[ -n "${STACK:-}" ] && TOOLS=(dpkg-parsechangelog cargo rustc tar xz mmdebstrap unshare)
for tool in "${TOOLS[@]}"; do
    command -v "$tool" >/dev/null || die "$tool is missing (see debian/README.source)"
done

OUT=${OUT:-$TOP/target/packages}
SOURCES=${SOURCES:-$OUT/sources}
mkdir -p "$OUT" "$SOURCES"
OUT=$(realpath "$OUT")
BUILD_DIR=${BUILD_DIR:-$OUT/deb-build}

mapfile -t tarballs < <("$HERE/make-orig.sh" --outdir "$SOURCES" --no-unpack --reuse-vendor)
ORIG=${tarballs[0]}
VENDOR=${tarballs[1]}
UPSTREAM=$(dpkg-parsechangelog -S Version)
UPSTREAM=${UPSTREAM%-*}

rm -rf "$BUILD_DIR"
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(realpath "$BUILD_DIR")
SRC=$BUILD_DIR/kpartx-rs-$UPSTREAM
tar -C "$BUILD_DIR" -xJf "$ORIG"
tar -C "$SRC" -xJf "$VENDOR"
cp -a debian "$SRC/"
ln -s "$ORIG" "$BUILD_DIR/${ORIG##*/}"
ln -s "$VENDOR" "$BUILD_DIR/${VENDOR##*/}"

if [ -z "${STACK:-}" ]; then
    (cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$BUILD_DIR/build.log" 2>&1 ||
        { tail -n 60 "$BUILD_DIR/build.log" >&2; die "dpkg-buildpackage failed (log: $BUILD_DIR/build.log)"; }
else
    # shellcheck source=packaging/debian/pkg-root.sh
    . "$HERE/pkg-root.sh"
    suite=$(stack_suite "$STACK") || exit 1
    echo "build-deb: $suite build root (mmdebstrap, cached)" >&2
    tarball=$(build_root_tar "$suite") || die "no $suite build root"
    sysroot=$(rustc --print sysroot)
    [ -x "$sysroot/bin/cargo" ] || die "no cargo in the toolchain $sysroot"
    CHROOT=$(mktemp -d "$OUT/.root-$suite.XXXXXX")
    trap 'pkg_root_remove "$CHROOT"' EXIT
    pkg_root_extract "$tarball" "$CHROOT" || die "cannot unpack $tarball"
    buildenv=(PATH=/opt/rust/bin:/usr/sbin:/usr/bin:/sbin:/bin)
    [ -n "${DEB_BUILD_OPTIONS:-}" ] && buildenv+=("DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS")
    [ -n "${DEB_BUILD_PROFILES:-}" ] && buildenv+=("DEB_BUILD_PROFILES=$DEB_BUILD_PROFILES")
    inroot() {
        pkg_root_run "$CHROOT" --bind "$BUILD_DIR:/build" --ro-bind "$sysroot:/opt/rust" -- \
            env "${buildenv[@]}" "$@"
    }
    echo "build-deb: dpkg-buildpackage in $suite (rustc $(rustc --version | cut -d' ' -f2) from the host)" >&2
    inroot sh -c "cd /build/${SRC##*/} && dpkg-buildpackage -us -uc -b" >"$BUILD_DIR/build.log" 2>&1 ||
        { tail -n 60 "$BUILD_DIR/build.log" >&2; die "dpkg-buildpackage in $suite failed (log: $BUILD_DIR/build.log)"; }
    if [ -n "${LINTIAN_LOG:-}" ]; then
        inroot sh -c 'lintian --version; lintian --pedantic --fail-on error,warning /build/kpartx-rs_*.changes
            echo "lintian exit status: $?"' >"$LINTIAN_LOG" 2>&1
    fi
fi

changes=$(find "$BUILD_DIR" -maxdepth 1 -name 'kpartx-rs_*.changes' | head -n 1)
[ -n "$changes" ] || die "dpkg-buildpackage made no .changes"
deb=
for f in "$changes" $(sed -n '/^Files:/,/^[A-Z]/s/^ [0-9a-f]\{32\} [0-9]* [^ ]* [^ ]* //p' "$changes"); do
    f=${f##*/}
    cp -f "$BUILD_DIR/$f" "$OUT/"
    case $f in kpartx-rs_*.deb) deb=$OUT/$f ;; esac
done
[ -n "$deb" ] || die "no kpartx-rs .deb in $changes"
echo "$deb"
