# shellcheck shell=dash
# vm: udev=on
# demo: the main job on a demo disk image, with this project's kpartx only: list, map (-av),
# show the maps and their nodes, remove (-dv). Run by scripts/demo.sh with --show-logs.

scenario() {
    local img
    img=$(mkgpt demo 64 3 16)
    K=$RS
    kp -x 0 -l "$img"
    kp -x 0 -av "$img"
    log "--- /dev/mapper after -av:"
    ls -l /dev/mapper >&2
    log "--- dmsetup table:"
    dmsetup table | sort >&2
    assert_map loop0p1 "0 32768 linear 7:0 2048" "part1-devnode_7:0_Wh5pYvM"
    assert_node loop0p3
    kp -x 0 -dv "$img"
    assert_no_map loop0p1
    assert_eq "$(loops_of "$img")" "" "loops backing the image after -d"
}
