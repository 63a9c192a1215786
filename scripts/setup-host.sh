#!/bin/bash
# scripts/setup-host.sh — installs what building and testing kpartx needs on a fresh Debian
# machine that has only the Rust toolchain, gcc, python3 and qemu-utils. Idempotent.
#
#   build:  pkg-config, libdevmapper-dev (and libudev-dev through it), libclang for bindgen
#   tests:  the reference kpartx, sfdisk/sgdisk/parted to make images, util-linux (losetup)
#   packages: debhelper, lintian, rpm, rpmlint, libclang-dev (debian/control's Build-Depends),
#             file and cpio, mmdebstrap (packaging/test-packages.sh: the initramfs check builds
#             a throwaway Debian root)
#   VM:     tests/vm/prepare.sh installs QEMU and fetches the Debian cloud kernel
set -euo pipefail

PKGS=(pkg-config libdevmapper-dev libudev-dev libclang1-14 libclang-common-14-dev linux-libc-dev
      kpartx fdisk gdisk parted util-linux
      dpkg-dev debhelper lintian rpm rpmlint libclang-dev pkgconf xz-utils file cpio
      python3-jsonschema mmdebstrap)

missing=()
for p in "${PKGS[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [[ $status == ii* ]] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup-host: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The JSON report tests validate against packaging/schema/ with Python's jsonschema, run by
# whichever python3 is first on PATH (on this kind of machine a separate CPython with pip).
if ! python3 -c 'import jsonschema' 2>/dev/null; then
    echo "setup-host: installing the jsonschema Python package" >&2
    python3 -m pip install -q jsonschema
fi
