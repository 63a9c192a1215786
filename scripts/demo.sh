#!/bin/bash
# scripts/demo.sh — sets up a fresh machine and runs kpartx's main job on a demo disk image:
#   1. installs the build and VM prerequisites, builds the release binary;
#   2. makes a 64 MiB demo image with three GPT partitions and lists it on this machine
#      (`kpartx -l`, text and JSON: this needs only a loop device);
#   3. boots a QEMU VM with a real Debian kernel (this machine's kernel has no device-mapper) and
#      there maps the partitions (`kpartx -av`), shows /dev/mapper and the tables, and removes
#      them again (`kpartx -dv`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-host.sh
tests/vm/prepare.sh
cargo build --release --locked

demo=target/demo
mkdir -p "$demo"
img=$demo/demo.img
rm -f "$img"
truncate -s 64M "$img"
sgdisk -o -a 2048 -n 1:0:+16M -c 1:boot -n 2:0:+16M -c 2:root -n 3:0:+16M -c 3:data "$img" >/dev/null
echo "### kpartx -l $img"
target/release/kpartx -l "$img"
echo "### kpartx -l --json $img"
target/release/kpartx -l --json "$img"
echo "### in a VM: kpartx -av, /dev/mapper, dmsetup table, kpartx -dv"
tests/vm/run.sh --kpartx target/release/kpartx --show-logs demo
