#!/bin/bash
# scripts/test-all.sh — sets up a fresh machine and runs every test:
#   1. host packages (scripts/setup-host.sh) and the VM kernel (tests/vm/prepare.sh)
#   2. cargo fmt --check and cargo clippy -D warnings
#   3. cargo test: unit tests, property tests, and `kpartx -l` compared byte for byte with the
#      reference binary on images made with sfdisk/sgdisk/parted
#   4. the packages: Debian and RPM layout (packaging/test-packages.sh)
#   5. device-mapper and udev scenarios in a QEMU VM with a real Debian kernel, this project's
#      binary, rules and policy installed by `make install` next to the reference kpartx
# Ends with one line "all: N passed, N failed" counting the stages.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
stage() {
    local name=$1
    shift
    echo "=== $name"
    if "$@"; then
        passed=$((passed + 1))
        echo "=== $name: ok"
    else
        failed=$((failed + 1))
        echo "=== $name: FAILED"
    fi
}

set -e
scripts/setup-host.sh
tests/vm/prepare.sh
set +e

stage "format" cargo fmt --check
stage "clippy" cargo clippy --all-targets --locked -- -D warnings
stage "cargo test" cargo test --locked
stage "release build" cargo build --release --locked
stage "packages" packaging/test-packages.sh
vm_root=$(mktemp -d)
stage "install into VM root" make install DESTDIR="$vm_root" BIN=target/release/kpartx
stage "VM scenarios" tests/vm/run.sh --kpartx target/release/kpartx --overlay "$vm_root" all
rm -rf "$vm_root"

echo "all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
