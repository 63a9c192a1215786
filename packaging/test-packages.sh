#!/bin/bash
# shellcheck disable=SC2016,SC2317  # bash -c snippets take $1; helpers are called through check
# packaging/test-packages.sh — build the Debian and RPM packages from source and check them.
#
#   packaging/test-packages.sh [--stack 12|13]... [--build] [--repro]
#
# Installs what it needs with apt-get (debhelper, lintian, rpm, rpmlint, the Build-Depends),
# then:
#   * packaging/collect-licenses.py --check: debian/copyright, the RPM License: tag and
#     packaging/licenses/crates.tsv match Cargo.lock;
#   * builds the .deb with dpkg-buildpackage (packaging/debian/build-deb.sh) and the RPMs with
#     rpmbuild -ba (packaging/rpm/build-rpm.sh), both offline from the vendored crates;
#   * lintian --pedantic: no error or warning; rpmlint: no error;
#   * the file layout, owners and modes, the control fields and RPM dependencies, that the
#     packaged udev rules name the packaged binary, man pages render, the binary runs;
#   * the initramfs: in a throwaway root (mmdebstrap) with multipath-tools-boot, the .deb
#     installed over Debian's kpartx and mkinitramfs run: the image lists the binary, the three
#     rules, kpartx_id and the policy; KPARTX_INITRAMFS=no leaves them out; a broken policy
#     is reported; likewise a generic dracut image (lsinitrd) through the 90kpartx-rs module
#     (about 1 minute, all of it);
#   * the swap with Debian's real kpartx package (apt-get download kpartx) in a scratch
#     merged-/usr dpkg root: kpartx, then kpartx-rs over it, then kpartx-rs removed and kpartx
#     back, with `dpkg --verify` clean and every rule and helper in place after each step;
#   * the admin's swap on a real root of each Debian stack (packaging/debian/test-swap.sh; the
#     roots are cached in tests/vm/cache/pkg-roots): in a bookworm and a trixie root with
#     initramfs-tools, multipath-tools-boot and Debian's kpartx (0.9.4 and 0.11.1), dpkg -i of
#     the .deb, apt-get install kpartx back, dpkg --purge kpartx-rs: every rule and kpartx_id in
#     place and working, dpkg --verify clean, update-initramfs run exactly once per transaction
#     (about 20 s a stack once the roots exist, a minute more to make each root);
#   * --stack 12|13 (may be repeated; default both): only that Debian stack. --stack 13 leaves
#     out what is Debian 12's (the RPM, the scratch-root swap with the host's kpartx, the
#     initramfs and dracut images);
#   * --build: also build the .deb on Debian 13 (packaging/debian/build-deb.sh with STACK=13:
#     dpkg-buildpackage in a trixie root with trixie's Build-Depends, the host's Rust
#     toolchain), check it with trixie's lintian --pedantic and run the Debian 13 swap with it
#     too. With --stack 13 that .deb is the one all the checks look at and the host builds
#     nothing. Adds about 4 min on a loaded host (unpacking the root, the build, lintian), and
#     once about 4 min to make the trixie build root (1.3 GB, cached in
#     tests/vm/cache/pkg-roots). CI leaves it out (run it by hand after changing debian/);
#   * --repro: a second .deb build in another directory is byte-identical to the first (adds
#     one more full build, a few minutes).
# Ends with "packages: N passed, N failed"; exits non-zero when anything failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(dirname "$HERE")
cd "$TOP" || exit 1

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
finish() {
    echo "packages: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

REPRO=0
BUILD13=0
STACKS=()
while [ $# -gt 0 ]; do
    case $1 in
        --repro) REPRO=1 ;;
        --build) BUILD13=1 ;;
        --stack)
            case ${2:-} in 12 | 13) STACKS+=("$2") ;; *) echo "$0: --stack 12 or --stack 13" >&2; exit 2 ;; esac
            shift ;;
        *) echo "usage: $0 [--stack 12|13]... [--build] [--repro]" >&2; exit 2 ;;
    esac
    shift
done
[ ${#STACKS[@]} -gt 0 ] || STACKS=(12 13)
has_stack() { [[ " ${STACKS[*]} " == *" $1 "* ]]; }

# --- tools -------------------------------------------------------------------------------------
need=()
for pair in dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian rpmbuild:rpm rpmlint:rpmlint \
    make:make strip:binutils groff:groff xz:xz-utils python3:python3 mmdebstrap:mmdebstrap; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
for p in libclang-dev libdevmapper-dev libudev-dev pkgconf; do
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) == ii* ]] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "test-packages: installing ${need[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        bad "tools: ${need[*]} missing and not root (cannot apt-get install)"
        finish
    fi
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/dev/null ||
        { bad "apt-get install ${need[*]}"; finish; }
fi
command -v cargo >/dev/null || { bad "cargo (rustup toolchain >= 1.88) on PATH"; finish; }

# --- licences ----------------------------------------------------------------------------------
if python3 "$HERE/collect-licenses.py" --check; then
    ok "licence list, debian/copyright and RPM License: match Cargo.lock"
else
    bad "licence list out of date with Cargo.lock (run packaging/collect-licenses.py)"
fi

# --- packages ----------------------------------------------------------------------------------
OUT=$TOP/target/packages
mkdir -p "$OUT"
SCRATCH=$(mktemp -d "$OUT/.test.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

ARCH=$(dpkg --print-architecture)
rm -f "$OUT"/kpartx-rs_*.deb "$OUT"/kpartx-rs-dbgsym_*.deb "$OUT"/kpartx-rs-*.rpm "$OUT"/kpartx-rs_*.changes
rm -rf "$OUT/deb13"
DEB="" RPM="" DEB13=""
HOSTDEB=0
if has_stack 12 || [ "$BUILD13" = 0 ]; then
    HOSTDEB=1
    start=$SECONDS
    DEB=$(OUT=$OUT packaging/debian/build-deb.sh | tail -n 1)
    if [ -f "$DEB" ]; then ok "dpkg-buildpackage -b (${DEB#"$TOP"/}, $((SECONDS - start)) s)"; else bad "build .deb"; fi
fi
if has_stack 12; then
    start=$SECONDS
    RPM=$(OUT=$OUT packaging/rpm/build-rpm.sh | tail -n 1)
    if [ -f "$RPM" ]; then ok "rpmbuild -ba (${RPM#"$TOP"/}, $((SECONDS - start)) s)"; else bad "build .rpm"; fi
fi
if [ "$BUILD13" = 1 ]; then
    # The same sources, built on Debian 13 with its Build-Depends and linted by its lintian.
    start=$SECONDS
    OUT13=$OUT/deb13
    DEB13=$(env OUT="$OUT13" SOURCES="$OUT/sources" STACK=13 LINTIAN_LOG="$OUT13/lintian.log" \
        packaging/debian/build-deb.sh | tail -n 1)
    if [ -f "$DEB13" ]; then
        ok "dpkg-buildpackage -b in a Debian 13 root (${DEB13#"$TOP"/}, $((SECONDS - start)) s)"
        check "Debian 13 lintian --pedantic: no errors or warnings" grep -qx 'lintian exit status: 0' "$OUT13/lintian.log"
        sed 's/^/    lintian (Debian 13): /' "$OUT13/lintian.log"
        check "Debian 13 .deb: Depends has libc6 and dmsetup" bash -c \
            '[[ "$1" == *libc6* && "$1" == *dmsetup* ]]' _ "$(dpkg-deb --field "$DEB13" Depends)"
        echo "    Debian 13 .deb Depends: $(dpkg-deb --field "$DEB13" Depends)"
        [ -n "$DEB" ] || DEB=$DEB13
    else
        bad "dpkg-buildpackage -b in a Debian 13 root ($((SECONDS - start)) s)"
    fi
fi

PATHS=(
    /usr/sbin/kpartx
    /usr/lib/udev/rules.d/66-kpartx.rules
    /usr/lib/udev/rules.d/56-kpartx-parts.rules
    /usr/lib/udev/rules.d/68-del-part-nodes.rules
    /usr/lib/udev/kpartx_id
    /etc/kpartx/kpartx.toml
    /usr/share/kpartx/schema/kpartx-action.schema.json
)

# --- Debian package ----------------------------------------------------------------------------
if [ -f "$DEB" ]; then
    dpkg-deb --contents "$DEB" >"$SCRATCH/deb.list"
    # "MODE OWNER SIZE DATE TIME ./PATH" -> "PATH MODE OWNER"
    awk '{ p = $6; sub(/^\./, "", p); sub(/\/$/, "", p); if (p == "") p = "/"; print p, $1, $2 }' "$SCRATCH/deb.list" \
        >"$SCRATCH/deb.files"
    has_deb() { grep -Eq "^$1 " "$SCRATCH/deb.files"; }
    for p in "${PATHS[@]}"; do check "deb contains $p" has_deb "$p"; done
    check "deb contains /etc/kpartx/kpartx.d/" grep -Eq '^/etc/kpartx/kpartx\.d d' "$SCRATCH/deb.files"
    check "deb contains man8/kpartx.8.gz" has_deb '/usr/share/man/man8/kpartx\.8\.gz'
    check "deb contains man5/kpartx.toml.5.gz" has_deb '/usr/share/man/man5/kpartx\.toml\.5\.gz'
    check "deb contains the bash completion" has_deb '/usr/share/bash-completion/completions/kpartx'
    check "deb contains the zsh completion" has_deb '/usr/share/zsh/vendor-completions/_kpartx'
    check "deb contains doc/kpartx-rs/copyright" has_deb '/usr/share/doc/kpartx-rs/copyright'
    check "deb contains doc/kpartx-rs/changelog.Debian.gz" \
        has_deb '/usr/share/doc/kpartx-rs/changelog\.Debian\.gz'
    check "deb: /usr/sbin/kpartx is -rwxr-xr-x" grep -Eq '^/usr/sbin/kpartx -rwxr-xr-x ' "$SCRATCH/deb.files"
    check "deb: /etc/kpartx/kpartx.toml is -rw-r--r--" \
        grep -Eq '^/etc/kpartx/kpartx\.toml -rw-r--r-- ' "$SCRATCH/deb.files"
    check "deb: initramfs-tools hook /usr/share/initramfs-tools/hooks/kpartx is -rwxr-xr-x" \
        grep -Eq '^/usr/share/initramfs-tools/hooks/kpartx -rwxr-xr-x ' "$SCRATCH/deb.files"
    check "deb: dracut module 90kpartx-rs/module-setup.sh is -rwxr-xr-x" \
        grep -Eq '^/usr/lib/dracut/modules.d/90kpartx-rs/module-setup.sh -rwxr-xr-x ' "$SCRATCH/deb.files"
    check "deb triggers update-initramfs (dh_installinitramfs)" bash -c \
        'dpkg-deb --info "$1" triggers | grep -qx "activate-noawait update-initramfs"' _ "$DEB"
    check "deb: every entry is owned by root/root" bash -c '! awk "\$3 != \"root/root\"" "$1" | grep -q .' _ "$SCRATCH/deb.files"
    check "deb: nothing under /sbin or /lib (merged-/usr aliasing)" \
        bash -c '! grep -Eq "^/(sbin|lib|bin)(/| )" "$1"' _ "$SCRATCH/deb.files"

    field() { dpkg-deb --field "$DEB" "$1"; }
    check "deb Package: kpartx-rs" test "$(field Package)" = kpartx-rs
    check "deb Architecture: $ARCH" test "$(field Architecture)" = "$ARCH"
    check "deb Provides: kpartx" bash -c '[[ "$1" =~ (^|,\ *)kpartx(\ |,|$) ]]' _ "$(field Provides)"
    check "deb Conflicts: kpartx" bash -c '[[ "$1" =~ (^|,\ *)kpartx(\ |,|$) ]]' _ "$(field Conflicts)"
    check "deb Replaces: kpartx" bash -c '[[ "$1" =~ (^|,\ *)kpartx(\ |,|$) ]]' _ "$(field Replaces)"
    check "deb Depends has libc6 and dmsetup" \
        bash -c '[[ "$1" == *libc6* && "$1" == *dmsetup* ]]' _ "$(field Depends)"
    for v in 0.9.4-3+deb12u2 0.11.1-2; do # Debian 12's and 13's multipath-tools
        check "deb Provides satisfies multipath-tools' kpartx (>= $v)" \
            dpkg --compare-versions "$(field Provides | sed -n 's/.*kpartx (= \([^)]*\)).*/\1/p')" ge "$v"
    done
    dpkg-deb --info "$DEB" conffiles >"$SCRATCH/conffiles" 2>/dev/null
    check "deb conffiles lists /etc/kpartx/kpartx.toml" grep -qx /etc/kpartx/kpartx.toml "$SCRATCH/conffiles"
    for s in preinst postinst postrm; do
        check "deb $s is valid sh" bash -c 'dpkg-deb --info "$1" "$2" | sh -n' _ "$DEB" "$s"
    done

    mkdir -p "$SCRATCH/deb"
    dpkg-deb --extract "$DEB" "$SCRATCH/deb"
    R=$SCRATCH/deb
    check "packaged binary runs (--version)" "$R/usr/sbin/kpartx" --version
    check "packaged 66-kpartx.rules runs /usr/sbin/kpartx --udev" \
        grep -q 'RUN+="/usr/sbin/kpartx --udev"' "$R/usr/lib/udev/rules.d/66-kpartx.rules"
    check "packaged 56-kpartx-parts.rules imports /usr/sbin/kpartx --udev-id" \
        grep -q 'IMPORT{program}="/usr/sbin/kpartx --udev-id"' "$R/usr/lib/udev/rules.d/56-kpartx-parts.rules"
    check "packaged kpartx_id runs /usr/sbin/kpartx --udev-id" \
        grep -q '^exec /usr/sbin/kpartx --udev-id$' "$R/usr/lib/udev/kpartx_id"
    check "packaged 68-del-part-nodes.rules runs /usr/sbin/kpartx --udev-del-part-nodes" \
        grep -q 'RUN+="/usr/sbin/kpartx --udev-del-part-nodes"' "$R/usr/lib/udev/rules.d/68-del-part-nodes.rules"
    check "packaged rules pass check-rules.sh" "$HERE/check-rules.sh" \
        "$R/usr/lib/udev/rules.d/66-kpartx.rules" "$R/usr/lib/udev/rules.d/56-kpartx-parts.rules" \
        "$R/usr/lib/udev/rules.d/68-del-part-nodes.rules"
    for m in man8/kpartx.8.gz man5/kpartx.toml.5.gz; do
        check "packaged $m renders without groff warnings" bash -c \
            'out=$(zcat "$1" | groff -ww -man -Tutf8 -z 2>&1) && [ -z "$out" ]' _ "$R/usr/share/man/$m"
    done
    check "packaged bash completion parses" bash -n "$R/usr/share/bash-completion/completions/kpartx"
    check "packaged policy passes kpartx --check-config" \
        "$R/usr/sbin/kpartx" --check-config "$R/etc/kpartx/kpartx.toml"

    if [ "$HOSTDEB" = 1 ]; then
        check "lintian --pedantic: no errors or warnings" bash -c \
            'lintian --pedantic --fail-on error,warning "$1" >"$2" 2>&1' \
            _ "${DEB%_*}_${ARCH}.changes" "$SCRATCH/lintian.log"
        sed 's/^/    lintian: /' "$SCRATCH/lintian.log"
    fi

    # The admin's swap on a real root of each stack, the same script for both.
    swap() { # swap STACK DEB [LABEL]: its ok/FAIL lines count here
        local out=$SCRATCH/swap.out f0=$failed rc
        "$HERE/debian/test-swap.sh" --stack "$1" ${3:+--label "$3"} "$2" 2>&1 | tee "$out"
        rc=${PIPESTATUS[0]}
        passed=$((passed + $(grep -c '^ok ' "$out")))
        failed=$((failed + $(grep -c '^FAIL ' "$out")))
        if [ "$rc" -ne 0 ] && [ "$failed" -eq "$f0" ]; then bad "swap (Debian $1): test-swap.sh exited with $rc"; fi
    }
    for st in "${STACKS[@]}"; do
        if [ -n "$DEB13" ] && [ "$DEB" = "$DEB13" ]; then swap "$st" "$DEB" "Debian 13 build"
        elif [ -n "$DEB13" ]; then swap "$st" "$DEB" "host (Debian 12) build"
        else swap "$st" "$DEB"
        fi
    done
    if [ -n "$DEB13" ] && [ "$DEB" != "$DEB13" ] && has_stack 13; then
        swap 13 "$DEB13" "Debian 13 build"
    fi

    if ! has_stack 12; then
        echo "    (--stack 13: the scratch-root swap with the host's kpartx and the initramfs and dracut images are Debian 12's, left out)"
    else # (not indented: the Debian 12 checks below)

    # The swap with Debian's real kpartx in a scratch merged-/usr dpkg root (the host's own
    # kpartx is never touched): kpartx ships /sbin/kpartx, /lib/udev/kpartx_id and
    # /lib/udev/rules.d/68-del-part-nodes.rules, which alias this package's /usr paths.
    KDEB=$(find "$OUT/sources" -maxdepth 1 -name 'kpartx_*.deb' | head -n 1)
    if [ -z "$KDEB" ]; then
        (cd "$OUT/sources" && apt-get download kpartx >/dev/null 2>&1)
        KDEB=$(find "$OUT/sources" -maxdepth 1 -name 'kpartx_*.deb' | head -n 1)
    fi
    FR=$SCRATCH/root
    mkdir -p "$FR"/usr/{sbin,lib,bin} "$FR"/var/lib/dpkg/{info,updates,triggers}
    ln -s usr/sbin "$FR/sbin"; ln -s usr/lib "$FR/lib"; ln -s usr/bin "$FR/bin"
    touch "$FR/var/lib/dpkg/status" "$FR/var/lib/dpkg/available"
    # On a real system other packages also list /sbin, /lib/udev/rules.d, /usr/sbin, ...; were
    # kpartx the only one, dpkg would remove the /sbin and /lib symlinks with it. A stand-in
    # for those packages, installed first and never removed:
    B=$SCRATCH/base
    mkdir -p "$B/DEBIAN" "$B/sbin" "$B/lib/udev/rules.d" "$B/usr/sbin" "$B/usr/lib/udev/rules.d"
    touch "$B/sbin/base-tool" "$B/lib/udev/rules.d/00-base.rules" "$B/usr/sbin/base-usr-tool" \
        "$B/usr/lib/udev/rules.d/01-base.rules"
    printf 'Package: scratch-base\nVersion: 1\nArchitecture: all\nMaintainer: test <test@example.org>\nDescription: other packages of a merged-/usr system\n' \
        >"$B/DEBIAN/control"
    dpkg-deb --root-owner-group --build "$B" "$SCRATCH/scratch-base.deb" >/dev/null
    fdpkg() { dpkg --root="$FR" --force-script-chrootless --force-depends --log=/dev/null "$@"; }
    verify() { # verify STEP: dpkg --verify prints nothing
        local out
        out=$(dpkg --root="$FR" --verify 2>&1)
        if [ -z "$out" ]; then ok "swap: $1: dpkg --verify clean"; else bad "swap: $1: dpkg --verify: $out"; fi
    }
    installed() { dpkg --root="$FR" -l "$1" 2>/dev/null | grep -q "^ii  $1 "; }
    if [ -z "$KDEB" ]; then
        bad "swap: apt-get download kpartx failed"
    elif ! fdpkg -i "$SCRATCH/scratch-base.deb" >"$SCRATCH/dpkg.log" 2>&1 ||
        ! fdpkg -i "$KDEB" >>"$SCRATCH/dpkg.log" 2>&1; then
        cat "$SCRATCH/dpkg.log"; bad "swap: dpkg -i ${KDEB##*/}"
    else
        verify "Debian kpartx installed"
        if fdpkg -i "$DEB" >>"$SCRATCH/dpkg.log" 2>&1; then
            verify "kpartx-rs installed over it"
            check "swap: kpartx removed, kpartx-rs installed" bash -c '! dpkg --root="$1" -l kpartx 2>/dev/null | grep -q "^ii" && dpkg --root="$1" -l kpartx-rs | grep -q "^ii"' _ "$FR"
            for p in /usr/sbin/kpartx /usr/lib/udev/kpartx_id; do
                check "swap: $p is executable" test -x "$FR$p"
            done
            check "swap: /usr/sbin/kpartx is kpartx-rs's" cmp "$FR/usr/sbin/kpartx" "$R/usr/sbin/kpartx"
            for p in "${PATHS[@]}"; do check "swap: $p present" test -f "$FR$p"; done
            check "swap: no diversion left behind" bash -c '! dpkg-divert --root="$1" --list | grep -q kpartx' _ "$FR"
        else
            cat "$SCRATCH/dpkg.log"; bad "swap: dpkg -i kpartx-rs over kpartx"
        fi
        if installed kpartx-rs && fdpkg -r kpartx-rs >>"$SCRATCH/dpkg.log" 2>&1; then
            verify "kpartx-rs removed"
            check "swap: kpartx-rs removed its binary" test ! -e "$FR/usr/sbin/kpartx"
            if fdpkg -i "$KDEB" >>"$SCRATCH/dpkg.log" 2>&1; then
                verify "Debian kpartx back"
                for p in /sbin/kpartx /lib/udev/kpartx_id; do
                    check "swap back: $p is executable" test -x "$FR$p"
                done
                check "swap back: /lib/udev/rules.d/68-del-part-nodes.rules present" \
                    test -f "$FR/lib/udev/rules.d/68-del-part-nodes.rules"
                check "swap back: /sbin and /lib are still the merged-/usr symlinks" \
                    bash -c '[ "$(readlink "$1/sbin")" = usr/sbin ] && [ "$(readlink "$1/lib")" = usr/lib ]' _ "$FR"
            else
                cat "$SCRATCH/dpkg.log"; bad "swap back: dpkg -i ${KDEB##*/}"
            fi
        else
            bad "swap: dpkg -r kpartx-rs"
        fi
    fi
    if dpkg-query -W kpartx >/dev/null 2>&1; then
        check "host: dpkg --verify kpartx clean (the host's kpartx untouched)" \
            bash -c '[ -z "$(dpkg --verify kpartx 2>&1)" ] && [ -x /sbin/kpartx ]'
    fi

    # The initramfs: a throwaway Debian root (mmdebstrap from the host's apt sources, variant
    # essential + initramfs-tools + multipath-tools-boot, which brings multipath-tools and
    # Debian's kpartx, + dracut-core), this .deb installed over Debian's kpartx with dpkg -i,
    # then mkinitramfs and dracut for a stub kernel version (no modules: only the hooks
    # matter). Each image must list the binary, the three rules, kpartx_id and the policy (with
    # its drop-in for mkinitramfs); with KPARTX_INITRAMFS=no, or auto without multipath and
    # drop-ins, the hook must add nothing; a broken policy must be reported.
    start=$SECONDS
    IR=$SCRATCH/initramfs-root
    IO=$SCRATCH/initramfs-out
    mkdir -p "$IO"
    cp "$DEB" "$IO/kpartx-rs.deb"
    cat >"$IO/hook.sh" <<'HOOK'
set -eu
R=$1 O=$2
cp "$O/kpartx-rs.deb" "$R/tmp/"
chroot "$R" dpkg -i /tmp/kpartx-rs.deb >"$O/dpkg.log" 2>&1
kv=0.0.0-kpartx-test
mkdir -p "$R/lib/modules/$kv"
touch "$R/lib/modules/$kv/modules.order" "$R/lib/modules/$kv/modules.builtin" "$R/lib/modules/$kv/modules.builtin.modinfo"
printf 'CONFIG_RD_GZIP=y\n' >"$R/boot/config-$kv"
chroot "$R" depmod "$kv"
mk() {
    chroot "$R" mkinitramfs -c gzip -o "/tmp/$1.img" "$kv" >"$O/$1.log" 2>&1
    chroot "$R" lsinitramfs -l "/tmp/$1.img" >"$O/$1.list"
}
printf '[[device]]\nname = "initramfs test"\nmatch = { kind = "dm", dm_name = "san-*" }\npartitions = "enabled"\n' \
    >"$R/etc/kpartx/kpartx.d/50-initramfs-test.toml"
mk auto
# The copies in the image pass the helper's own checks (syntax, owner root, modes).
chroot "$R" unmkinitramfs /tmp/auto.img /tmp/auto-x
if chroot "$R" sh -c 'kpartx --check-config /tmp/auto-x/etc/kpartx/kpartx.toml /tmp/auto-x/etc/kpartx/kpartx.d/*.toml' \
    >"$O/auto-check.log" 2>&1; then echo ok >"$O/auto-check.rc"; else echo failed >"$O/auto-check.rc"; fi
chroot "$R" dracut --no-hostonly --no-kernel --force /tmp/dracut.img "$kv" >"$O/dracut.log" 2>&1
chroot "$R" lsinitrd /tmp/dracut.img >"$O/dracut.list"
printf 'KPARTX_INITRAMFS=no\n' >"$R/etc/initramfs-tools/conf.d/kpartx"
mk no
printf 'KPARTX_INITRAMFS=yes\n' >"$R/etc/initramfs-tools/conf.d/kpartx"
printf 'this is = = not toml\n' >"$R/etc/kpartx/kpartx.d/60-broken.toml"
mk broken
# auto without multipath and without drop-ins: nothing to do for the hook.
rm -f "$R/etc/initramfs-tools/conf.d/kpartx" "$R"/etc/kpartx/kpartx.d/*.toml
mv "$R/usr/sbin/multipath" "$R/usr/sbin/multipath.off"
mk nompath
mv "$R/usr/sbin/multipath.off" "$R/usr/sbin/multipath"
stat -c %s "$R/usr/sbin/kpartx" >"$O/kpartx.size"
HOOK
    sources=()
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -s "$f" ] && sources+=("$f")
    done
    if mmdebstrap --quiet --variant=essential \
        --include=initramfs-tools,multipath-tools-boot,dracut-core,procps,mount \
        --customize-hook="bash $IO/hook.sh \"\$1\" $IO" bookworm "$IR" "${sources[@]}" \
        >"$IO/mmdebstrap.log" 2>&1; then
        ok "initramfs: throwaway root with multipath-tools-boot and dracut-core, kpartx-rs over kpartx, 4 mkinitramfs and 1 dracut run ($((SECONDS - start)) s)"
    else
        bad "initramfs: mmdebstrap + mkinitramfs + dracut ($((SECONDS - start)) s)"
        tail -n 20 "$IO/mmdebstrap.log" "$IO"/*.log 2>/dev/null | sed 's/^/    /'
    fi
    rm -rf "$IR"
    inimg() { # inimg LIST PATH: the ls -l style LIST of an image has PATH (or usr/PATH)
        awk -v p="$2" '$NF == p || $NF == "usr/" p { f = 1 } END { exit !f }' "$IO/$1.list" 2>/dev/null
    }
    check "initramfs: dpkg -i replaced kpartx (Provides satisfies multipath-tools)" \
        grep -q 'will remove kpartx in favour of kpartx-rs' "$IO/dpkg.log"
    check "initramfs: dpkg -i triggered update-initramfs" grep -q 'triggers for initramfs-tools' "$IO/dpkg.log"
    BOOTFILES=(sbin/kpartx lib/udev/rules.d/66-kpartx.rules lib/udev/rules.d/56-kpartx-parts.rules
        lib/udev/rules.d/68-del-part-nodes.rules lib/udev/kpartx_id etc/kpartx/kpartx.toml)
    for f in "${BOOTFILES[@]}" etc/kpartx/kpartx.d/50-initramfs-test.toml sbin/multipath; do
        check "initramfs (mkinitramfs, auto, multipath-tools-boot): image lists $f" inimg auto "$f"
    done
    check "initramfs (auto): no 60-kpartx.rules (the helper rule is in the image once)" \
        bash -c '! grep -q "60-kpartx\.rules" "$1"' _ "$IO/auto.list"
    check "initramfs (auto): the image's kpartx is kpartx-rs's (same size)" bash -c \
        '[ "$(awk "\$NF == \"usr/sbin/kpartx\" { print \$5 }" "$1")" = "$(cat "$2")" ]' _ "$IO/auto.list" "$IO/kpartx.size"
    check "initramfs (auto): the image's policy files pass kpartx --check-config (syntax, owner, modes)" \
        grep -qx ok "$IO/auto-check.rc"
    check "initramfs (KPARTX_INITRAMFS=no): no rule or policy of kpartx-rs" bash -c \
        '[ -s "$1" ] && ! grep -Eq "66-kpartx\.rules|56-kpartx-parts\.rules|etc/kpartx/" "$1"' _ "$IO/no.list"
    check "initramfs (auto, no multipath, no drop-in): no rule or policy of kpartx-rs" bash -c \
        '[ -s "$1" ] && ! grep -Eq "66-kpartx\.rules|56-kpartx-parts\.rules|etc/kpartx/" "$1"' _ "$IO/nompath.list"
    check "initramfs (KPARTX_INITRAMFS=yes, broken drop-in): mkinitramfs warns about the policy" \
        grep -q "W: kpartx: the policy in /etc/kpartx does not pass" "$IO/broken.log"
    check "initramfs (broken drop-in): the files are still there" inimg broken etc/kpartx/kpartx.d/60-broken.toml
    check "dracut --no-hostonly: the 90kpartx-rs module is included (multipath installed)" \
        grep -q 'Including module: kpartx-rs' "$IO/dracut.log"
    for f in "${BOOTFILES[@]}"; do
        check "dracut: lsinitrd lists $f" inimg dracut "$f"
    done

    fi # has_stack 12

    if [ "$REPRO" = 1 ] && [ "$HOSTDEB" = 1 ]; then
        # A second build in another directory (a different path, later time) must give the
        # same bytes: SOURCE_DATE_EPOCH from debian/changelog, --remap-path-prefix.
        start=$SECONDS
        DEB2=$(OUT=$SCRATCH/repro BUILD_DIR=$SCRATCH/repro/other-build-dir packaging/debian/build-deb.sh | tail -n 1)
        check "reproducible: second .deb build ($((SECONDS - start)) s) is byte-identical" cmp "$DEB" "$DEB2"
        cmp "$DEB" "$DEB2" >/dev/null 2>&1 || ! command -v diffoscope >/dev/null ||
            diffoscope "$DEB" "$DEB2" | head -n 40
    fi
fi

# --- RPM package -------------------------------------------------------------------------------
if [ -f "$RPM" ]; then
    rpm -qlp --nosignature "$RPM" 2>/dev/null >"$SCRATCH/rpm.list"
    has_rpm() { grep -Eq "^$1\$" "$SCRATCH/rpm.list"; }
    for p in "${PATHS[@]}"; do check "rpm contains $p" has_rpm "$p"; done
    check "rpm contains /etc/kpartx/kpartx.d" has_rpm /etc/kpartx/kpartx.d
    check "rpm contains man8/kpartx.8*" has_rpm '/usr/share/man/man8/kpartx\.8(\.gz|\.xz|\.bz2|\.zst)?'
    check "rpm contains man5/kpartx.toml.5*" has_rpm '/usr/share/man/man5/kpartx\.toml\.5(\.gz|\.xz|\.bz2|\.zst)?'
    check "rpm contains the bash completion" has_rpm /usr/share/bash-completion/completions/kpartx
    check "rpm contains the zsh completion" has_rpm /usr/share/zsh/site-functions/_kpartx
    check "rpm contains the dracut module 90kpartx-rs" has_rpm /usr/lib/dracut/modules.d/90kpartx-rs/module-setup.sh
    check "rpm has no initramfs-tools hook" bash -c '! grep -q initramfs-tools "$1"' _ "$SCRATCH/rpm.list"
    rpmq() { rpm -qp --nosignature "$@" "$RPM" 2>/dev/null; }
    check "rpm provides kpartx" bash -c 'grep -Eq "^kpartx( |$)" <<<"$1"' _ "$(rpmq --provides)"
    check "rpm obsoletes kpartx" bash -c 'grep -Eq "^kpartx( |$)" <<<"$1"' _ "$(rpmq --obsoletes)"
    check "rpm conflicts with kpartx" bash -c 'grep -Eq "^kpartx( |$)" <<<"$1"' _ "$(rpmq --conflicts)"
    check "rpm: kpartx.toml is %config(noreplace)" bash -c 'grep -Eq "^/etc/kpartx/kpartx\.toml cn$" <<<"$1"' _ \
        "$(rpmq --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]')"
    check "rpm: /usr/sbin/kpartx is 0755 root:root" bash -c 'grep -Eq "^/usr/sbin/kpartx 0?100755 root root$" <<<"$1"' _ \
        "$(rpmq --qf '[%{FILENAMES} %{FILEMODES:octal} %{FILEUSERNAME} %{FILEGROUPNAME}\n]')"
    check "rpm License: names MPL-2.0 (devicemapper is linked)" bash -c 'grep -q "MPL-2.0" <<<"$1"' _ "$(rpmq --qf '%{LICENSE}')"
    check "rpm: man pages compressed" has_rpm '/usr/share/man/man8/kpartx\.8\.(gz|xz|bz2|zst)'
    # %{_defaultlicensedir}/%{name}, or %{name}-%{version} with older rpm (Debian's).
    check "rpm: licence files" has_rpm '/usr/share/licenses/kpartx-rs(-[0-9.]+)?/LICENSE-MIT'
    check "rpm: /usr/sbin/kpartx stripped" bash -c 'rpm2cpio "$1" | (cd "$2" && mkdir -p rpmx && cd rpmx && cpio -idm --quiet ./usr/sbin/kpartx) && ! file "$2/rpmx/usr/sbin/kpartx" | grep -q "not stripped"' _ "$RPM" "$SCRATCH"
    SRPM=$(find "$OUT" -maxdepth 1 -name 'kpartx-rs-*.src.rpm' | head -n 1)
    check "rpm: source RPM built" test -n "$SRPM"
    check "rpmlint: no errors" bash -c 'rpmlint -r "$1" "${@:2}" >"$0" 2>&1; ! grep -E ": E: " "$0" | grep -v "no-signature" | grep -q .' \
        "$SCRATCH/rpmlint.log" "$HERE/rpm/kpartx-rs.rpmlintrc" "$OUT"/kpartx-rs-*.rpm
    sed 's/^/    rpmlint: /' "$SCRATCH/rpmlint.log"
    check "rpm %post reloads udev rules" bash -c 'grep -q "udevadm control --reload-rules" <<<"$1"' _ "$(rpmq --scripts)"
fi

finish
