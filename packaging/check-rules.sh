#!/bin/bash
# packaging/check-rules.sh — static checks for udev rules files.
#
#   check-rules.sh [--no-comment-check] [--udevadm-test] [FILE...]
#
# Without FILE arguments the rules shipped in rules.d/ are checked.
#
# Checks (each problem is printed as FILE:LINE: message and makes the script fail):
#   * every rule is a comma-separated list of KEY[{attr}] OP "value" pairs (quotes balanced,
#     no missing or trailing comma, continuation lines joined);
#   * keys are known udev keys; match-only keys (KERNEL, ACTION, SUBSYSTEM, TEST, …) use ==
#     or != (a single = there is the classic mistake that silently turns into a no-op or an
#     error); assignment-only keys (RUN, OPTIONS, GOTO, LABEL, …) do not use == or !=;
#     IMPORT and PROGRAM are written with = (udev accepts ==, but it reads as a comparison);
#   * a rule that only matches and neither assigns, imports nor jumps does nothing;
#   * GOTO targets exist further down in the same file (udev only jumps forward), LABELs are
#     unique;
#   * braces of $env{…}/%E{…} substitutions are balanced; no @PLACEHOLDER@ is left over;
#   * ACTION values are real actions;
#   * every rule has a comment line right above it (skip with --no-comment-check).
#
# Then, when the installed udevadm has the `verify` verb (systemd >= 254), it runs
# `udevadm verify` on the files too. With --udevadm-test (root only) it also loads the files
# with `udevadm test` inside a private mount namespace (tmpfs over /run, /dev and the rules
# directories, so nothing on the host changes) against a loop device, and fails when udev
# reports a problem in one of them.
#
# Output ends with "check-rules: N files, N problems".
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(dirname "$HERE")

COMMENTS=1
UDEVADM_TEST=0
FILES=()
while [ $# -gt 0 ]; do
    case $1 in
        --no-comment-check) COMMENTS=0 ;;
        --udevadm-test) UDEVADM_TEST=1 ;;
        -h|--help) sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
        -*) echo "check-rules: unknown option $1" >&2; exit 2 ;;
        *) FILES+=("$1") ;;
    esac
    shift
done
if [ ${#FILES[@]} -eq 0 ]; then
    FILES=("$TOP"/rules.d/*.rules)
fi

problems=0

lint() { # lint FILE: prints problems, returns their number (capped at 255) as status
    awk -v FILE="$1" -v COMMENTS="$COMMENTS" '
    function problem(line, msg) { printf "%s:%d: %s\n", FILE, line, msg; nprob++ }
    function is_in(word, list) { return index(" " list " ", " " word " ") > 0 }
    BEGIN {
        MATCH_ONLY = "ACTION DEVPATH KERNEL KERNELS SUBSYSTEM SUBSYSTEMS DRIVER DRIVERS ATTRS TAGS TEST RESULT CONST SYSCTLS PARENT"
        SIDE_EFFECT = "IMPORT PROGRAM"
        ASSIGN_ONLY = "RUN LABEL GOTO OPTIONS OWNER GROUP MODE SECLABEL"
        BOTH = "ENV ATTR SYSCTL NAME SYMLINK TAG"
        NEED_ATTR = "ENV ATTR ATTRS SYSCTL SYSCTLS IMPORT SECLABEL CONST"
        ACTIONS = "add change remove move bind unbind online offline"
        nprob = 0; prev_comment = 0; rule = ""; start = 0
    }
    # Remember whether the previous physical line was a comment.
    function finish_rule(   s, pos, n, key, attr, op, val, c, ch, nmatch, nact, rest, i, acts, k) {
        s = rule; pos = 1; n = length(s); nmatch = 0; nact = 0
        while (1) {
            while (pos <= n && substr(s, pos, 1) ~ /[ \t]/) pos++
            if (pos > n) { problem(start, "rule ends with a comma"); break }
            rest = substr(s, pos)
            if (!match(rest, /^[A-Z_]+/)) { problem(start, "expected a key at \"" substr(rest, 1, 20) "\""); return }
            key = substr(rest, 1, RLENGTH); pos += RLENGTH; attr = ""
            if (substr(s, pos, 1) == "{") {
                rest = substr(s, pos)
                if (!match(rest, /^\{[^}]*\}/)) { problem(start, key ": unterminated {attribute}"); return }
                attr = substr(rest, 2, RLENGTH - 2); pos += RLENGTH
            }
            while (pos <= n && substr(s, pos, 1) ~ /[ \t]/) pos++
            op = substr(s, pos, 2)
            if (op == "==" || op == "!=" || op == "+=" || op == "-=" || op == ":=") pos += 2
            else if (substr(s, pos, 1) == "=") { op = "="; pos++ }
            else { problem(start, key ": missing operator"); return }
            while (pos <= n && substr(s, pos, 1) ~ /[ \t]/) pos++
            if (substr(s, pos, 1) == "e" && substr(s, pos + 1, 1) == "\"") pos++
            if (substr(s, pos, 1) != "\"") { problem(start, key ": value is not in double quotes"); return }
            pos++; val = ""; c = 0
            while (pos <= n) {
                ch = substr(s, pos, 1)
                if (ch == "\\" && pos < n) { val = val ch substr(s, pos + 1, 1); pos += 2; continue }
                if (ch == "\"") { c = 1; break }
                val = val ch; pos++
            }
            if (!c) { problem(start, key ": unterminated quoted value"); return }
            pos++
            check_pair(key, attr, op, val)
            if (op == "==" || op == "!=") nmatch++; else nact++
            if (key == "IMPORT" || key == "PROGRAM") nact++
            while (pos <= n && substr(s, pos, 1) ~ /[ \t]/) pos++
            if (pos > n) break
            if (substr(s, pos, 1) != ",") { problem(start, "missing comma before \"" substr(s, pos, 20) "\""); return }
            pos++
        }
        if (nact == 0) problem(start, "rule only matches; it neither assigns, imports nor jumps")
    }
    function check_pair(key, attr, op, val,   opens, closes, tmp, i, n, a) {
        if (!is_in(key, MATCH_ONLY " " SIDE_EFFECT " " ASSIGN_ONLY " " BOTH)) {
            problem(start, "unknown key " key); return
        }
        if (is_in(key, NEED_ATTR) && attr == "") problem(start, key " needs an {attribute}")
        if (is_in(key, MATCH_ONLY) && op != "==" && op != "!=")
            problem(start, "match key " key " uses \"" op "\"; did you mean \"==\"?")
        if (is_in(key, ASSIGN_ONLY) && (op == "==" || op == "!="))
            problem(start, "assignment key " key " uses \"" op "\"")
        if (is_in(key, SIDE_EFFECT) && op == "==")
            problem(start, key " is written with \"=\", not \"==\"")
        if (is_in(key, SIDE_EFFECT) && op != "=" && op != "!=" && op != "==")
            problem(start, key " cannot use \"" op "\"")
        if ((key == "GOTO" || key == "LABEL") && op != "=")
            problem(start, key " must use \"=\"")
        if (key == "RUN" && op == "-=") problem(start, "RUN cannot use \"-=\"")
        if (key == "GOTO") { gotos[++ngoto] = val; goto_line[ngoto] = start }
        if (key == "LABEL") {
            if (val in label_line) problem(start, "LABEL \"" val "\" already defined on line " label_line[val])
            label_line[val] = start
        }
        if (key == "ACTION") {
            n = split(val, a, "|")
            for (i = 1; i <= n; i++)
                if (!is_in(a[i], ACTIONS)) problem(start, "ACTION value \"" a[i] "\" is not a udev action")
        }
        tmp = val; opens = gsub(/\{/, "", tmp); tmp = val; closes = gsub(/\}/, "", tmp)
        if (opens != closes) problem(start, key ": unbalanced braces in \"" val "\"")
        if (val ~ /\$env[^{]/ || val ~ /\$env$/) problem(start, key ": $env without {NAME}")
        if (val ~ /@[A-Z_]+@/) problem(start, key ": unsubstituted placeholder in \"" val "\"")
    }
    {
        line = $0
        sub(/\r$/, "", line)
        if (rule != "") {                       # continuation of the previous line
            cont = line
            sub(/^[ \t]+/, "", cont)
            rule = rule " " cont
        } else if (line ~ /^[ \t]*#/) {
            prev_comment = 1; next
        } else if (line ~ /^[ \t]*$/) {
            prev_comment = 0; next
        } else {
            start = NR; rule = line
            if (COMMENTS == 1 && !prev_comment) problem(NR, "rule without a comment line above it")
        }
        if (rule ~ /\\$/) { sub(/\\$/, "", rule); next }
        sub(/^[ \t]+/, "", rule)
        finish_rule()
        rule = ""; prev_comment = 0
    }
    END {
        if (rule != "") problem(start, "file ends inside a continued line")
        for (i = 1; i <= ngoto; i++) {
            t = gotos[i]
            if (!(t in label_line)) problem(goto_line[i], "GOTO \"" t "\" has no LABEL")
            else if (label_line[t] < goto_line[i]) problem(goto_line[i], "GOTO \"" t "\" jumps backwards (LABEL on line " label_line[t] ")")
        }
        exit (nprob > 255 ? 255 : nprob)
    }' "$1"
}

for f in "${FILES[@]}"; do
    if [ ! -r "$f" ]; then
        echo "$f: cannot read" >&2
        problems=$((problems + 1))
        continue
    fi
    lint "$f"
    problems=$((problems + $?))
done

# systemd >= 254: udev's own checker.
if udevadm verify --help >/dev/null 2>&1; then
    if ! udevadm verify --resolve-names=never "${FILES[@]}"; then
        echo "check-rules: udevadm verify reported problems"
        problems=$((problems + 1))
    fi
fi

# Optional: let udevd's rule parser load the files, in a throw-away mount namespace.
if [ "$UDEVADM_TEST" -eq 1 ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
        echo "check-rules: --udevadm-test needs root and unshare" >&2
        problems=$((problems + 1))
    else
        dev=$(for d in /sys/class/block/loop*; do [ -e "$d/dev" ] && { echo "$d"; break; }; done)
        if [ -z "$dev" ]; then
            echo "check-rules: --udevadm-test: no loop device to run udevadm test on" >&2
            problems=$((problems + 1))
        else
            sysrules=/usr/lib/udev/rules.d
            [ -d "$sysrules" ] || sysrules=/lib/udev/rules.d
            out=$(unshare -m --propagation private /bin/sh -s "$dev" "$sysrules" "${FILES[@]}" <<'EOF' 2>&1
set -e
dev=$1; sysrules=$2; shift 2
stage=$(mktemp -d)
# The device-mapper rules our files are meant to coexist with, plus ours.
for r in 55-dm.rules 10-dm.rules 11-dm-mpath.rules 13-dm-disk.rules \
         60-persistent-storage-dm.rules 95-dm-notify.rules; do
    [ -e "$sysrules/$r" ] && cp "$sysrules/$r" "$stage/"
done
for f in "$@"; do cp "$f" "$stage/"; done
mount -n -t tmpfs tmpfs /run
mount -n -t tmpfs tmpfs /dev
mknod -m 666 /dev/null c 1 3
mount -n -t tmpfs tmpfs /etc/udev/rules.d
mount -n -t tmpfs tmpfs "$sysrules"
cp "$stage"/* "$sysrules/"
rm -rf "$stage"
udevadm test --action=add "$dev"
EOF
            )
            rc=$?
            bad=0
            for f in "${FILES[@]}"; do
                b=$(basename "$f")
                # Problems are reported as "FILE:LINE <message>"; RUN/IMPORT trace lines are not.
                complaints=$(printf '%s\n' "$out" | grep -F "$b:" |
                    grep -Ei 'invalid|unknown|error|fail|warn|ignor|deprecat|unexpected|missing' || true)
                if [ -n "$complaints" ]; then
                    printf '%s\n' "$complaints"
                    bad=1
                fi
            done
            if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
                [ "$rc" -ne 0 ] && printf '%s\n' "$out" | tail -20
                echo "check-rules: udevadm test reported problems (status $rc)"
                problems=$((problems + 1))
            else
                echo "check-rules: udevadm test loaded the rules without complaint"
            fi
        fi
    fi
fi

echo "check-rules: ${#FILES[@]} files, $problems problems"
[ "$problems" -eq 0 ]
