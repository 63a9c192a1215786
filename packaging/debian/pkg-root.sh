# shellcheck shell=bash
# packaging/debian/pkg-root.sh — sourced by the package tests and the chroot build: throwaway
# Debian roots of either stack, made once with mmdebstrap and cached as tarballs.
#
#   . packaging/debian/pkg-root.sh
#   stack_suite 13                          # -> trixie
#   pkg_root_tar NAME SUITE VARIANT PKGS HOOK  # -> path of the cached NAME.tar (built when needed)
#   pkg_root_extract TAR DIR                # unpack a cached root into an empty DIR
#   pkg_root_run DIR [--bind HOSTDIR:ROOTDIR]... -- CMD...   # CMD in the root, as root
#   pkg_root_remove DIR
#
# The roots come from the same mirror as the VM stacks (tests/vm/prepare.sh): Debian 12 is
# bookworm (+ bookworm-updates) from VM_MIRROR_12, Debian 13 is trixie from VM_MIRROR_13, both
# http://deb.debian.org/debian unless set. The tarballs live in PKG_ROOT_CACHE (default
# tests/vm/cache/pkg-roots, shared between worktrees); each has a NAME.key next to it (suite,
# variant, packages and the hook's text), and a tarball whose key differs, or any with
# PKG_ROOT_REFRESH=1, is made again. The apt lists and the downloaded .debs stay in the root, so
# that apt-get can install again from the cache without the network (apt-get --no-download).
#
# pkg_root_run uses a private mount namespace (unshare --mount): /proc, /dev (a tmpfs with the
# usual nodes) and the bind mounts vanish with the command, so removing DIR afterwards cannot
# reach the host's files.

_PKG_ROOT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PKG_ROOT_CACHE=${PKG_ROOT_CACHE:-$_PKG_ROOT_TOP/tests/vm/cache/pkg-roots}

stack_suite() { # stack_suite 12|13
    case $1 in
        12) echo bookworm ;;
        13) echo trixie ;;
        *) echo "pkg-root: unknown Debian stack '$1' (12 or 13)" >&2; return 1 ;;
    esac
}

stack_sources() { # stack_sources SUITE: the one-line apt sources mmdebstrap gets
    case $1 in
        bookworm)
            local m=${VM_MIRROR_12:-http://deb.debian.org/debian}
            printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$m" "$m" ;;
        trixie) printf 'deb %s trixie main\n' "${VM_MIRROR_13:-http://deb.debian.org/debian}" ;;
        *) echo "pkg-root: no sources for suite '$1'" >&2; return 1 ;;
    esac
}

# pkg_root_tar NAME SUITE VARIANT PKGS HOOK: the cached root NAME.tar, made when missing or
# stale. PKGS is comma-separated; HOOK is shell text run by mmdebstrap as a customize hook ($1
# is the root), may be empty. Prints the tarball's path; mmdebstrap's output goes to NAME.log.
pkg_root_tar() {
    local name=$1 suite=$2 variant=$3 pkgs=$4 hook=$5 key tar sources
    tar=$PKG_ROOT_CACHE/$name.tar
    local tmp=$PKG_ROOT_CACHE/$name.new.$$.tar # two runs at once (worktrees share the cache)
    key="$suite $variant $pkgs $(printf '%s' "$hook" | sha256sum | cut -c1-16)"
    if [ "${PKG_ROOT_REFRESH:-0}" != 1 ] && [ -s "$tar" ] && [ "$(cat "$PKG_ROOT_CACHE/$name.key" 2>/dev/null)" = "$key" ]; then
        echo "$tar"
        return 0
    fi
    mkdir -p "$PKG_ROOT_CACHE"
    sources=$(stack_sources "$suite") || return 1
    local args=(--quiet --variant="$variant" --skip=cleanup/apt/lists --skip=cleanup/apt/cache)
    [ -n "$pkgs" ] && args+=(--include="$pkgs")
    if [ -n "$hook" ]; then
        printf '%s\n' "$hook" >"$PKG_ROOT_CACHE/$name.hook"
        args+=(--customize-hook="bash $PKG_ROOT_CACHE/$name.hook \"\$1\"")
    fi
    rm -f "$tar" "$PKG_ROOT_CACHE/$name.key"
    if ! printf '%s\n' "$sources" | mmdebstrap "${args[@]}" "$suite" "$tmp" - \
        >"$PKG_ROOT_CACHE/$name.log" 2>&1; then
        echo "pkg-root: mmdebstrap of $name ($suite) failed; log: $PKG_ROOT_CACHE/$name.log" >&2
        tail -n 20 "$PKG_ROOT_CACHE/$name.log" >&2
        rm -f "$tmp"
        return 1
    fi
    mv "$tmp" "$tar"
    printf '%s\n' "$key" >"$PKG_ROOT_CACHE/$name.key"
    echo "$tar"
}

pkg_root_extract() { # pkg_root_extract TAR DIR
    mkdir -p "$2" && tar -C "$2" --numeric-owner -xf "$1"
}

# pkg_root_run DIR [--bind HOST:INROOT]... [--ro-bind HOST:INROOT]... -- CMD...
pkg_root_run() {
    local dir=$1 binds=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        case $1 in
            --bind | --ro-bind) binds+=("$1" "$2"); shift 2 ;;
            *) echo "pkg_root_run: unknown option $1" >&2; return 2 ;;
        esac
    done
    shift
    # shellcheck disable=SC2016  # the script takes its values as arguments
    unshare --mount --propagation private -- bash -c '
        set -e
        R=$1; shift
        mount -t proc proc "$R/proc"
        mount -t tmpfs -o mode=755,nosuid dev "$R/dev"
        for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
            mknod -m 666 "$R/dev/${n%%:*}" c "$(echo "$n" | cut -d: -f2)" "${n##*:}"
        done
        ln -s /proc/self/fd "$R/dev/fd"
        mkdir -p "$R/dev/pts" "$R/dev/shm"
        while [ "$1" != -- ]; do
            src=${2%%:*} dst=$R${2#*:}
            mkdir -p "$dst"
            mount --bind "$src" "$dst"
            [ "$1" = --ro-bind ] && mount -o remount,bind,ro "$dst"
            shift 2
        done
        shift
        exec chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
    ' pkg_root_run "$dir" "${binds[@]}" -- "$@"
}

pkg_root_remove() { # pkg_root_remove DIR: never crosses into a (left-over) mount
    [ -n "$1" ] && [ -d "$1" ] && rm -rf --one-file-system "$1"
}

# build_root_tar SUITE: the cached build root of that suite: mmdebstrap --variant=buildd
# (build-essential) + lintian, then `apt-get build-dep ./` on this checkout's debian/control
# (the Build-Depends as that suite resolves them). Made again when debian/control changes.
build_root_tar() {
    local suite=$1 hook
    hook="set -eu
R=\$1
# debian/control $(sha256sum <"$_PKG_ROOT_TOP/debian/control" | cut -c1-16)
mkdir -p \"\$R/tmp/kpartx-rs-src/debian\"
cp '$_PKG_ROOT_TOP/debian/control' '$_PKG_ROOT_TOP/debian/changelog' \"\$R/tmp/kpartx-rs-src/debian/\"
chroot \"\$R\" sh -c 'cd /tmp/kpartx-rs-src && apt-get build-dep -y -q ./'
rm -rf \"\$R/tmp/kpartx-rs-src\"
find \"\$R/var/cache/apt/archives\" -name '*.deb' -delete"
    pkg_root_tar "build-$suite" "$suite" buildd lintian "$hook"
}
