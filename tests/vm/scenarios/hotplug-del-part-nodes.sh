# shellcheck shell=dash
# vm: udev=any hotplug
# hotplug-del-part-nodes: 68-del-part-nodes.rules removes the kernel partition devices of a disk
# that multipath claims as a path (DM_MULTIPATH_DEVICE_PATH=1, set here by a test rule the way
# multipath's 62-multipath.rules would), once per disk; DONT_DEL_PART_NODES=1 opts out. The
# disk is a scsi_debug sd* device with a DOS table; its contents are never changed.
. "$HARNESS/hotplug-lib.sh"

PATH_RULE=/etc/udev/rules.d/62-vmtest-mpath-path.rules

parts_of() { ls -d "/sys/block/$1/$1"[0-9]* 2>/dev/null | wc -l; }

scenario() {
    local mod sd sum
    hp_begin
    while read -r mod; do
        insmod "$mod" 2>/dev/null
    done </etc/vmtest/modules-scsi
    udev_settle
    sd=$(ls /sys/block | grep '^sd' | head -n 1)
    [ -n "$sd" ] || die "scsi_debug made no sd* disk"
    printf 'label: dos\n,2M\n,\n' | sfdisk -q "/dev/$sd" || die "sfdisk /dev/$sd failed"
    udev_settle
    assert_eq "$(parts_of "$sd")" 2 "kernel partitions of $sd after sfdisk"
    sum=$(md5sum <"/dev/$sd")

    # Opted out: the partitions stay.
    printf '%s\n' "KERNEL==\"$sd\", ENV{DEVTYPE}==\"disk\", ENV{DM_MULTIPATH_DEVICE_PATH}=\"1\", ENV{DONT_DEL_PART_NODES}=\"1\"" >"$PATH_RULE"
    udevadm control --reload
    udevadm trigger --action=change "/sys/block/$sd"
    udev_settle
    assert_eq "$(parts_of "$sd")" 2 "partitions kept with DONT_DEL_PART_NODES=1"

    # A multipath path: its partition devices go.
    printf '%s\n' "KERNEL==\"$sd\", ENV{DEVTYPE}==\"disk\", ENV{DM_MULTIPATH_DEVICE_PATH}=\"1\"" >"$PATH_RULE"
    udevadm control --reload
    udevadm trigger --action=change "/sys/block/$sd"
    udev_settle
    assert_eq "$(parts_of "$sd")" 0 "partitions of a multipath path removed"
    [ -e "/dev/${sd}1" ] && fail "/dev/${sd}1 still exists" || ok "/dev/${sd}1 is gone"
    assert_contains "$(udevadm info -q property "/dev/$sd")" "DM_DEL_PART_NODES=1" "the disk is marked in the udev db"
    assert_eq "$(md5sum <"/dev/$sd")" "$sum" "the disk's contents are unchanged"

    # Once per disk: an admin's re-read brings them back, and they stay.
    partx -a "/dev/$sd" 2>/dev/null || blockdev --rereadpt "/dev/$sd"
    udev_settle
    udevadm trigger --action=change "/sys/block/$sd"
    udev_settle
    assert_eq "$(parts_of "$sd")" 2 "partitions re-read by hand are left alone"

    rm -f "$PATH_RULE"
    udevadm control --reload
    rmmod scsi_debug 2>/dev/null
    udev_settle
    hp_end
}
