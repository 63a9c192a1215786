# shellcheck shell=dash
# vm: udev=on hotplug timeout=300
# never-blocked: what used to hang or end half-done, with udevd running.
# 1. A multipath map that queues I/O (queue_if_no_path) with its only path failed: `kpartx -l`,
#    `-a` and the helper for a change event without the not-ready flags return within 2 s
#    without reading it (no process left in D state); -l/-a exit 1 naming the map's state, the
#    helper exits 0. After the path is reinstated, a change event maps the partitions.
# 2. A partition map held open for 2 s when `-d` runs: -d waits and removes everything (exit 0);
#    held for longer than its 5 s bound: nothing is removed, exit 1, the map is named.
# 3. A loop attached read-only gets read-only partition maps without -r (the reference makes
#    them read-write).
# 4. `-d /dev/loopN` detaches a loop that `-a IMAGE` attached, not one that losetup attached.
# 5. `-u` racing `-d`, and `-u` racing `-u`, on one loop, 20 rounds each: every round ends with
#    all maps or none.
# Only the binary under test is checked (the reference hangs in step 1 by design).
. "$HARNESS/hotplug-lib.sh"

WWID=3600a0b80000000000000000000000077

# d_state: the kpartx processes in uninterruptible sleep, if any.
d_state() {
    local p
    for p in /proc/[0-9]*; do
        grep -q '^Name:.*kpartx' "$p/status" 2>/dev/null || continue
        grep -q '^State:.*D' "$p/status" 2>/dev/null && echo "${p#/proc/}"
    done
}

queueing_body() {
    local img lp sectors cs dev
    img=$(mkgpt nb-mp 64 2 16)
    lp=$(attach "$img")
    sectors=$(blockdev --getsz "$lp")
    # The shipped rules map it at creation; those maps go, then the path fails.
    dmsetup create nbmp -u "mpath-$WWID" \
        --table "0 $sectors multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 $(devno "$lp") 1000" ||
        die "dmsetup create nbmp"
    udev_settle
    hp_wait_maps nbmp- 2
    dmsetup remove nbmp-part1 nbmp-part2 2>/dev/null
    dmsetup message nbmp 0 fail_path "$(devno "$lp")" || fail "fail_path"
    assert_contains "$(dmsetup status nbmp)" " F " "the path is failed"
    dev=$(hp_dm_kernel nbmp)

    kp -x 1 -E -t 10 -l /dev/mapper/nbmp
    assert_le "$KP_CS" 200 "-l returns within 2 s"
    assert_contains "$(cat "$KP_ERR")" "no usable path" "-l names the state"
    kp -x 1 -E -t 10 -a -p -part /dev/mapper/nbmp
    assert_le "$KP_CS" 200 "-a returns within 2 s"
    assert_contains "$(cat "$KP_ERR")" "not read" "-a says it did not read"
    assert_eq "$(hp_maps nbmp-)" "" "no partition map while no path is usable"
    cs=$(now_cs)
    env -i ACTION=change MAJOR="$(map_field nbmp major)" MINOR="$(map_field nbmp minor)" \
        DEVNAME="/dev/$dev" DM_NAME=nbmp DM_UUID="mpath-$WWID" \
        timeout 10 /usr/sbin/kpartx --udev 2>"$VT/nb-helper.err"
    assert_eq "$?" 0 "helper exit status with no usable path"
    assert_le "$(elapsed_cs "$cs")" 200 "the helper returns within 2 s"
    assert_contains "$(cat "$VT/nb-helper.err")" "no usable path" "the helper says why"
    assert_eq "$(d_state)" "" "no kpartx in D state"
    dmsetup message nbmp 0 reinstate_path "$(devno "$lp")" || fail "reinstate_path"
    hp_change nbmp
    assert_eq "$(hp_maps nbmp-)" "nbmp-part1 nbmp-part2" "a change event after the reinstate maps"
    dmsetup remove nbmp-part1 nbmp-part2 nbmp || fail "cleanup nbmp"
    udev_settle
    losetup -d "$lp"
}

busy_body() {
    local img lp holder p2
    img=$(mkgpt nb-busy 64 2 16)
    lp=$(attach "$img")
    p2=$(basename "$lp")p2
    kp -x 0 -a "$lp"
    udev_settle
    sh -c "exec 3</dev/mapper/$p2; sleep 2" &
    holder=$!
    sleep 0.3
    kp -x 0 -t 30 -d "$lp"
    assert_le 150 "$KP_CS" "-d waited for the holder"
    assert_eq "$(count_maps)" 0 "maps after -d once the holder let go"
    wait "$holder"

    kp -x 0 -a "$lp"
    udev_settle
    sh -c "exec 3</dev/mapper/$p2; sleep 9" &
    holder=$!
    sleep 0.3
    kp -x 1 -E -t 30 -d "$lp"
    assert_le "$KP_CS" 800 "-d gives up within its bound"
    assert_le 450 "$KP_CS" "-d waited about 5 s"
    assert_eq "$(count_maps)" 2 "nothing removed while a map stays open"
    assert_contains "$(cat "$KP_ERR")" "$p2" "the open map is named"
    wait "$holder"
    kp -x 0 -d "$lp"
    losetup -d "$lp"
}

readonly_body() {
    local img lp
    img=$(mkgpt nb-ro 64 2 16)
    lp=$(attach "$img" -r)
    kp -x 0 -E -v -a "$lp"
    assert_eq "$(map_ro "$(basename "$lp")p1")" 1 "read-only flag of partition 1 on a read-only loop"
    assert_contains "$(cat "$KP_ERR")" "read-only" "-v says why"
    kp -x 0 -d "$lp"
    losetup -d "$lp"
}

loopdev_body() {
    local img lp
    img=$(mkgpt nb-loopdev 64 2 16)
    kp -x 0 -a "$img"
    lp=$(loop_of "$img") || die "no loop for $img"
    kp -x 0 -d "$lp"
    assert_eq "$(count_maps)" 0 "maps after -d $lp"
    assert_eq "$(loop_of "$img")" "" "-d LOOP detaches the loop -a attached"
    lp=$(attach "$img")
    kp -x 0 -a "$lp"
    kp -x 0 -d "$lp"
    assert_eq "$(loop_of "$img")" "$lp" "-d LOOP leaves a loop that losetup attached"
    losetup -d "$lp"
}

# race_rounds OTHER: 20 rounds of `-u` in the background racing `OTHER` on $lp, each ending
# with every map of $lp or none; prints the number of rounds that did not.
race_rounds() {
    local round=0 n bad=0 pid name
    name=$(basename "$lp")
    while [ "$round" -lt 20 ]; do
        "$K" -u "$lp" >/dev/null 2>&1 &
        pid=$!
        "$K" "$1" "$lp" >/dev/null 2>&1
        wait "$pid"
        udev_settle
        n=$(dm_names | grep -c "^${name}p")
        if [ "$n" -ne 0 ] && [ "$n" -ne 4 ]; then
            bad=$((bad + 1))
            log "$1 round $round: $n maps"
        fi
        "$K" -d "$lp" >/dev/null 2>&1
        round=$((round + 1))
    done
    echo "$bad"
}

race_body() {
    local img lp
    img=$(mkgpt nb-race 64 4 8)
    lp=$(attach "$img")
    assert_eq "$(race_rounds -d)" 0 "rounds of -u || -d that ended half-done"
    assert_eq "$(race_rounds -u)" 0 "rounds of -u || -u that ended half-done"
    udev_settle
    assert_eq "$(count_maps)" 0 "maps after the races"
    losetup -d "$lp"
}

scenario() {
    K=$RS
    IMPL=rs
    hp_begin
    queueing_body
    busy_body
    readonly_body
    loopdev_body
    race_body
    hp_end
}
