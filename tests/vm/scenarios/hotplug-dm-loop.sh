# shellcheck shell=dash
# vm: udev=any hotplug
# hotplug-dm-loop: an LVM-style DM device and a loop device get no partitions by default (their
# tables may be written by untrusted guests) and get them when policy enables them; a RAID member
# gets none; a hand-made kpartx -a on a loop is not undone by the loop's own events.
. "$HARNESS/hotplug-lib.sh"

scenario() {
    local img lp img2 lp2 img3 lp3
    hp_begin

    # LVM-like linear volume holding a guest disk with a GPT.
    img=$(mkgpt hplv 64 2 16)
    lp=$(attach "$img")
    dmsetup create vg0-guest1 -u LVM-hotplugtestvg0guest1xxxxxxxxxxxxxxxxxxxxxxx \
        --table "0 $(blockdev --getsz "$lp") linear $(devno "$lp") 0" || die "dmsetup create"
    udev_settle
    assert_eq "$(hp_maps vg0-guest1)" "vg0-guest1" "no partitions for an LV by default"
    hp_policy 60-guests '[[device]]
match = { kind = "dm", dm_name = "vg0-guest*" }
partitions = "enabled"
read_only = true'
    hp_change vg0-guest1
    assert_eq "$(hp_maps vg0-guest1p)" "vg0-guest1p1 vg0-guest1p2" "policy enables LV partitions"
    assert_eq "$(map_ro vg0-guest1p1)" 1 "policy read_only"
    /usr/sbin/kpartx -d /dev/mapper/vg0-guest1 || fail "kpartx -d of the LV"
    rm -f "$HP_DROPIN/60-guests.toml"
    dmsetup remove vg0-guest1
    losetup -d "$lp"

    # Loop devices: none by default; with a policy on, binding the loop is enough.
    img2=$(mkgpt hploop 64 3 8)
    lp2=$(attach "$img2")
    udev_settle
    assert_eq "$(hp_maps "${lp2#/dev/}p")" "" "no partitions for a loop by default"
    /usr/sbin/kpartx -a "$lp2"
    hp_change_loop "$lp2"
    assert_eq "$(hp_maps "${lp2#/dev/}p")" "${lp2#/dev/}p1 ${lp2#/dev/}p2 ${lp2#/dev/}p3" \
        "hand-made maps survive the loop's change event"
    /usr/sbin/kpartx -d "$lp2"
    losetup -d "$lp2"
    hp_policy 70-images "[[device]]
match = { kind = \"loop\", backing_file = \"$VT_IMG/hploop*\" }
partitions = \"enabled\""
    lp2=$(attach "$img2")
    udev_settle
    assert_eq "$(hp_maps "${lp2#/dev/}p")" "${lp2#/dev/}p1 ${lp2#/dev/}p2 ${lp2#/dev/}p3" \
        "losetup alone maps the partitions when policy allows"
    /usr/sbin/kpartx -d "$lp2"
    losetup -d "$lp2"

    # A RAID member (md superblock 1.0 at the end, GPT at the start) gets none.
    img3=$(mkgpt hpraid 64 2 16)
    lp3=$(attach "$img3")
    mdadm --create /dev/md9 --run --force --level=1 --raid-devices=1 --metadata=1.0 "$lp3" \
        >/dev/null 2>&1 || die "mdadm --create failed"
    mdadm --stop /dev/md9 >/dev/null 2>&1
    # udev watches the loop: mdadm's close after writing queues a change event. Let it be
    # handled now, under the default policy (no partitions for loops); handled after the
    # rebind below, with the policy on, its properties (blkid of the old binding) would not
    # say "RAID member" about the device the helper then reads.
    udev_settle
    losetup -d "$lp3"
    udev_settle
    hp_policy 71-raid "[[device]]
match = { kind = \"loop\", backing_file = \"$VT_IMG/hpraid*\" }
partitions = \"enabled\""
    lp3=$(attach "$img3")
    udev_settle
    assert_eq "$(blkid -p -o value -s TYPE "$lp3")" linux_raid_member "the loop is a RAID member"
    assert_eq "$(hp_maps "${lp3#/dev/}p")" "" "no partitions for a RAID member"
    losetup -d "$lp3"
    hp_end
}

# hp_change_loop /dev/loopN: a change event for a loop device, then wait for udev.
hp_change_loop() {
    udevadm trigger --action=change "/sys/block/${1#/dev/}"
    udev_settle
}
