# bash completion for kpartx (kpartx-rs)                             -*- shell-script -*-
# Installed as $(BASHCOMPDIR)/kpartx; works with or without the bash-completion package.

# BEGIN GENERATED OPTIONS from src/cli/spec.rs: KPARTX_REGENERATE=1 cargo test --lib spec
# Every option, in --help order.
_kpartx_options='-a --add -u --update -d --delete -l --list -r --read-only -p --delimiter
    --part-postfix -f --force -g --gpt -s --sync -n --nosync -v --verbose -t --type --dos
    --sector-size --name --read-anyway --json --dry-run --status --prune --udev-timeout
    --busy-timeout --udev --udev-id --udev-del-part-nodes --check-config --show-policy
    --map-images --unmap-images --help --version'

# Prints the suggested arguments of option $1 one per line; fails when $1 takes none.
_kpartx_values()
{
    case $1 in
        -p|--delimiter|--part-postfix) printf '%s\n' p -part _part ;;
        -t|--type) printf '%s\n' gpt dos bsd solaris unixware dasd mac sun ps3 ;;
        --sector-size) printf '%s\n' auto 512 4096 ;;
        --name) printf '%s\n'  ;;
        --udev-timeout) printf '%s\n' 5 10 30 60 120 ;;
        --busy-timeout) printf '%s\n' 0 5 10 30 ;;
        *) return 1 ;;
    esac
}
# END GENERATED OPTIONS

# Whole-disk block devices (no kernel partitions) and /dev/mapper names.
_kpartx_devices()
{
    local sys name
    for sys in /sys/class/block/*; do
        [[ -e $sys/partition ]] && continue
        name=${sys##*/}
        [[ -b /dev/$name ]] && printf '%s\n' "/dev/$name"
    done
    for name in /dev/mapper/*; do
        [[ $name != /dev/mapper/control && -b $name ]] && printf '%s\n' "$name"
    done
}

# Sets COMPREPLY to the distinct lines of standard input.
_kpartx_reply()
{
    local line
    local -A seen=()
    COMPREPLY=()
    while IFS= read -r line; do
        [[ -z $line || -n ${seen[$line]-} ]] && continue
        seen[$line]=1
        COMPREPLY+=("$line")
    done
}

_kpartx()
{
    local cur prev i mode=run
    local -a words
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    words=("${COMP_WORDS[@]}")

    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${words[i]} in
            --udev) mode=udev ;;
            --udev-id|--udev-del-part-nodes) mode=udev-id ;;
            --check-config) mode=check-config ;;
            --show-policy) mode=show-policy ;;
            --help|--version) mode=none ;;
        esac
    done

    # --opt=value
    if [[ $cur == --*=* ]]; then
        prev=${cur%%=*}
        cur=${cur#*=}
    elif [[ $prev == = && $COMP_CWORD -ge 2 ]]; then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi

    local values
    if values=$(_kpartx_values "$prev"); then
        _kpartx_reply < <(compgen -W "$values" -- "$cur")
        return 0
    fi

    case $mode in
        none|udev-id)
            COMPREPLY=()
            return 0
            ;;
        udev)
            _kpartx_reply < <(compgen -W '-v --verbose' -- "$cur")
            return 0
            ;;
        check-config)
            compopt -o filenames 2>/dev/null
            _kpartx_reply < <(compgen -f -X '!*.toml' -- "$cur"; compgen -d -- "$cur")
            return 0
            ;;
    esac

    if [[ $cur == -* ]]; then
        local opts=$_kpartx_options
        [[ $mode == show-policy ]] && opts='-v --verbose'
        _kpartx_reply < <(compgen -W "$opts" -- "$cur")
        return 0
    fi

    # The device: block devices, then image files and directories.
    compopt -o filenames 2>/dev/null
    _kpartx_reply < <(compgen -W "$(_kpartx_devices)" -- "$cur"; compgen -f -- "$cur")
    return 0
}

complete -F _kpartx kpartx
