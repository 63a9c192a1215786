# bash completion for kpartx (kpartx-rs)                             -*- shell-script -*-
# Installed as $(BASHCOMPDIR)/kpartx; works with or without the bash-completion package.

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
            --udev-id) mode=udev-id ;;
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

    case $prev in
        -t|--type)
            _kpartx_reply < <(compgen -W 'gpt dos bsd solaris unixware dasd mac sun ps3' -- "$cur")
            return 0
            ;;
        -p|--delimiter|--part-postfix)
            _kpartx_reply < <(compgen -W 'p -part _part' -- "$cur")
            return 0
            ;;
        --udev-timeout)
            _kpartx_reply < <(compgen -W '5 10 30 60 120' -- "$cur")
            return 0
            ;;
    esac

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
        local opts='-a -d -u -l -r -p -f -g -s -n -v -t
            --add --delete --update --list --read-only --delimiter --part-postfix --force
            --gpt --sync --nosync --verbose --type --dos --json --udev-timeout --help
            --version --udev --udev-id --check-config --show-policy'
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
