#!/bin/bash
# scripts/test-all.sh — sets up a fresh machine and runs every test:
#   1. host packages (scripts/setup-host.sh) and the VM kernel (tests/vm/prepare.sh)
#   2. cargo fmt --check and cargo clippy -D warnings, over the workspace; the fuzz targets
#      build; the relative links of README.md and docs/ (scripts/check-doc-links.py)
#   3. cargo test --workspace: unit tests, property tests, doctests, and `kpartx -l` compared byte
#      for byte with the reference binary on images made with sfdisk/sgdisk/parted; every test
#      binary runs even when an earlier one fails (--no-fail-fast); then the kpartx-table
#      library's docs (no warnings) and `cargo package` of it
#   4. the `kpartx -l` comparison again while another thread attaches and detaches loop devices
#      in a tight loop (KPARTX_TEST_LOOP_CHURN=1, fewer random images)
#   5. the packages: Debian and RPM layout, the swap with Debian's kpartx on a Debian 12 and a
#      Debian 13 root (packaging/test-packages.sh; its --build, the .deb built and linted on
#      Debian 13 too, is run by hand)
#   6. device-mapper and udev scenarios in a QEMU VM with a real Debian kernel, this project's
#      binary, rules and policy installed by `make install` next to the reference kpartx; one
#      PASS/FAIL line per scenario as it ends: every scenario on Debian 12 (bookworm: kernel 6.1,
#      udev 252, dm rules version 2, multipath-tools 0.9.4), then the device-mapper, hotplug and
#      multipath scenarios again on Debian 13 (trixie: kernel 6.12, udev 257, dm rules version 3,
#      multipath-tools 0.11.1; tests/vm/README.md, "Two Debian stacks")
# Ends with one line "all: N passed, N failed" counting the stages; each stage's line says how
# long it took.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
stage() {
    local name=$1
    shift
    local t0=$SECONDS
    echo "=== $name"
    if "$@"; then
        passed=$((passed + 1))
        echo "=== $name: ok ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1))
        echo "=== $name: FAILED ($((SECONDS - t0)) s)"
    fi
}

set -e
scripts/setup-host.sh
tests/vm/prepare.sh
VM_STACK=13 tests/vm/prepare.sh
set +e
echo "=== setup: $SECONDS s"

# The scenarios run on Debian 13 as well (the rest run on Debian 12 only; see tests/vm/README.md).
VM13_SCENARIOS=(gpt update multipath mpath-stack hotplug-bad-policy hotplug-del-part-nodes
    hotplug-dm-flags hotplug-dm-loop hotplug-identity hotplug-multipath hotplug-storm hotplug-timing
    foreign-ipc broken-udev)

# CI runs as root with loop devices, the reference and the table tools: a test that would skip
# for lack of them fails instead (testkit::host::skip).
export KPARTX_TEST_REQUIRE_ALL=1

stage "format" cargo fmt --all --check
stage "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
# The fuzz targets (fuzz/, outside the workspace: cargo-fuzz runs them on nightly) build on
# stable against the current API.
stage "fuzz targets build" bash -c 'cd fuzz && cargo fmt --check && cargo check --locked --bins'
# Every relative link (and anchor) in README.md and docs/ resolves: a second or less.
stage "doc links" python3 scripts/check-doc-links.py
stage "cargo test" cargo test --workspace --locked --no-fail-fast
# The readers' library (crates/kpartx-table): its documentation builds without a warning
# (missing docs, broken links), and it packages as crates.io would take it.
stage "library docs" env RUSTDOCFLAGS="-D warnings" cargo doc -p kpartx-table --no-deps --locked
stage "library package" cargo package -p kpartx-table --locked
stage "list_compat under loop churn" env KPARTX_TEST_LOOP_CHURN=1 KPARTX_DIFF_CASES=60 \
    cargo test --locked --test list_compat
stage "release build" cargo build --release --locked
# The packages' own %check / dh_auto_test would run the unit tests a second time (in release
# mode): the "cargo test" stage has run them already.
# (The .deb's build on Debian 13, `--build`, is left to a run by hand: its 1.3 GB root and the
# second build would add about 8 minutes to a run on a fresh machine.)
stage "packages" env DEB_BUILD_OPTIONS=nocheck RPM_NOCHECK=1 packaging/test-packages.sh
vm_root=$(mktemp -d)
stage "install into VM root" make install DESTDIR="$vm_root" BIN=target/release/kpartx
stage "VM scenarios (Debian 12)" tests/vm/run.sh --stack 12 --kpartx target/release/kpartx \
    --overlay "$vm_root" all
stage "VM scenarios (Debian 13)" tests/vm/run.sh --stack 13 --kpartx target/release/kpartx \
    --overlay "$vm_root" "${VM13_SCENARIOS[@]}"
rm -rf "$vm_root"

echo "total time: $((SECONDS / 60)) min $((SECONDS % 60)) s"
echo "all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
