#!/bin/bash
# packaging/rpm/build-rpm.sh — build the kpartx-rs binary RPM from a prebuilt binary.
#
#   [BIN=target/release/kpartx] [OUT=target/packages] packaging/rpm/build-rpm.sh
#
# Runs `rpmbuild -bb packaging/rpm/kpartx-rs.spec` with a private topdir (nothing is written
# to ~/rpmbuild); the spec's %install is `make install DESTDIR=%{buildroot}` with BIN.
# rpmbuild comes from the `rpm` package on Debian (apt-get install rpm). The binary is built
# with cargo first if the default target/release/kpartx is missing.
# Prints the path of the .rpm on the last line.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
cd "$TOP"

die() { echo "build-rpm: error: $*" >&2; exit 1; }

command -v rpmbuild >/dev/null || die "rpmbuild is missing (Debian: apt-get install rpm)"
command -v make >/dev/null || die "make is missing"

BIN=${BIN:-target/release/kpartx}
OUT=${OUT:-$TOP/target/packages}
if [ ! -x "$BIN" ]; then
    [ "$BIN" = target/release/kpartx ] || die "BIN=$BIN is not an executable file"
    cargo build --release --locked
fi
BIN=$(realpath "$BIN")
VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
[ -n "$VERSION" ] || die "no version in Cargo.toml"

mkdir -p "$OUT"
OUT=$(realpath "$OUT")
TOPDIR=$(mktemp -d "$OUT/.rpm-build.XXXXXX")
trap 'rm -rf "$TOPDIR"' EXIT
mkdir -p "$TOPDIR"/{BUILD,BUILDROOT,RPMS,SOURCES,SPECS,SRPMS,tmp}

# On Debian, rpmbuild must not look for build dependencies in the (empty) rpm database.
rpmbuild -bb --nodeps \
    --define "_topdir $TOPDIR" \
    --define "_tmppath $TOPDIR/tmp" \
    --define "kpartx_srcdir $TOP" \
    --define "kpartx_bin $BIN" \
    --define "kpartx_version $VERSION" \
    "$HERE/kpartx-rs.spec" >"$TOPDIR/build.log" 2>&1 ||
    { cat "$TOPDIR/build.log" >&2; die "rpmbuild failed"; }

rpm_file=$(find "$TOPDIR/RPMS" -name 'kpartx-rs-*.rpm' | head -n 1)
[ -n "$rpm_file" ] || { cat "$TOPDIR/build.log" >&2; die "rpmbuild produced no package"; }
mv -f "$rpm_file" "$OUT/"
echo "$OUT/${rpm_file##*/}"
