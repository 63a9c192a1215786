#!/bin/bash
# packaging/debian/make-orig.sh — the upstream tarballs of kpartx-rs, from the git tree.
#
#   packaging/debian/make-orig.sh [--outdir DIR] [--no-unpack] [--reuse-vendor]
#
# Writes, into DIR (default: the directory above the source tree, where dpkg-buildpackage
# looks for them):
#   kpartx-rs_<version>.orig.tar.xz          `git archive HEAD` without debian/
#   kpartx-rs_<version>.orig-vendor.tar.xz   `cargo vendor --versioned-dirs` of Cargo.lock, the
#                                           component tarball dpkg-source unpacks as vendor/
# and (unless --no-unpack) unpacks the vendor tarball as ./vendor, which `dpkg-buildpackage -b`
# in this tree and packaging/rpm/build-rpm.sh need. The RPM spec uses the same two files
# (Source0, Source1).
#
# --reuse-vendor keeps an existing vendor tarball newer than Cargo.lock (CI, repeated runs).
# cargo vendor needs the network (or a filled ~/.cargo/registry) once; the build is offline.
# Crates for Windows targets are reduced to their manifest, licence files and an empty
# src/lib.rs: Cargo.lock names them, so cargo must see them, but no Linux build compiles
# them, and their import libraries are most of the vendor tree's size. Prebuilt .dll/.exe test
# files of other crates are dropped too (lintian: source-contains-prebuilt-windows-binary).
#
# Both tarballs are reproducible: file times are the time of debian/changelog's last entry
# (SOURCE_DATE_EPOCH), owners root, names sorted, xz single-threaded. The upstream version is
# debian/changelog's, which must match Cargo.toml. Prints the two tarball paths.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
cd "$TOP"

die() { echo "make-orig: error: $*" >&2; exit 1; }

OUTDIR=$(dirname "$TOP")
UNPACK=1
REUSE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --outdir) [ $# -ge 2 ] || die "--outdir needs a directory"; OUTDIR=$2; shift 2 ;;
        --no-unpack) UNPACK=0; shift ;;
        --reuse-vendor) REUSE=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1" ;;
    esac
done

for tool in git cargo python3 tar xz dpkg-parsechangelog; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
git rev-parse --git-dir >/dev/null 2>&1 || die "$TOP is not a git checkout"
if ! git diff --quiet HEAD -- . ':!vendor' 2>/dev/null; then
    echo "make-orig: warning: uncommitted changes are not in the orig tarball (git archive HEAD)" >&2
fi

DEBVERSION=$(dpkg-parsechangelog -S Version)
UPSTREAM=${DEBVERSION%-*}
UPSTREAM=${UPSTREAM#*:}
CARGO_VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
[ "$UPSTREAM" = "$CARGO_VERSION" ] ||
    die "debian/changelog says $UPSTREAM, Cargo.toml says $CARGO_VERSION"
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -S Timestamp)
export SOURCE_DATE_EPOCH

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
ORIG=$OUTDIR/kpartx-rs_$UPSTREAM.orig.tar.xz
VENDOR_TAR=$OUTDIR/kpartx-rs_$UPSTREAM.orig-vendor.tar.xz
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# 1. The project: what git tracks at HEAD, less the Debian packaging (the .debian.tar.xz).
git archive --format=tar --prefix="kpartx-rs-$UPSTREAM/" HEAD -- . ':(exclude)debian' |
    xz -6 -T1 >"$ORIG.tmp"
mv -f "$ORIG.tmp" "$ORIG"

# 2. The crates.
if [ "$REUSE" = 1 ] && [ -f "$VENDOR_TAR" ] && [ "$VENDOR_TAR" -nt Cargo.lock ]; then
    echo "make-orig: reusing $VENDOR_TAR" >&2
else
cargo vendor --locked --versioned-dirs --quiet "$WORK/vendor" >/dev/null
python3 - "$WORK/vendor" <<'EOF'
import json, os, shutil, sys
vendor = sys.argv[1]
for d in sorted(os.listdir(vendor)):
    if not d.startswith("windows"):
        # Prebuilt Windows test binaries (libloading's tests/*.dll) are not source.
        path = os.path.join(vendor, d)
        sums_path = os.path.join(path, ".cargo-checksum.json")
        with open(sums_path) as f:
            sums = json.load(f)
        gone = [n for n in sums["files"] if n.endswith((".dll", ".exe"))]
        for n in gone:
            os.remove(os.path.join(path, n))
            del sums["files"][n]
        if gone:
            with open(sums_path, "w") as f:
                json.dump(sums, f, sort_keys=True)
        continue
    path = os.path.join(vendor, d)
    with open(os.path.join(path, ".cargo-checksum.json")) as f:
        checksum = json.load(f)
    has_build = os.path.exists(os.path.join(path, "build.rs"))
    for name in os.listdir(path):
        if name in ("Cargo.toml", ".cargo-checksum.json") or name.upper().startswith(("LICENSE", "COPYING")):
            continue
        full = os.path.join(path, name)
        shutil.rmtree(full) if os.path.isdir(full) and not os.path.islink(full) else os.remove(full)
    os.makedirs(os.path.join(path, "src"))
    with open(os.path.join(path, "src", "lib.rs"), "w") as f:
        f.write("// Windows-only crate, emptied by packaging/debian/make-orig.sh.\n")
    if has_build:
        with open(os.path.join(path, "build.rs"), "w") as f:
            f.write("fn main() {}\n")
    # The files changed; the package checksum (Cargo.lock's) stays.
    checksum["files"] = {}
    with open(os.path.join(path, ".cargo-checksum.json"), "w") as f:
        json.dump(checksum, f, sort_keys=True)
EOF
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --owner=0 --group=0 --numeric-owner \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --format=posix -C "$WORK" -cf - vendor | xz -6 -T1 >"$VENDOR_TAR.tmp"
mv -f "$VENDOR_TAR.tmp" "$VENDOR_TAR"
fi

# 3. vendor/ for building in this tree.
if [ "$UNPACK" = 1 ]; then
    rm -rf vendor
    tar -xJf "$VENDOR_TAR"
fi

echo "$ORIG"
echo "$VENDOR_TAR"
