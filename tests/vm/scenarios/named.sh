# shellcheck shell=dash disable=SC2034 # K and IMPL are read by lib.sh
# vm: udev=on
# named: --name maps NAME<delim>N whatever loop is underneath; -l --name lists under that name;
# -d --name removes them. A name held by a foreign map refuses the whole run (nothing made, no
# loop kept) and stderr names the owner's DM UUID. Asserts on the binary under test only.

named_body() {
    local img img2 lp dev
    img=$(mkgpt named 64 2 16)
    img2=$(mkgpt named2 64 2 16)
    kp -x 0 -l --name vm1 "$img"
    assert_eq "$(cut -d' ' -f1 "$KP_OUT" | tr '\n' ' ')" "vm1p1 vm1p2 " "-l --name names"
    kp -x 0 -a --name vm1 "$img"
    lp=$(loop_of "$img")
    dev=$(devno "$lp")
    assert_map vm1p1 "0 32768 linear $dev 2048" "part1-devnode_${dev}_Wh5pYvM"
    assert_map vm1p2 "0 32768 linear $dev 34816" "part2-devnode_${dev}_Wh5pYvM"
    assert_node vm1p1
    kp -x 0 -a --name vm1 "$img"
    assert_eq "$(count_maps)" 2 "maps after a second -a --name"
    kp -x 0 -a -p -part --name data "$img"
    assert_map data-part1
    assert_no_map vm1p1

    # A clash: vm2p2 belongs to someone else.
    dm_create vm2p2 --uuid FOREIGN-owner-1 --table "0 8 linear $dev 0"
    assert_map vm2p2
    kp -a --name vm2 "$img2"
    assert_ne "$KP_RC" 0 "exit status with a clash"
    assert_contains "$(cat "$KP_ERR")" "FOREIGN-owner-1" "the clash names its owner"
    assert_no_map vm2p1
    assert_eq "$(loops_of "$img2" | wc -l)" 0 "loops kept after a refused run"
    dmsetup remove vm2p2

    kp -x 0 -d --name data "$img"
    assert_eq "$(count_maps)" 0 "maps after -d --name"
    assert_eq "$(loops_of "$img" | wc -l)" 0 "loops after -d --name"
}

scenario() {
    K=$RS
    IMPL=rs
    named_body
}
