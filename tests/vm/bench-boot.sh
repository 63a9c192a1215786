#!/bin/bash
# tests/vm/bench-boot.sh — benchmark (not a test, not in CI) of booting from SAN with many
# LUNs: the root on mpatha-part2 plus N further two-path LUNs with a 4-partition GPT each,
# with this project's package ("rs") and Debian's kpartx ("ref"), through tests/vm/san-boot.sh.
#
#   tests/vm/bench-boot.sh [--luns N] [--reps N] [--configs LIST] [--deb PATH] [--work DIR]
#                          [--mem MiB] [--timeout SEC] [--cmdline ARGS] [--settle SEC]
#
# LIST is comma-separated, from 12-initramfs-tools, 13-initramfs-tools, 13-dracut-generic,
# 13-dracut-hostonly, 12-dracut-generic, 12-dracut-hostonly (default: the first three).
# For each, san-boot.sh runs once with --luns N --reps N --udev-log --mem MiB (default 2048)
# --keep-logs; it boots the implementations interleaved (the order reversed every other
# repetition), so that both see the same load, and on Debian 12 with initramfs-tools it adds
# --rules-only (the roots whose boot script runs no `kpartx -a`). From its summary lines this
# prints one table: the time from QEMU's start to the root's init on the host's clock (median
# and every boot) and the guest's uptime then (median), the partition maps present after the
# switch to the root (the fewest over the boots, of 2 + 4N), the console lines about udev
# workers killed or timed out, failed RUN programs or kpartx errors (udev.log_level=info),
# san-boot's result, and rs/ref of the host-clock medians (the issue's criterion: <= 0.8).
# --cmdline ARGS is passed on (extra kernel arguments for every boot; not rootdelay=N, which
# initramfs-tools sleeps in full before looking for the root), and so is --settle SEC (an
# initramfs-tools local-top `udevadm settle --timeout=SEC`: the longer wait that Debian 13 with
# many LUNs needs under TCG, without a fixed sleep; see san-boot.sh).
# Each san-boot.sh run's whole output is kept in WORK/bench-boot-CONFIG.log and its boot
# consoles in WORK/boot-*.log. Nothing is tuned here: the figures are what the boots took.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LUNS=64
REPS=3
CONFIGS=12-initramfs-tools,13-initramfs-tools,13-dracut-generic
MEM=2048
TIMEOUT=1200
WORK=$HERE/cache/san-boot
pass=()
while [ $# -gt 0 ]; do
    case $1 in
        --luns) LUNS=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --configs) CONFIGS=$2; shift 2 ;;
        --mem) MEM=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --work) WORK=$2; pass+=(--work "$2"); shift 2 ;;
        --deb) pass+=(--deb "$2"); shift 2 ;;
        --cmdline) pass+=(--cmdline "$2"); shift 2 ;;
        --settle) pass+=(--settle "$2"); shift 2 ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
mkdir -p "$WORK"

SUMMARY=$(mktemp)
trap 'rm -f "$SUMMARY"' EXIT
for c in ${CONFIGS//,/ }; do
    stack=${c%%-*}
    rest=${c#*-}
    args=(--stack "$stack" --luns "$LUNS" --reps "$REPS" --udev-log --mem "$MEM" --keep-logs --timeout "$TIMEOUT")
    case $rest in
        initramfs-tools) args+=(--builder initramfs-tools) ;;
        dracut-generic | dracut-hostonly) args+=(--builder dracut --dracut "${rest#dracut-}") ;;
        *) echo "bench-boot: unknown configuration $c" >&2; exit 2 ;;
    esac
    [ "$c" = 12-initramfs-tools ] && args+=(--rules-only)
    log=$WORK/bench-boot-$c.log
    echo "bench-boot: $c: san-boot.sh ${args[*]} ${pass[*]} (log: $log)" >&2
    t0=$SECONDS
    if "$HERE/san-boot.sh" "${args[@]}" "${pass[@]}" >"$log" 2>&1; then rc=0; else rc=$?; fi
    echo "bench-boot: $c: exit $rc after $((SECONDS - t0)) s; $(grep '^san-boot: [0-9]* passed' "$log" || echo 'no summary')" >&2
    grep '^san-boot-summary: ' "$log" | sed "s/^san-boot-summary: /$c /" >>"$SUMMARY" || :
done

field() { # field LINE KEY
    sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"
}
echo
echo "Boot from SAN with $LUNS + 1 two-path LUNs ($((2 + 4 * LUNS)) partition maps), $REPS boots per"
echo "implementation, interleaved; QEMU TCG, -smp 2, -m $MEM; $(date -u '+%Y-%m-%d %H:%M UTC')."
echo "init: QEMU start to the root's init on the host's clock (median [every boot]); uptime: the"
echo "guest's uptime then (median); maps: fewest present after the switch to the root; udev!:"
echo "console lines about killed or timed-out workers, failed RUN programs, kpartx errors."
printf '%-20s %-9s %-34s %-8s %-10s %-6s %-7s %s\n' config impl "init" uptime maps udev! result rs/ref
# shellcheck disable=SC2094  # the loop and awk both only read the summary
while read -r c line; do
    impl=$(field " $line" impl)
    init=$(field " $line" init)
    ratio=
    case $impl in
        rs | rs-rules)
            refl=$(awk -v c="$c" -v i="ref${impl#rs}" '$1 == c && index($0, " impl=" i " ") { print; exit }' "$SUMMARY")
            rinit=$(field " $refl" init)
            rres=$(field " $refl" result)
            if [ -z "$refl" ]; then
                ratio="(no ref run)"
            elif [ "$rres" != pass ] || [ "$rinit" = none ]; then
                ratio="(ref did not boot)"
            elif [ "$init" != none ]; then
                ratio=$(awk -v a="$init" -v b="$rinit" 'BEGIN { r = a / b; printf "%.2f %s", r, (r <= 0.8 ? "<=0.8" : ">0.8") }')
            fi
            ;;
    esac
    printf '%-20s %-9s %-34s %-8s %-10s %-6s %-7s %s\n' "$c" "$impl" \
        "$init [$(field " $line" init_all | tr ',' ' ')]" "$(field " $line" uptime)" \
        "$(field " $line" maps_min)/$(field " $line" maps_expected)" "$(field " $line" udev_fail)" \
        "$(field " $line" result)" "$ratio"
done <"$SUMMARY"
