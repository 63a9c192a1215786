# shellcheck shell=dash disable=SC2034 # K and IMPL are read by lib.sh
# vm: udev=on
# images-boot: the boot image list. /etc/kpartx/images.toml and a drop-in list two images (one
# read-only with delimiter -part, one 4K-native); `kpartx --map-images -v` (what
# kpartx-images.service runs at start) maps both under their names, `--unmap-images -v` (its
# ExecStop) removes the maps and detaches the loops. A broken list maps nothing and reports
# FILE:LINE:COLUMN. Then 20 rounds of mapping and unmapping a three-image list. Asserts on the
# binary under test only.

images_body() {
    local a b lp etc=/etc/kpartx
    a=$(mkgpt boot-a 64 2 16)
    b=$(mkimg boot-b 64)
    lp=$(attach "$b" -b 4096)
    sgdisk -o -n 1:0:+16M "$lp" >/dev/null || die "sgdisk on $lp failed"
    losetup -d "$lp"
    mkdir -p "$etc/images.d"
    printf '[[image]]\npath = "%s"\nname = "alpha"\nread_only = true\ndelimiter = "-part"\n' "$a" >"$etc/images.toml"
    printf '[[image]]\npath = "%s"\nname = "beta"\nsector_size = "auto"\n' "$b" >"$etc/images.d/b.toml"
    chmod 0644 "$etc/images.toml" "$etc/images.d/b.toml"

    kp -x 0 --map-images -v
    assert_map alpha-part1
    assert_map alpha-part2
    assert_eq "$(map_ro alpha-part1)" 1 "alpha-part1 read-only"
    assert_map beta1
    lp=$(loop_of "$b")
    assert_eq "$(blockdev --getss "$lp")" 4096 "beta's loop sector size"
    kp -x 0 --map-images
    assert_eq "$(count_maps)" 3 "maps after a second --map-images"
    kp -x 0 --unmap-images -v
    assert_eq "$(count_maps)" 0 "maps after --unmap-images"
    assert_eq "$(bound_loops | wc -l)" 0 "loops after --unmap-images"

    printf '[[image]]\npath = "relative.img"\nname = "gamma"\n' >"$etc/images.d/c.toml"
    chmod 0644 "$etc/images.d/c.toml"
    kp -x 1 --map-images
    assert_contains "$(cat "$KP_ERR")" "$etc/images.d/c.toml:2:8: path" "located error"
    assert_eq "$(count_maps)" 0 "maps after a broken list"
    assert_eq "$(bound_loops | wc -l)" 0 "loops after a broken list"
    rm -rf "$etc/images.toml" "$etc/images.d"
}

# rounds_body: 20 rounds of --map-images then --unmap-images of a three-image list, udevd
# running: every round exits 0 both ways, maps everything and leaves no map, loop or udev
# semaphore behind (each image is its own udev transaction, waited for once).
rounds_body() {
    local etc=/etc/kpartx i round=0 bad=0
    mkdir -p "$etc"
    : >"$etc/images.toml"
    for i in 1 2 3; do
        printf '[[image]]\npath = "%s"\nname = "r%s"\n' "$(mkgpt "round-$i" 32 2 8)" "$i" >>"$etc/images.toml"
    done
    chmod 0644 "$etc/images.toml"
    while [ "$round" -lt 20 ]; do
        "$K" --map-images >"$VT/rounds.out" 2>&1 || { bad=$((bad + 1)); log "round $round: --map-images failed"; cat "$VT/rounds.out" >&2; }
        [ "$(dm_names | grep -c '^r[123]p')" -eq 6 ] || { bad=$((bad + 1)); log "round $round: maps missing"; }
        "$K" --unmap-images >"$VT/rounds.out" 2>&1 || { bad=$((bad + 1)); log "round $round: --unmap-images failed"; cat "$VT/rounds.out" >&2; }
        [ "$(count_maps)" -eq 0 ] || { bad=$((bad + 1)); log "round $round: maps left"; }
        [ "$(bound_loops | wc -l)" -eq 0 ] || { bad=$((bad + 1)); log "round $round: loops left"; }
        [ "$(cookie_count)" -eq 0 ] || { bad=$((bad + 1)); log "round $round: semaphores left"; }
        round=$((round + 1))
    done
    assert_eq "$bad" 0 "failures in 20 rounds of --map-images / --unmap-images"
    rm -f "$etc/images.toml"
}

scenario() {
    K=$RS
    IMPL=rs
    images_body
    rounds_body
}
