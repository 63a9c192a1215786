# shellcheck shell=dash
# vm: udev=any hotplug timeout=480
# hotplug-storm: many multipath maps appear at once (a SAN host logging in to its LUNs): 24 maps,
# each over a loop with a 4-partition GPT, created with `dmsetup create … &`. udev runs far fewer
# workers than there are events; the helper must never hold one waiting for other events. After
# one `udevadm settle`: every partition map, its /dev/mapper node and its by-id links exist, and
# udev logged no failed or timed-out helper. Then removal under load: every table is wiped and
# all maps get a change event at once (all partition maps go), and one partition map held open
# is left in place and named with its holder by the helper. Finally every map is removed.
. "$HARNESS/hotplug-lib.sh"

STORM_N=${STORM_N:-24}

wwid() { printf '3600a0b8000000000000000000000%04d' "$1"; }

# settle_until COUNT: `udevadm settle`, then, should settle have returned early (it can fail
# with "Broken pipe" under this load), wait (bounded, 180 s) until COUNT partition maps of the
# storm exist and settle again.
settle_until() {
    local i=0
    udev_settle
    while [ "$(dm_names | grep -c '^storm[0-9]*-part')" -ne "$1" ] && [ "$i" -lt 1800 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    udev_settle
}

scenario() {
    local i img lp t0 cs log0 name links=0 nodes=0 k pids
    hp_begin
    i=1
    while [ "$i" -le "$STORM_N" ]; do
        img=$(mkgpt "storm$i" 24 4 4)
        attach "$img" >"$VT/storm$i.loop"
        i=$((i + 1))
    done
    udev_settle
    log0=$(wc -l <"$VT/udevd.log")
    t0=$(now_cs)
    i=1
    pids=
    while [ "$i" -le "$STORM_N" ]; do
        lp=$(cat "$VT/storm$i.loop")
        dmsetup create "storm$i" -u "mpath-$(wwid "$i")" --table \
            "0 $(blockdev --getsz "$lp") multipath 0 0 1 1 round-robin 0 1 1 $(devno "$lp") 1000" &
        pids="$pids $!"
        i=$((i + 1))
    done
    # Not a bare `wait`: udevd is a background job of this shell too.
    # shellcheck disable=SC2086 # a list of pids
    wait $pids
    settle_until $((STORM_N * 4))
    cs=$(elapsed_cs "$t0")
    log "@@TIMING storm of $STORM_N maps x 4 partitions: $(fmt_cs "$cs") s until settled"
    assert_eq "$(dm_names | grep -c '^storm[0-9]*-part[1-4]$')" $((STORM_N * 4)) "partition maps after the storm"
    i=1
    while [ "$i" -le "$STORM_N" ]; do
        for k in 1 2 3 4; do
            name=storm$i-part$k
            [ "$(devno "/dev/mapper/$name" 2>/dev/null)" = "$(map_field "$name" major):$(map_field "$name" minor)" ] &&
                nodes=$((nodes + 1))
            [ "$(readlink -f "/dev/disk/by-id/scsi-$(wwid "$i")-part$k")" = "$(readlink -f "/dev/mapper/$name")" ] &&
                [ -e "/dev/disk/by-id/wwn-0x$(wwid "$i" | cut -c2-)-part$k" ] && links=$((links + 1))
        done
        i=$((i + 1))
    done
    assert_eq "$nodes" $((STORM_N * 4)) "/dev/mapper nodes after the storm"
    assert_eq "$links" $((STORM_N * 4)) "partitions with both by-id links after the storm"
    tail -n +"$((log0 + 1))" "$VT/udevd.log" >"$VT/storm.udev"
    assert_eq "$(grep -ciE 'failed with exit code|timed out|timeout|taking a long time|killing' "$VT/storm.udev")" 0 \
        "failed or timed-out helpers in udev's log"
    grep -iE 'kpartx' "$VT/storm.udev" | head -5 >&2

    # Removal under load: wipe every table (protective MBR and primary GPT), hold one partition
    # map open, then a change event for every map at once.
    i=1
    while [ "$i" -le "$STORM_N" ]; do
        dd if=/dev/zero of="$VT_IMG/storm$i.img" bs=1M count=1 conv=notrunc 2>/dev/null
        i=$((i + 1))
    done
    exec 7</dev/mapper/storm1-part2
    i=1
    pids=
    while [ "$i" -le "$STORM_N" ]; do
        udevadm trigger --action=change "/sys/block/$(hp_dm_kernel "storm$i")" &
        pids="$pids $!"
        i=$((i + 1))
    done
    # shellcheck disable=SC2086 # a list of pids
    wait $pids
    settle_until 1
    assert_eq "$(hp_maps storm1-)" "storm1-part2" "only the open partition map is left"
    assert_eq "$(dm_names | grep -c '^storm[0-9]*-part')" 1 "partition maps after the tables were wiped"
    # The helper names the map it had to leave and its holder (udev is the caller; here the
    # same event is replayed by hand to read what it says).
    env -i ACTION=change MAJOR="$(map_field storm1 major)" MINOR="$(map_field storm1 minor)" \
        DEVNAME="/dev/$(hp_dm_kernel storm1)" DM_NAME=storm1 DM_UUID="mpath-$(wwid 1)" \
        /usr/sbin/kpartx --udev 2>"$VT/busy.err"
    assert_eq "$?" 1 "helper exit status when a partition map is in use"
    sed 's/^/    helper: /' "$VT/busy.err" >&2
    assert_contains "$(cat "$VT/busy.err")" "storm1-part2" "the busy map is named"
    assert_contains "$(cat "$VT/busy.err")" "held by" "its holder is named"
    exec 7<&-

    # multipath -f style teardown of everything, at once.
    dmsetup remove storm1-part2 || fail "dmsetup remove storm1-part2"
    i=1
    pids=
    while [ "$i" -le "$STORM_N" ]; do
        dmsetup remove "storm$i" &
        pids="$pids $!"
        i=$((i + 1))
    done
    # shellcheck disable=SC2086 # a list of pids
    wait $pids
    udev_settle
    assert_eq "$(dm_names | grep -c '^storm')" 0 "maps left after the teardown"
    i=1
    while [ "$i" -le "$STORM_N" ]; do
        losetup -d "$(cat "$VT/storm$i.loop")"
        i=$((i + 1))
    done
    hp_end
}
