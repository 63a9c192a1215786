#!/bin/bash
# packaging/debian/build-deb.sh — build the kpartx-rs Debian packages from source, as a
# distribution would: `dpkg-buildpackage -us -uc -b` in an unpacked source tree.
#
#   [OUT=target/packages] [BUILD_DIR=$OUT/deb-build] packaging/debian/build-deb.sh
#
# The tree is the orig tarball of packaging/debian/make-orig.sh (the project at git HEAD; the
# tarballs are kept in $OUT/sources and the vendor one reused while newer than Cargo.lock),
# the vendor component tarball as vendor/ and this checkout's debian/ directory. Building
# there rather than in the checkout keeps dpkg-buildpackage's ../ output and debian/ build
# files out of the working tree. Needs the Build-Depends of debian/control (debhelper,
# libclang-dev, libdevmapper-dev, libudev-dev, pkgconf) and cargo >= 1.88 on PATH.
# Copies the .deb, -dbgsym .deb, .buildinfo and .changes to OUT; prints the .deb's path on the
# last line.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
cd "$TOP"

die() { echo "build-deb: error: $*" >&2; exit 1; }

for tool in dpkg-buildpackage dh cargo tar xz; do
    command -v "$tool" >/dev/null || die "$tool is missing (see debian/README.source)"
done

OUT=${OUT:-$TOP/target/packages}
mkdir -p "$OUT/sources"
OUT=$(realpath "$OUT")
BUILD_DIR=${BUILD_DIR:-$OUT/deb-build}

mapfile -t tarballs < <("$HERE/make-orig.sh" --outdir "$OUT/sources" --no-unpack --reuse-vendor)
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

(cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$BUILD_DIR/build.log" 2>&1 ||
    { tail -n 60 "$BUILD_DIR/build.log" >&2; die "dpkg-buildpackage failed (log: $BUILD_DIR/build.log)"; }

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
