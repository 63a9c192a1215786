# shellcheck shell=dash
# vm: udev=on
# gpt: an image file with a 2-partition GPT.  `kpartx -av IMG` attaches loop0 and creates
# loop0p1/loop0p2 (UUID part<N>-devnode_7:0_Wh5pYvM, table "0 SIZE linear 7:0 START") with nodes
# in /dev/mapper; a second `-av` prints the same and (this package) leaves the maps alone;
# `kpartx -dv IMG` removes them and detaches the loop.

gpt_body() {
    local img lp dev
    img=$(mkgpt gpt 64 2 16)
    kp -x 0 -av "$img"
    lp=$(loop_of "$img") || die "no loop device backs $img after -a"
    assert_eq "$lp" /dev/loop0 "loop device attached by kpartx -a"
    dev=$(devno "$lp")
    assert_map loop0p1 "0 32768 linear $dev 2048" "part1-devnode_${dev}_Wh5pYvM"
    assert_map loop0p2 "0 32768 linear $dev 34816" "part2-devnode_${dev}_Wh5pYvM"
    assert_eq "$(map_uuid loop0p1)" "part1-devnode_7:0_Wh5pYvM" "uuid of loop0p1"
    assert_eq "$(map_ro loop0p1)" 0 "read-only flag of loop0p1"
    assert_node loop0p1
    assert_node loop0p2
    snap "after -a"
    # -a again on a mapped image: the same output; the reference reloads and resumes the
    # same tables (a change uevent each), this package leaves them alone (none)
    udevadm monitor -k -s block >"$VT/monitor.out" 2>&1 &
    mon=$!
    sleep 1
    kp -x 0 -av "$img"
    udev_settle
    sleep 1
    kill "$mon"
    wait "$mon" 2>/dev/null
    changes=$(grep -c '^KERNEL.* change .*/dm-' "$VT/monitor.out")
    log "[$IMPL] change uevents of the maps during a second -a: $changes"
    if is_rs; then
        assert_eq "$changes" 0 "change uevents of the maps during a second -a"
    else
        assert_eq "$changes" 2 "change uevents of the maps during a second -a (reference)"
    fi
    assert_eq "$(count_maps)" 2 "number of maps after a second -a"
    # a map that is right but whose /dev/mapper entry went missing gets it back from -a
    rm -f /dev/mapper/loop0p1
    kp -x 0 -a "$img"
    udev_settle
    assert_node loop0p1
    snap "after second -a"
    kp -x 0 -dv "$img"
    assert_no_map loop0p1
    assert_no_map loop0p2
    assert_eq "$(loops_of "$img")" "" "loops backing the image after -d"
    snap "after -d"
}

scenario() { compare_impls gpt_body; }
