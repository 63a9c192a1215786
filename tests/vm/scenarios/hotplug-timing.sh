# shellcheck shell=dash
# vm: udev=any hotplug
# hotplug-timing: how long one add event takes end to end (dmsetup create of a multipath map
# over a GPT with N partitions until udev has settled with all N partition maps in place), for
# 1, 16 and 128 partitions. A measurement, not a timed test: it only checks that the maps exist.
. "$HARNESS/hotplug-lib.sh"

scenario() {
    local n img lp t0 cs
    hp_begin
    for n in 1 16 128; do
        img=$(mkgpt "hpt$n" $((n + 8)) "$n" 1)
        lp=$(attach "$img")
        udev_settle
        t0=$(now_cs)
        hp_mpath "mpt$n" "36000000000000000000000000000$n" "$lp"
        udev_settle
        cs=$(elapsed_cs "$t0")
        assert_eq "$(dm_names | grep -c "^mpt$n-part")" "$n" "partition maps for $n partitions"
        log "@@TIMING hotplug add event, $n partitions: $(fmt_cs "$cs") s"
        echo "@@TIMING hotplug add event, $n partitions: $(fmt_cs "$cs") s"
        /usr/sbin/kpartx -d "/dev/mapper/mpt$n" || fail "kpartx -d mpt$n"
        dmsetup remove "mpt$n"
        losetup -d "$lp"
        udev_settle
    done
    hp_end
}
