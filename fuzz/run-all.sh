#!/bin/sh
# Runs every fuzz target for SECONDS seconds (default 60), JOBS targets at a time (default 2).
#
#   fuzz/run-all.sh [SECONDS]
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Seed inputs are
# written to corpus/<target>/ on the first run (see make_seeds below). Crashes land in
# artifacts/<target>/; per-target logs in artifacts/logs/. Exits 1 if any target crashed.
set -eu

secs=${1:-60}
jobs=${JOBS:-2}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
targets="gpt dos bsd solaris unixware dasd mac sun ps3 probe policy udev_event"

make_seeds() {
    # Small valid labels, each prefixed with the facts byte (0 = 512-byte sectors).
    command -v python3 >/dev/null 2>&1 || { echo "python3 missing: no seed inputs" >&2; return 0; }
    python3 - "$here/corpus" "$here/../config/kpartx.toml" <<'PY'
import os, struct, sys, zlib
root = sys.argv[1]
def save(target, name, disk, facts=0):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(bytes([facts]) + bytes(disk))
def put(buf, at, b):
    buf[at:at + len(b)] = b
def mbr(entries):
    s = bytearray(512)
    for i, (kind, start, count) in enumerate(entries):
        put(s, 0x1BE + 16 * i + 4, bytes([kind]))
        put(s, 0x1BE + 16 * i + 8, struct.pack("<II", start, count))
    put(s, 510, b"\x55\xaa")
    return s
# dos: primaries, an extended partition and a two-EBR chain.
d = bytearray(64 * 1024)
put(d, 0, mbr([(0x83, 4, 20), (0x05, 40, 80), (0x82, 120, 8)]))
put(d, 40 * 512, mbr([(0x83, 2, 10), (0x05, 20, 30)]))
put(d, 60 * 512, mbr([(0x83, 2, 10)]))
save("dos", "ext", d)
save("probe", "dos", d)
# gpt: PMBR, primary and backup headers, 4 entries.
for ss, facts in ((512, 0), (4096, 3)):
    n = 16 if ss == 512 else 64
    size = (n + 8) * ss
    d = bytearray(size)
    last = size // ss - 1
    put(d, 0, mbr([(0xEE, 1, last)]))
    ents = bytearray(128 * 4)
    for i in range(3):
        put(ents, 128 * i, bytes([i + 1] * 16))
        put(ents, 128 * i + 32, struct.pack("<QQ", 4 + 2 * i, 5 + 2 * i))
    def hdr(my, alt, elba):
        h = bytearray(92)
        put(h, 0, b"EFI PART")
        put(h, 8, struct.pack("<II", 0x10000, 92))
        put(h, 24, struct.pack("<QQQQ", my, alt, 3, last - 2))
        put(h, 72, struct.pack("<QIII", elba, 4, 128, zlib.crc32(ents)))
        put(h, 16, struct.pack("<I", zlib.crc32(h)))
        return h
    put(d, 2 * ss, ents)
    put(d, (last - 1) * ss, ents)
    put(d, ss, hdr(1, last, 2))
    put(d, last * ss, hdr(last, 1, last - 1))
    save("gpt", "ss%d" % ss, d, facts)
    save("probe", "gpt%d" % ss, d, facts)
# bsd at block 1 and at offset 64.
for at in (512, 64):
    d = bytearray(2048)
    put(d, at, struct.pack("<I", 0x82564557))
    put(d, at + 138, struct.pack("<H", 4))
    for i, (size, off, fs) in enumerate([(100, 10, 7), (1000, 0, 8), (20, 20, 7), (5, 200, 1)]):
        put(d, at + 148 + 16 * i, struct.pack("<II", size, off))
        put(d, at + 148 + 16 * i + 12, bytes([fs]))
    save("bsd", "at%d" % at, d)
    save("probe", "bsd%d" % at, d)
# solaris (ILP32 layout) at block 1.
d = bytearray(1024)
put(d, 512 + 12, struct.pack("<II", 0x600DDEEE, 1))
put(d, 512 + 30, struct.pack("<H", 8))
for k, (start, size) in enumerate([(16, 100), (0, 0), (0, 1000)]):
    put(d, 512 + 72 + 12 * k, struct.pack("<HHII", 2, 0, start, size))
save("solaris", "vtoc", d)
# unixware at block 29.
d = bytearray(30 * 512)
put(d, 29 * 512 + 4, struct.pack("<I", 0xCA5E600D))
put(d, 29 * 512 + 156, struct.pack("<I", 0x600DDEEE))
for k, (tag, start, count) in enumerate([(5, 0, 1000), (2, 40, 100), (4, 200, 50)]):
    put(d, 29 * 512 + 216 + 12 * k, struct.pack("<HHII", tag, 0, start, count))
save("unixware", "vtoc", d)
# dasd: CMS1, LNX1 and VOL1 with a few DSCBs.
for name, label in (("cms1", b"\xc3\xd4\xe2\xf1"), ("lnx1", b"\xd3\xd5\xe7\xf1"), ("vol1", b"\xe5\xd6\xd3\xf1")):
    d = bytearray(16 * 512)
    put(d, 1024 + 4, label)
    put(d, 1024 + 16, struct.pack("<I", 1024))
    put(d, 1024 + 32, struct.pack("<I", 6))
    put(d, 1024 + 19, b"\x00")
    for n, fmt in enumerate((0xF4, 0xF1, 0xF8)):
        put(d, (3 + n) * 512 + 44, bytes([fmt]))
        put(d, (3 + n) * 512 + 107, struct.pack("<HHHH", 0, n, 0, n + 1))
    save("dasd", name, d)
    save("dasd", name + "-fba", d, 0x30)
# mac: driver descriptor and three map entries.
d = bytearray(8 * 512)
put(d, 0, struct.pack(">HH", 0x4552, 512))
for k, (start, count) in enumerate([(1, 3), (4, 2), (6, 2)], 1):
    put(d, 512 * k, struct.pack(">HHIII", 0x504D, 0, 3, start, count))
    put(d, 512 * k + 48, b"Apple_HFS")
save("mac", "map", d)
save("probe", "mac", d)
# sun: magic and checksum, whole-disk slice 3 plus nested slices.
d = bytearray(512)
put(d, 436, struct.pack(">HH", 2, 8))
for i, (cyl, n) in enumerate([(1, 16), (0, 0), (0, 64), (2, 16)]):
    put(d, 444 + 8 * i, struct.pack(">II", cyl, n))
put(d, 508, struct.pack(">H", 0xDABE))
x = 0
for i in range(255):
    x ^= struct.unpack_from(">H", d, 2 * i)[0]
put(d, 510, struct.pack(">H", x))
save("sun", "vtoc", d)
save("probe", "sun", d)
# ps3.
d = bytearray(1536)
put(d, 16, struct.pack(">QQ", 0x0FACE0FF, 0xDEADFACE))
for k, (start, size) in enumerate([(8, 100), (0, 5), (200, 40)]):
    put(d, 0x30 + 144 * k, struct.pack(">QQ", start, size))
save("ps3", "label", d)
# policy: a policy file, NUL, then NUL-separated device facts (see fuzz_targets/policy.rs).
def save_raw(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)
with open(sys.argv[2], "rb") as f:
    shipped = f.read()
save_raw("policy", "shipped-mpath", shipped + b"\0dm-3\0mpatha\0mpath-3600a0b8\0\0\0")
save_raw("policy", "shipped-loop", shipped + b"\0loop0\0\0\0\0\0/var/lib/images/a.img")
rules = b"""[defaults]
udev_timeout = 90.5
log_level = "debug"
[[device]]
name = "guests"
match = { kind = ["dm", "loop"], dm_name = "vm[!x-z]-guest-*", dm_uuid = "LVM-*" }
partitions = "enabled"
delimiter = "p"
tables = ["gpt", "dos"]
[[device]]
read_only = true
[device.match]
wwid = ["36006016*", "3600[0-4]?\\\\*"]
serial = "S?N"
backing_file = "/var/lib/images/*"
"""
save_raw("policy", "rules", rules + b"\0dm-4\0vmw-guest-1\0LVM-abc\0" b"3600601612\0SXN\0")
# udev_event: verdict bits, then KEY=VALUE lines (see fuzz_targets/udev_event.rs).
save_raw("udev_event", "mpath-change", b"\x03ACTION=change\nMAJOR=254\nMINOR=3\nDEVNAME=/dev/dm-3\n"
         b"DM_NAME=mpatha\nDM_UUID=mpath-3600a0b8\nDM_SUBSYSTEM_UDEV_FLAG1=1\nDM_NOSCAN=0")
save_raw("udev_event", "loop-add", b"\x01ACTION=add\nMAJOR=7\nMINOR=0\nDEVNAME=/dev/loop0\n"
         b"DEVTYPE=disk\nID_FS_TYPE=linux_raid_member\nID_SERIAL=x")
save_raw("udev_event", "part-remove", b"\x06ACTION=remove\nMAJOR=254\nMINOR=9\n"
         b"DM_UUID=part1-mpath-3600\nDEVTYPE=partition\nDM_SUSPENDED=1")
PY
}

if [ ! -d corpus ]; then
    make_seeds
fi
mkdir -p artifacts/logs
cargo +nightly fuzz build >/dev/null

run_one() {
    t=$1
    mkdir -p "corpus/$t" "artifacts/$t"
    if cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
        >"artifacts/logs/$t.log" 2>&1; then
        status=ok
    else
        status=FAILED
    fi
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "artifacts/logs/$t.log" | tail -n 1)
    crashes=$(find "artifacts/$t" -type f | wc -l)
    echo "$t: $status, ${runs:-no summary}, $crashes artifact(s)"
}

export secs
failed=0
# Run JOBS targets at a time, in the background, and collect the one-line summaries.
summary=$(mktemp)
set -- $targets
while [ $# -gt 0 ]; do
    i=0
    while [ $i -lt "$jobs" ] && [ $# -gt 0 ]; do
        run_one "$1" >>"$summary" &
        shift
        i=$((i + 1))
    done
    wait
done
sort "$summary"
grep -q FAILED "$summary" && failed=1
rm -f "$summary"
exit $failed
