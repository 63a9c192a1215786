#!/bin/bash
# shellcheck disable=SC2016,SC2317  # bash -c snippets take $1; helpers are called through check
# packaging/test-packages.sh — build the Debian and RPM packages and check what is in them.
#
#   [BIN=target/release/kpartx] packaging/test-packages.sh
#
# Installs what it needs with apt-get (dpkg-dev, rpm, make, binutils, groff), builds
# target/release/kpartx with cargo if it is missing, builds both packages into
# target/packages/ and checks:
#   * the file layout (dpkg-deb --contents, rpm -qlp), owners and modes;
#   * the control fields (Provides/Conflicts/Replaces kpartx, Depends, conffiles) and the RPM
#     provides/obsoletes/conflicts and %config(noreplace);
#   * that the packaged udev rules name the packaged binary and pass packaging/check-rules.sh,
#     that the packaged man pages render without groff warnings, that the packaged binary runs;
#   * that replacing the distribution's kpartx package on a merged-/usr system keeps
#     /usr/sbin/kpartx (dpkg in a scratch root, with a stand-in kpartx package).
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

# --- tools -------------------------------------------------------------------------------------
need=()
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v rpmbuild >/dev/null || need+=(rpm)
command -v make >/dev/null || need+=(make)
command -v strip >/dev/null || need+=(binutils)
command -v groff >/dev/null || need+=(groff)
command -v gzip >/dev/null || need+=(gzip)
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

# --- binary and packages -----------------------------------------------------------------------
BIN=${BIN:-target/release/kpartx}
if [ ! -x "$BIN" ]; then
    if [ "$BIN" != target/release/kpartx ]; then
        bad "BIN=$BIN is not an executable file"
        finish
    fi
    echo "test-packages: building $BIN"
    cargo build --release --locked || { bad "cargo build --release"; finish; }
fi
export BIN

OUT=$TOP/target/packages
mkdir -p "$OUT"
SCRATCH=$(mktemp -d "$OUT/.test.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

ARCH=$(dpkg --print-architecture)
rm -f "$OUT"/kpartx-rs_*.deb "$OUT"/kpartx-rs-*.rpm
DEB=$(OUT=$OUT packaging/debian/build-deb.sh | tail -n 1)
if [ -f "$DEB" ]; then ok "build .deb (${DEB#"$TOP"/})"; else bad "build .deb"; fi
RPM=$(OUT=$OUT packaging/rpm/build-rpm.sh | tail -n 1)
if [ -f "$RPM" ]; then ok "build .rpm (${RPM#"$TOP"/})"; else bad "build .rpm"; fi

PATHS=(
    /usr/sbin/kpartx
    /usr/lib/udev/rules.d/66-kpartx.rules
    /usr/lib/udev/rules.d/56-kpartx-parts.rules
    /usr/lib/udev/rules.d/68-del-part-nodes.rules
    /usr/lib/udev/kpartx_id
    /etc/kpartx/kpartx.toml
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
    check "deb Provides satisfies multipath-tools' kpartx (>= 0.9.4-3+deb12u2)" \
        dpkg --compare-versions "$(field Provides | sed -n 's/.*kpartx (= \([^)]*\)).*/\1/p')" ge 0.9.4-3+deb12u2
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

    # Replacing the distribution's kpartx (which ships /sbin/kpartx) on a merged-/usr system:
    # without preinst's diversion dpkg would delete /usr/sbin/kpartx while removing it.
    FR=$SCRATCH/root
    mkdir -p "$FR"/usr/{sbin,lib,bin} "$FR"/var/lib/dpkg/{info,updates,triggers} "$SCRATCH/old/DEBIAN" \
        "$SCRATCH/old/sbin" "$SCRATCH/old/lib/udev/rules.d"
    ln -s usr/sbin "$FR/sbin"; ln -s usr/lib "$FR/lib"; ln -s usr/bin "$FR/bin"
    touch "$FR/var/lib/dpkg/status" "$FR/var/lib/dpkg/available"
    printf '#!/bin/sh\necho stand-in\n' >"$SCRATCH/old/sbin/kpartx"
    chmod 0755 "$SCRATCH/old/sbin/kpartx"
    echo '# stand-in' >"$SCRATCH/old/lib/udev/rules.d/60-kpartx.rules"
    printf 'Package: kpartx\nVersion: 0.9.4-3+deb12u2\nArchitecture: %s\nMaintainer: test <test@localhost>\nDescription: stand-in for the distribution package\n' \
        "$ARCH" >"$SCRATCH/old/DEBIAN/control"
    dpkg-deb --root-owner-group --build "$SCRATCH/old" "$SCRATCH/kpartx-old.deb" >/dev/null
    fdpkg() { dpkg --root="$FR" --force-script-chrootless --force-not-root --log=/dev/null "$@"; }
    if fdpkg -i "$SCRATCH/kpartx-old.deb" >"$SCRATCH/dpkg.log" 2>&1 &&
        fdpkg --force-depends -i "$DEB" >>"$SCRATCH/dpkg.log" 2>&1; then
        check "merged-/usr: replacing kpartx keeps /usr/sbin/kpartx" cmp "$FR/usr/sbin/kpartx" "$R/usr/sbin/kpartx"
        check "merged-/usr: kpartx removed, kpartx-rs installed" bash -c \
            'dpkg --root="$1" -l | grep -q "^ii  kpartx-rs " && ! dpkg --root="$1" -l | grep -q "^ii  kpartx "' _ "$FR"
        check "merged-/usr: no diversion left behind" bash -c \
            '! dpkg-divert --root="$1" --list | grep -q kpartx' _ "$FR"
    else
        cat "$SCRATCH/dpkg.log"
        bad "merged-/usr replacement test: dpkg failed"
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
    rpmq() { rpm -qp --nosignature "$@" "$RPM" 2>/dev/null; }
    check "rpm provides kpartx" bash -c 'grep -Eq "^kpartx( |$)" <<<"$1"' _ "$(rpmq --provides)"
    check "rpm obsoletes kpartx" bash -c 'grep -Eq "^kpartx( |$)" <<<"$1"' _ "$(rpmq --obsoletes)"
    check "rpm conflicts with kpartx" bash -c 'grep -Eq "^kpartx( |$)" <<<"$1"' _ "$(rpmq --conflicts)"
    check "rpm: kpartx.toml is %config(noreplace)" bash -c 'grep -Eq "^/etc/kpartx/kpartx\.toml cn$" <<<"$1"' _ \
        "$(rpmq --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]')"
    check "rpm: /usr/sbin/kpartx is 0755 root:root" bash -c 'grep -Eq "^/usr/sbin/kpartx 0?100755 root root$" <<<"$1"' _ \
        "$(rpmq --qf '[%{FILENAMES} %{FILEMODES:octal} %{FILEUSERNAME} %{FILEGROUPNAME}\n]')"
    check "rpm %post reloads udev rules" bash -c 'grep -q "udevadm control --reload-rules" <<<"$1"' _ "$(rpmq --scripts)"
fi

finish
