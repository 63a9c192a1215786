#!/bin/bash
# packaging/rpm/build-rpm.sh — build the kpartx-rs RPMs from source, offline.
#
#   [OUT=target/packages] [KPARTX_COMPAT_EVR=0.9.9-12.fc42] packaging/rpm/build-rpm.sh
#
# Runs `rpmbuild -ba packaging/rpm/kpartx-rs.spec` with a private topdir (nothing is written to
# ~/rpmbuild). Its sources are the tarballs of packaging/debian/make-orig.sh (the project at git
# HEAD and the vendored crates), taken from $OUT/sources/ when there and made otherwise. The
# spec's %build runs cargo offline; %check runs the unit tests. rpmbuild comes from the `rpm`
# package on Debian (apt-get install rpm); --nodeps because Debian's rpm database is empty.
# KPARTX_COMPAT_EVR sets the spec's kpartx_compat_evr (see the spec's header).
# Copies the binary and source RPMs to OUT and prints the binary RPM's path on the last line.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
cd "$TOP"

die() { echo "build-rpm: error: $*" >&2; exit 1; }

command -v rpmbuild >/dev/null || die "rpmbuild is missing (Debian: apt-get install rpm)"
command -v make >/dev/null || die "make is missing"
command -v cargo >/dev/null || die "cargo is missing (a rustup toolchain >= 1.88)"

OUT=${OUT:-$TOP/target/packages}
VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
[ -n "$VERSION" ] || die "no version in Cargo.toml"
SPEC_VERSION=$(sed -n 's/^Version: *//p' "$HERE/kpartx-rs.spec")
[ "$SPEC_VERSION" = "$VERSION" ] || die "kpartx-rs.spec says $SPEC_VERSION, Cargo.toml says $VERSION"

mkdir -p "$OUT/sources"
OUT=$(realpath "$OUT")
ORIG=$OUT/sources/kpartx-rs_$VERSION.orig.tar.xz
VENDOR=$OUT/sources/kpartx-rs_$VERSION.orig-vendor.tar.xz
if [ ! -f "$ORIG" ] || [ ! -f "$VENDOR" ]; then
    "$TOP/packaging/debian/make-orig.sh" --outdir "$OUT/sources" --no-unpack >/dev/null
fi

TOPDIR=$(mktemp -d "$OUT/.rpm-build.XXXXXX")
trap 'rm -rf "$TOPDIR"' EXIT
mkdir -p "$TOPDIR"/{BUILD,BUILDROOT,RPMS,SOURCES,SPECS,SRPMS,tmp}
cp "$ORIG" "$TOPDIR/SOURCES/kpartx-rs-$VERSION.tar.xz"
cp "$VENDOR" "$TOPDIR/SOURCES/kpartx-rs-$VERSION-vendor.tar.xz"

defines=(--define "_topdir $TOPDIR" --define "_tmppath $TOPDIR/tmp")
[ -z "${KPARTX_COMPAT_EVR:-}" ] || defines+=(--define "kpartx_compat_evr $KPARTX_COMPAT_EVR")
defines+=(--define "packager kpartx-rs developers <kpartx-rs@users.noreply.github.com>")
# Debian's rpm: no -debuginfo package (nothing turns %debug_package on), and its brp-strip only
# strips debug info (-g), so strip the symbols too; its brp-compress uses bash's read -d under
# #!/bin/sh and compresses nothing, so run it with bash. Fedora's own macros do both right.
if [ -r /etc/debian_version ]; then
    # brp-strip takes one word for strip and adds -g, which would override --strip-unneeded:
    # a wrapper drops -g.
    printf '#!/bin/sh\nfor a; do shift; [ "$a" = -g ] || set -- "$@" "$a"; done\nexec strip --strip-unneeded "$@"\n' \
        >"$TOPDIR/strip-unneeded"
    chmod 0755 "$TOPDIR/strip-unneeded"
    defines+=(--define "__brp_strip /usr/lib/rpm/brp-strip $TOPDIR/strip-unneeded"
              --define "__brp_compress /bin/bash /usr/lib/rpm/brp-compress %{_prefix}")
fi
# Reproducible timestamps in the RPM headers and payload.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
defines+=(--define "use_source_date_epoch_as_buildtime 1" --define "clamp_mtime_to_source_date_epoch 1")

# RPM_NOCHECK=1 skips %check (the CI runs the unit tests in a stage of their own).
nocheck=()
[ -z "${RPM_NOCHECK:-}" ] || nocheck=(--nocheck)
rpmbuild -ba --nodeps "${nocheck[@]}" "${defines[@]}" "$HERE/kpartx-rs.spec" >"$TOPDIR/build.log" 2>&1 ||
    { tail -n 60 "$TOPDIR/build.log" >&2; die "rpmbuild failed (log above)"; }
cp "$TOPDIR/build.log" "$OUT/rpmbuild.log"

find "$TOPDIR/RPMS" "$TOPDIR/SRPMS" -name '*.rpm' -exec mv -f {} "$OUT/" \;
rpm_file=$(find "$OUT" -maxdepth 1 -name "kpartx-rs-$VERSION-*.rpm" ! -name '*.src.rpm' \
    ! -name '*-debuginfo-*' ! -name '*-debugsource-*' | head -n 1)
[ -n "$rpm_file" ] || { cat "$TOPDIR/build.log" >&2; die "rpmbuild produced no package"; }
echo "$rpm_file"
