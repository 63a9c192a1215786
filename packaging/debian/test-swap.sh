#!/bin/bash
# shellcheck disable=SC2016,SC2317  # bash -c snippets take $1; helpers are called through check
# packaging/debian/test-swap.sh — the admin's swap on a real Debian root of either stack:
# Debian's kpartx -> kpartx-rs (dpkg -i) -> Debian's kpartx (apt-get install) -> purge.
#
#   packaging/debian/test-swap.sh --stack 12|13 [--label TEXT] KPARTX-RS.deb
#
# The root (pkg-root.sh; cached in tests/vm/cache/pkg-roots/swap-<suite>.tar, about a minute to
# make, seconds to unpack) is mmdebstrap --variant=minbase of the stack's suite with
# initramfs-tools, multipath-tools, multipath-tools-boot, udev and Debian's kpartx, all
# configured by their maintainer scripts, and one initramfs made with update-initramfs -c for a
# stub kernel version (an empty /boot/vmlinuz-V, a config and a modules directory without
# modules: the hooks are what matter, and update-initramfs -u then really runs on every
# trigger, in seconds). In that root, run by chroot
# as an admin would:
#   1. dpkg -i KPARTX-RS.deb: kpartx is removed in its favour (Conflicts/Replaces); every rule,
#      the binary, kpartx_id and the policy are in place; every program the installed rules and
#      kpartx_id run is an executable of kpartx-rs; kpartx_id runs; `dpkg --verify` is clean;
#      no diversion is left; update-initramfs ran exactly once in the transaction (its
#      "Generating" lines in dpkg's output, and dpkg's log counts one initramfs-tools trigger
#      run), and the new image holds kpartx-rs's binary and rules and no 60-kpartx.rules;
#   2. apt-get install --no-download kpartx (Debian's .deb, still in the root's apt cache):
#      kpartx-rs is removed, Debian's files are all there (dpkg -L) and `dpkg --verify kpartx
#      multipath-tools multipath-tools-boot udev` (and of every package) is clean, the binary is
#      Debian's, kpartx_id runs, the initramfs was rebuilt exactly once and holds Debian's
#      binary and 60-kpartx.rules again;
#   3. dpkg --purge kpartx-rs: no file or conffile of kpartx-rs is left (/etc/kpartx gone,
#      dpkg -S finds nothing), Debian's files still verify; the number of update-initramfs
#      runs is reported (at most one).
# Prints "ok"/"FAIL" lines and ends with "swap (Debian N): N passed, N failed"; exits non-zero
# when a check failed. Needs root, mmdebstrap and unshare.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=packaging/debian/pkg-root.sh
. "$HERE/pkg-root.sh"

STACK="" LABEL="" DEB=""
while [ $# -gt 0 ]; do
    case $1 in
        --stack) STACK=$2; shift 2 ;;
        --label) LABEL=$2; shift 2 ;;
        -*) echo "usage: $0 --stack 12|13 [--label TEXT] KPARTX-RS.deb" >&2; exit 2 ;;
        *) DEB=$1; shift ;;
    esac
done
SUITE=$(stack_suite "$STACK") || exit 2
[ -f "$DEB" ] || { echo "test-swap: no .deb given (or '$DEB' missing)" >&2; exit 2; }
DEB=$(realpath "$DEB")
T="swap (Debian $STACK${LABEL:+, $LABEL})"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $T: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $T: $*"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
finish() {
    echo "swap (Debian $STACK${LABEL:+, $LABEL}): $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

KV=0.0.0-kpartx-swap
HOOK='set -eu
R=$1
kv='"$KV"'
mkdir -p "$R/usr/lib/modules/$kv"
for f in modules.order modules.builtin modules.builtin.modinfo; do : >"$R/usr/lib/modules/$kv/$f"; done
printf "CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n" >"$R/boot/config-$kv"
# update-initramfs -u finds the kernels by their /boot/vmlinuz-* (linux-version list).
: >"$R/boot/vmlinuz-$kv"
chroot "$R" depmod "$kv"
chroot "$R" update-initramfs -c -k "$kv"
# Only Debian'"'"'s kpartx is installed again from the cache (apt-get --no-download).
find "$R/var/cache/apt/archives" -name "*.deb" ! -name "kpartx_*" -delete'

start=$SECONDS
TAR=$(pkg_root_tar "swap-$SUITE" "$SUITE" minbase \
    initramfs-tools,multipath-tools,multipath-tools-boot,udev,kpartx "$HOOK") ||
    { bad "mmdebstrap of the $SUITE root"; finish; }
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/kpartx-swap.XXXXXX")
trap 'pkg_root_remove "$SCRATCH"' EXIT
R=$SCRATCH/root
pkg_root_extract "$TAR" "$R" || { bad "unpack $TAR"; finish; }
mkdir -p "$SCRATCH/deb"
dpkg-deb -x "$DEB" "$SCRATCH/deb"
cp "$DEB" "$R/tmp/kpartx-rs.deb"
run() { pkg_root_run "$R" -- "$@"; }
IMG=/boot/initrd.img-$KV

KDEB=$(find "$R/var/cache/apt/archives" -maxdepth 1 -name 'kpartx_*.deb' | head -n 1)
KVER=$(run dpkg-query -W -f='${Version}' kpartx 2>/dev/null)
if [ -z "$KDEB" ] || [ -z "$KVER" ]; then bad "Debian's kpartx in the $SUITE root"; finish; fi
ok "$SUITE root with Debian's kpartx $KVER, multipath-tools-boot, udev ($((SECONDS - start)) s to make or unpack)"
mkdir -p "$SCRATCH/kdeb"
dpkg-deb -x "$KDEB" "$SCRATCH/kdeb"
# Debian's paths, as its package lists them: /sbin and /lib on Debian 12, /usr on Debian 13.
dpkg-deb -c "$KDEB" | awk '$1 !~ /^d/ { p = $6; sub(/^\./, "", p); print p }' >"$SCRATCH/kpartx.files"
KBIN=$(grep -E '/sbin/kpartx$' "$SCRATCH/kpartx.files")
KID=$(grep -E '/udev/kpartx_id$' "$SCRATCH/kpartx.files")
echo "     Debian's kpartx $KVER ships: $(grep -E 'sbin/|udev/' "$SCRATCH/kpartx.files" | tr '\n' ' ')"

verify_all() { # verify_all STEP [PACKAGE...]: dpkg --verify prints nothing
    local step=$1 out
    shift
    out=$(run dpkg --verify "$@" 2>&1)
    if [ -z "$out" ]; then ok "$step: dpkg --verify${*:+ $*} clean"; else bad "$step: dpkg --verify${*:+ $*}: $out"; fi
}
status() { run dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null; }
img_mtime() { stat -c %Y "$R$IMG" 2>/dev/null; }
# ran STEP LOG SINCE EXPECT: update-initramfs runs of the transaction whose output is LOG and
# whose dpkg.log entries follow line SINCE; EXPECT is "1" or "<=1".
ran() {
    local step=$1 log=$2 since=$3 expect=$4 gen trig
    gen=$(grep -c "^update-initramfs: Generating $IMG" "$log")
    trig=$(tail -n +"$((since + 1))" "$R/var/log/dpkg.log" | grep -c ' trigproc initramfs-tools:')
    echo "     $step: update-initramfs ran $gen time(s) (\"Generating $IMG\" lines); dpkg.log: $trig initramfs-tools trigger run(s)"
    grep -E '^(Processing triggers for initramfs-tools|update-initramfs: )' "$log" | sed "s/^/       $step: /"
    if [ "$expect" = 1 ]; then
        check "$step: update-initramfs ran exactly once (output: $gen, dpkg.log trigger runs: $trig)" \
            test "$gen" = 1 -a "$trig" = 1
    else
        check "$step: update-initramfs ran at most once (output: $gen, dpkg.log trigger runs: $trig)" \
            test "$gen" -le 1 -a "$trig" -le 1
    fi
}
lines() { if [ -f "$R/var/log/dpkg.log" ]; then wc -l <"$R/var/log/dpkg.log"; else echo 0; fi; }
list_img() { run lsinitramfs -l "$IMG" >"$SCRATCH/$1.list" 2>/dev/null; }
inimg() { # inimg LIST PATH: the image has PATH (or usr/PATH)
    awk -v p="$2" '$NF == p || $NF == "usr/" p { f = 1 } END { exit !f }' "$SCRATCH/$1.list"
}
img_size() { awk -v p="$2" '$NF == p || $NF == "usr/" p { print $5; exit }' "$SCRATCH/$1.list"; }
# The programs rules and kpartx_id run, as absolute paths; each must be an executable of PKG.
programs_of() {
    sed -nE 's/.*(RUN\+?|IMPORT\{program\}|PROGRAM)="(\/[^ "]+).*/\2/p; s/^exec (\/[^ ]+).*/\1/p' "$@" | sort -u
}
owned_exec() { # owned_exec PKG PATH
    [ -x "$R$2" ] && run dpkg -S "$2" 2>/dev/null | grep -q "^$1: "
}
# kpartx_id on a partition map of a multipath map (no device-mapper in the root: the
# properties come from the UUID alone): exit 0, DM_PART=1, and on later steps the same lines as
# Debian's kpartx_id printed before the swap.
kpartx_id_runs() { # kpartx_id_runs STEP
    run "$KID" 253 7 part1-mpath-3600140512345678901234567890abcd >"$SCRATCH/id.$1" 2>/dev/null &&
        grep -qx 'DM_PART=1' "$SCRATCH/id.$1" && { [ "$1" = before ] || cmp "$SCRATCH/id.before" "$SCRATCH/id.$1"; }
}

merged() { # /sbin and /lib are the merged-/usr links
    [ "$(readlink "$R/sbin")" = usr/sbin ] && [ "$(readlink "$R/lib")" = usr/lib ]
}
check "before: the root is merged-/usr (/sbin -> usr/sbin, /lib -> usr/lib)" merged
check "before: the image was made (update-initramfs -c)" test -s "$R$IMG"
list_img before
check "before: the image has Debian's 60-kpartx.rules (multipath-tools-boot's hook)" \
    inimg before lib/udev/rules.d/60-kpartx.rules
check "before: Debian's kpartx_id runs ($KID 253 7 part1-mpath-...)" kpartx_id_runs before
verify_all "before"

# --- 1. kpartx-rs over Debian's kpartx --------------------------------------------------------
m0=$(img_mtime)
since=$(lines)
sleep 1
if run dpkg -i /tmp/kpartx-rs.deb >"$SCRATCH/in.log" 2>&1; then
    ok "dpkg -i kpartx-rs over kpartx $KVER"
else
    bad "dpkg -i kpartx-rs over kpartx $KVER"
    sed 's/^/     /' "$SCRATCH/in.log"
fi
check "in: dpkg removed kpartx in favour of kpartx-rs" grep -q 'will remove kpartx in favour of kpartx-rs' "$SCRATCH/in.log"
check "in: kpartx-rs installed, kpartx not" bash -c '[[ $1 == ii* && $2 != ii* ]]' _ "$(status kpartx-rs)" "$(status kpartx)"
for p in /usr/sbin/kpartx /usr/lib/udev/kpartx_id /usr/lib/udev/rules.d/66-kpartx.rules \
    /usr/lib/udev/rules.d/56-kpartx-parts.rules /usr/lib/udev/rules.d/68-del-part-nodes.rules \
    /etc/kpartx/kpartx.toml /usr/share/initramfs-tools/hooks/kpartx; do
    check "in: $p present" test -f "$R$p"
done
check "in: /usr/sbin/kpartx is kpartx-rs's" cmp "$R/usr/sbin/kpartx" "$SCRATCH/deb/usr/sbin/kpartx"
check "in: $KBIN (Debian's path) is kpartx-rs's binary" cmp "$R$KBIN" "$SCRATCH/deb/usr/sbin/kpartx"
programs_of "$R"/usr/lib/udev/rules.d/{66-kpartx,56-kpartx-parts,68-del-part-nodes}.rules \
    "$R/usr/lib/udev/kpartx_id" >"$SCRATCH/in.programs"
check "in: the rules and kpartx_id run $(tr '\n' ' ' <"$SCRATCH/in.programs")" test -s "$SCRATCH/in.programs"
while read -r p; do
    check "in: $p (run by the rules) is an executable of kpartx-rs" owned_exec kpartx-rs "$p"
done <"$SCRATCH/in.programs"
check "in: Debian's other rules are gone (56-dm-parts.rules, 60-kpartx.rules)" bash -c \
    '! ls "$1"/usr/lib/udev/rules.d/56-dm-parts.rules "$1"/usr/lib/udev/rules.d/60-kpartx.rules' _ "$R"
check "in: kpartx_id runs and prints what Debian's printed ($KID 253 7 part1-mpath-...)" kpartx_id_runs in
check "in: kpartx --check-config /etc/kpartx/kpartx.toml" run kpartx --check-config /etc/kpartx/kpartx.toml
if run sh -c 'udevadm verify --help' >/dev/null 2>&1; then
    check "in: udevadm verify of the installed rules" run udevadm verify --resolve-names=never \
        /usr/lib/udev/rules.d/66-kpartx.rules /usr/lib/udev/rules.d/56-kpartx-parts.rules \
        /usr/lib/udev/rules.d/68-del-part-nodes.rules
fi
verify_all "in"
no_diversion() { ! run dpkg-divert --list | grep -q kpartx; }
check "in: no diversion left" no_diversion
ran "in" "$SCRATCH/in.log" "$since" 1
check "in: the image was rebuilt" test "$(img_mtime)" != "$m0"
list_img in
for f in sbin/kpartx lib/udev/kpartx_id lib/udev/rules.d/66-kpartx.rules \
    lib/udev/rules.d/56-kpartx-parts.rules lib/udev/rules.d/68-del-part-nodes.rules etc/kpartx/kpartx.toml; do
    check "in: the image lists $f" inimg in "$f"
done
check "in: the image's kpartx is kpartx-rs's (same size)" \
    test "$(img_size in usr/sbin/kpartx)" = "$(stat -c %s "$SCRATCH/deb/usr/sbin/kpartx")"
check "in: the image has no 60-kpartx.rules" bash -c '! grep -q "60-kpartx\.rules" "$1"' _ "$SCRATCH/in.list"

# --- 2. back to Debian's kpartx -----------------------------------------------------------------
m0=$(img_mtime)
since=$(lines)
sleep 1
if run apt-get install -y --no-download kpartx >"$SCRATCH/back.log" 2>&1; then
    ok "apt-get install --no-download kpartx (removes kpartx-rs)"
else
    bad "apt-get install --no-download kpartx"
    sed 's/^/     /' "$SCRATCH/back.log"
fi
check "back: kpartx $KVER installed, kpartx-rs removed (config files left)" bash -c \
    '[[ $1 == ii* && $2 == rc* ]]' _ "$(status kpartx)" "$(status kpartx-rs)"
check "back: every file of Debian's kpartx is there (dpkg -L)" bash -c \
    'while read -r p; do [ -f "$1$p" ] || exit 1; done <"$2"' _ "$R" "$SCRATCH/kpartx.files"
check "back: $KBIN is Debian's binary" cmp "$R$KBIN" "$SCRATCH/kdeb$KBIN"
check "back: $KID is Debian's" cmp "$R$KID" "$SCRATCH/kdeb$KID"
check "back: kpartx_id runs and prints what Debian's printed ($KID 253 7 part1-mpath-...)" kpartx_id_runs back
check "back: kpartx-rs's rules are gone (66-kpartx.rules, 56-kpartx-parts.rules)" bash -c \
    '! ls "$1"/usr/lib/udev/rules.d/66-kpartx.rules "$1"/usr/lib/udev/rules.d/56-kpartx-parts.rules' _ "$R"
verify_all "back" kpartx multipath-tools multipath-tools-boot udev
verify_all "back"
ran "back" "$SCRATCH/back.log" "$since" 1
check "back: the image was rebuilt" test "$(img_mtime)" != "$m0"
list_img back
for f in sbin/kpartx lib/udev/kpartx_id lib/udev/rules.d/60-kpartx.rules; do
    check "back: the image lists $f" inimg back "$f"
done
check "back: the image's kpartx is Debian's (same size)" \
    test "$(img_size back usr/sbin/kpartx)" = "$(stat -c %s "$SCRATCH/kdeb$KBIN")"
check "back: the image has no 66-kpartx.rules" bash -c '! grep -q "66-kpartx\.rules" "$1"' _ "$SCRATCH/back.list"

# --- 3. purge -----------------------------------------------------------------------------------
since=$(lines)
if run dpkg --purge kpartx-rs >"$SCRATCH/purge.log" 2>&1; then
    ok "dpkg --purge kpartx-rs"
else
    bad "dpkg --purge kpartx-rs"
    sed 's/^/     /' "$SCRATCH/purge.log"
fi
check "purge: dpkg knows no kpartx-rs" bash -c '[ -z "$1" ] || [[ $1 == un* ]] || [[ $1 == pn* ]]' _ "$(status kpartx-rs)"
check "purge: /etc/kpartx is gone" test ! -e "$R/etc/kpartx"
no_owner() { ! run dpkg -S "$@"; }
check "purge: dpkg -S finds no owner of kpartx-rs's own paths" no_owner /etc/kpartx \
    /usr/lib/udev/rules.d/66-kpartx.rules /usr/share/initramfs-tools/hooks/kpartx /usr/share/kpartx
# Every file of kpartx-rs is gone, but for the paths Debian's kpartx ships too (/sbin and /lib
# are /usr/sbin and /usr/lib on merged /usr).
sed -E 's,^/(sbin|lib)/,/usr/\1/,' "$SCRATCH/kpartx.files" >"$SCRATCH/kpartx.usrfiles"
left_over() {
    (cd "$SCRATCH/deb" && find . ! -type d) | sed 's/^\.//' | grep -vxF -f "$SCRATCH/kpartx.usrfiles" |
        while read -r p; do [ ! -e "$R$p" ] || echo "$p"; done
}
check "purge: no file of kpartx-rs left (but the paths Debian's kpartx shares)" test -z "$(left_over)"
check "purge: kpartx still installed" bash -c '[[ $1 == ii* ]]' _ "$(status kpartx)"
check "purge: /sbin and /lib are still the merged-/usr links" merged
verify_all "purge" kpartx multipath-tools multipath-tools-boot udev
verify_all "purge"
ran "purge" "$SCRATCH/purge.log" "$since" "<=1"
echo "     $T: kpartx_id printed: $(tr "\n" " " <"$SCRATCH/id.before")"
echo "     $T: $((SECONDS - start)) s"
finish
