#!/bin/bash
# packaging/debian/build-deb.sh — build the kpartx-rs Debian package from a prebuilt binary.
#
#   [BIN=target/release/kpartx] [OUT=target/packages] packaging/debian/build-deb.sh
#
# Needs only dpkg-dev tools that every Debian system has (dpkg-deb; dpkg-shlibdeps when
# available), make, gzip and strip; no debhelper, no network. Steps:
#   1. `make install DESTDIR=<staging>` with the prebuilt BIN (built with cargo if the default
#      target/release/kpartx is missing);
#   2. Debian layout: stripped binary, man pages and changelog gzip -9n, copyright in
#      /usr/share/doc/kpartx-rs;
#   3. DEBIAN/: control (Depends from dpkg-shlibdeps), conffiles, md5sums, maintainer scripts;
#   4. dpkg-deb --root-owner-group --build into OUT.
# Prints the path of the .deb on the last line.
#
# Environment: DEB_REVISION (default 1), DEB_MAINTAINER, KPARTX_COMPAT_VERSION (the kpartx
# version this package stands in for, default 0.14.3), SOURCE_DATE_EPOCH, STRIP=0 to keep
# debug symbols.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
cd "$TOP"

die() { echo "build-deb: error: $*" >&2; exit 1; }

BIN=${BIN:-target/release/kpartx}
OUT=${OUT:-$TOP/target/packages}
REVISION=${DEB_REVISION:-1}
MAINTAINER=${DEB_MAINTAINER:-kpartx-rs developers <kpartx-rs@localhost>}
COMPAT=${KPARTX_COMPAT_VERSION:-0.14.3}
STRIP=${STRIP:-1}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date +%s)}

for tool in dpkg-deb dpkg make gzip; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done

if [ ! -x "$BIN" ]; then
    [ "$BIN" = target/release/kpartx ] || die "BIN=$BIN is not an executable file"
    cargo build --release --locked
fi
BIN=$(realpath "$BIN")

UPSTREAM=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
[ -n "$UPSTREAM" ] || die "no version in Cargo.toml"
VERSION=$UPSTREAM-$REVISION
ARCH=$(dpkg --print-architecture)
DEB=$OUT/kpartx-rs_${VERSION}_${ARCH}.deb

mkdir -p "$OUT"
OUT=$(realpath "$OUT")
WORK=$(mktemp -d "$OUT/.deb-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/debian/kpartx-rs
DOC=$ROOT/usr/share/doc/kpartx-rs

# 1. The files, as `make install` lays them out.
make --no-print-directory -C "$TOP" install DESTDIR="$ROOT" BIN="$BIN" \
    PREFIX=/usr SYSCONFDIR=/etc >"$WORK/install.log" ||
    { cat "$WORK/install.log" >&2; die "make install failed"; }

# 2. Debian policy details.
if [ "$STRIP" = 1 ] && command -v strip >/dev/null; then
    strip --strip-unneeded --remove-section=.comment --remove-section=.note \
        "$ROOT/usr/sbin/kpartx"
fi
find "$ROOT/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +
install -d -m 0755 "$DOC"
subst() {
    sed -e "s|@VERSION@|$VERSION|g" -e "s|@ARCH@|$ARCH|g" -e "s|@MAINTAINER@|$MAINTAINER|g" \
        -e "s|@PROVIDES_VERSION@|$COMPAT|g" \
        -e "s|@DATE@|$(date -u -R -d "@$SOURCE_DATE_EPOCH")|g" "$@"
}
subst "$HERE/copyright" >"$DOC/copyright"
subst "$HERE/changelog" | gzip -9n >"$DOC/changelog.Debian.gz"
chmod 0644 "$DOC/copyright" "$DOC/changelog.Debian.gz"
install -D -m 0644 "$HERE/lintian-overrides" "$ROOT/usr/share/lintian/overrides/kpartx-rs"
find "$ROOT" -type d -exec chmod 0755 {} +

# 3. Control area.
install -d -m 0755 "$ROOT/DEBIAN"
DEPENDS=
if command -v dpkg-shlibdeps >/dev/null; then
    printf 'Source: kpartx-rs\n\nPackage: kpartx-rs\nArchitecture: any\n' >"$WORK/debian/control"
    DEPENDS=$(cd "$WORK" && dpkg-shlibdeps -O "debian/kpartx-rs/usr/sbin/kpartx" 2>/dev/null |
        sed -n 's/^shlibs:Depends=//p') || DEPENDS=
    rm -f "$WORK/debian/control"
fi
if [ -z "$DEPENDS" ]; then
    # By hand: what the binary links against.
    DEPENDS="libc6 (>= 2.34)"
    if ldd "$BIN" 2>/dev/null | grep -q 'libgcc_s\.so'; then DEPENDS="$DEPENDS, libgcc-s1"; fi
    if ldd "$BIN" 2>/dev/null | grep -q 'libudev\.so'; then DEPENDS="$DEPENDS, libudev1"; fi
fi
# The device-mapper udev rules (55-dm, 95-dm-notify) complete the udev cookies kpartx waits for.
DEPENDS="$DEPENDS, dmsetup"
SIZE=$(du -sk --apparent-size --exclude=DEBIAN "$ROOT" | cut -f1)
subst "$HERE/control.in" | sed -e "s|@INSTALLED_SIZE@|$SIZE|" -e "s|@DEPENDS@|$DEPENDS|" \
    >"$ROOT/DEBIAN/control"
(cd "$ROOT" && find etc -type f | sort | sed 's|^|/|') >"$ROOT/DEBIAN/conffiles"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print |
    sed 's|^\./||' | sort | xargs -d '\n' md5sum) >"$ROOT/DEBIAN/md5sums"
for script in preinst postinst postrm; do
    install -m 0755 "$HERE/$script" "$ROOT/DEBIAN/$script"
done
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/conffiles" "$ROOT/DEBIAN/md5sums"

# 4. The package.
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
