//! The fixed catalogue of images, each listed by the reference and by ours.

use std::fs;
use std::path::Path;
use std::time::Instant;

use kpartx::testkit::bytes::{le16, le32};
use kpartx::testkit::dos::{entry as dos_entry, sector as dos_sector};
use kpartx::testkit::{Rng, bsd, ps3, solaris, sun, unixware};

use crate::churn::Churn;
use crate::harness::{
    Bench, MIB, RUN_TIMEOUT, SERIAL, Tools, Verdict, attached_loops, environment, render_diff,
    show_args, skip,
};
use crate::images::{Case, Img};
use crate::json::check_json;

/// The fixed catalogue.
fn catalogue(tools: &Tools, dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |case: Case| cases.push(case);

    // --- msdos ---
    let mut dos3 = Img::new(tools, dir, "dos3.img", 64 * MIB);
    dos3.sfdisk("label: dos\nlabel-id: 0x4b504152\n,16M,83\n,16M,83\n,16M,82\n");
    add(dos3.case("msdos, 3 primaries", &["-l"]));
    add(dos3.case("msdos, default action (no -l)", &[]));
    add(dos3.case("msdos, -v -l", &["-v", "-l"]));
    add(dos3.case("msdos, -l after the device", &["-l"]).reorder());
    add(dos3
        .case("msdos, two positionals", &["-l"])
        .with_extra("whole"));
    add(dos3.case("msdos, -t gpt", &["-l", "-t", "gpt"]));

    let mut ext = Img::new(tools, dir, "dos-ext.img", 64 * MIB);
    ext.sfdisk("label: dos\nlabel-id: 0x4b504153\n,8M,83\n,,E\n,8M,83\n,8M,83\n,8M,83\n");
    add(ext.case("msdos, extended with 3 logicals", &["-l"]));
    add(ext.case("msdos extended, -p -part", &["-l", "-p", "-part"]));
    add(ext.case("msdos extended, -p ''", &["-l", "-p", ""]));
    add(ext.case("msdos extended, -p with slash", &["-l", "-p", "/x"]));
    add(ext.case("msdos extended, -t dos", &["-l", "-t", "dos"]));
    add(ext.case("msdos extended, -t nonsense", &["-l", "-t", "nonsense"]));

    let mut order = Img::new(tools, dir, "dos-order.img", 64 * MIB);
    order.sfdisk(
        "label: dos\nlabel-id: 0x4b504154\nstart=2048,size=8192,type=83\n\
         start=20480,size=100000,type=f\nstart=80000,size=4096,type=83\n\
         start=30000,size=4096,type=83\nstart=50000,size=2048,type=7\n",
    );
    add(order.case("msdos, logicals out of disk order with gaps", &["-l"]));

    // Hand-built EBR chains.
    let mut chain = Img::new(tools, dir, "dos-chain.img", 32 * MIB);
    chain
        .write(
            0,
            &dos_sector(&[
                dos_entry(0x80, 0x83, 2048, 2048),
                dos_entry(0, 0x85, 8192, 40000),
                dos_entry(0, 0x05, 50000, 10000),
            ]),
            "MBR: 83 at 2048, 85 at 8192, 05 at 50000",
        )
        .write(
            8192 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 63, 1000), dos_entry(0, 0x05, 4000, 2000)]),
            "EBR 1 at 8192: data + link to +4000",
        )
        .write(
            12192 * 512,
            &dos_sector(&[dos_entry(0, 0, 0, 0), dos_entry(0, 0x0f, 9000, 2000)]),
            "EBR 2 at 12192: empty data entry + link to +9000",
        )
        .write(
            17192 * 512,
            &dos_sector(&[dos_entry(0, 0x05, 2000, 100), dos_entry(0, 0x82, 10, 500)]),
            "EBR 3 at 17192: link first (+2000), data second",
        )
        .write(
            10192 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 1, 99)]),
            "EBR 4 at 10192: data only, end of chain",
        )
        .write(
            50000 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 16, 512)]),
            "EBR of the second extended at 50000",
        );
    add(chain.case(
        "msdos, hand-built EBR chain (empty entry, link first, 2 extended)",
        &["-l"],
    ));

    let mut cycle = Img::new(tools, dir, "dos-cycle.img", 16 * MIB);
    cycle
        .write(
            0,
            &dos_sector(&[dos_entry(0, 0x0f, 2048, 20000)]),
            "MBR: 0f at 2048",
        )
        .write(
            2048 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 63, 100), dos_entry(0, 0x05, 1000, 500)]),
            "EBR at 2048: link to +1000",
        )
        .write(
            3048 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 63, 100), dos_entry(0, 0x05, 0, 500)]),
            "EBR at 3048: data entry + a zero-start link back (not a link)",
        );
    add(cycle.case("msdos, EBR link with start 0", &["-l"]));
    let mut cycle2 = Img::new(tools, dir, "dos-cycle2.img", 16 * MIB);
    cycle2
        .write(
            0,
            &dos_sector(&[dos_entry(0, 0x05, 2048, 20000)]),
            "MBR: 05 at 2048",
        )
        .write(
            2048 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 63, 100), dos_entry(0, 0x05, 1000, 500)]),
            "EBR A at 2048: link to +1000",
        )
        .write(
            3048 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 63, 100), dos_entry(0, 0x05, 0, 0)]),
            "EBR B at 3048: no link",
        )
        .write(
            3048 * 512 + 0x1BE + 16,
            &dos_entry(0, 0x85, 1, 7)[..],
            "EBR B entry 2: link to +1 (an EBR at 2049 linking back)",
        )
        .write(
            2049 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 5, 5), dos_entry(0, 0x05, 1000, 5)]),
            "EBR C at 2049: link back to B (cycle)",
        );
    add(cycle2.case("msdos, cyclic EBR chain (256-slice cap)", &["-l"]));

    let mut past = Img::new(tools, dir, "dos-past-end.img", 64 * MIB);
    past.sfdisk("label: dos\nlabel-id: 0x4b504155\n,16M,83\n,,E\n,8M,83\n,,83\n")
        .resize(24 * MIB);
    add(past.case("msdos, partitions past the end of the image", &["-l"]));

    // --- gpt ---
    let mut gpt2 = Img::new(tools, dir, "gpt2.img", 64 * MIB);
    gpt2.sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M"]);
    add(gpt2.case("gpt, 2 partitions", &["-l"]));
    add(gpt2.case("gpt, -t dos", &["-l", "-t", "dos"]));
    add(gpt2.case("gpt, -t gpt", &["-l", "-t", "gpt"]));
    add(gpt2.case("gpt, -g", &["-l", "-g"]));

    let mut full = Img::new(tools, dir, "gpt128.img", 16 * MIB);
    let mut args: Vec<String> = vec!["-a".into(), "1".into()];
    for i in 0..128u64 {
        let start = 2048 + 8 * i;
        args.push("-n".into());
        args.push(format!("{}:{}:{}", i + 1, start, start + 7));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    full.sgdisk(&args);
    add(full.case("gpt, all 128 entries used", &["-l"]));

    let mut gaps = Img::new(tools, dir, "gpt-gaps.img", 64 * MIB);
    gaps.sgdisk(&["-n", "3:2048:+4M", "-n", "7:0:+4M"]);
    add(gaps.case("gpt, entries 3 and 7 only", &["-l"]));

    let mut bad1 = Img::new(tools, dir, "gpt-bad-primary.img", 64 * MIB);
    bad1.sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M"]).write(
        512,
        &[0xA5; 512],
        "LBA 1 = A5 bytes",
    );
    add(bad1.case("gpt, corrupted primary header", &["-l"]));

    let mut bad2 = Img::new(tools, dir, "gpt-bad-backup.img", 64 * MIB);
    bad2.sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M"]);
    let last = bad2.size() - 512;
    bad2.write(last, &[0xA5; 512], "last LBA = A5 bytes");
    add(bad2.case("gpt, corrupted backup header", &["-l"]));

    let mut both = Img::new(tools, dir, "gpt-bad-both.img", 64 * MIB);
    both.sgdisk(&["-n", "1:2048:+8M"])
        .write(512, &[0; 512], "LBA 1 zeroed");
    let last = both.size() - 512;
    both.write(last, &[0; 512], "last LBA zeroed");
    add(both.case("gpt, both headers zeroed (PMBR left)", &["-l"]));

    let mut nopmbr = Img::new(tools, dir, "gpt-no-pmbr.img", 64 * MIB);
    nopmbr
        .sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M"])
        .write(0, &[0; 512], "LBA 0 zeroed");
    add(nopmbr.case("gpt, zeroed protective MBR", &["-l"]));
    add(nopmbr.case("gpt, zeroed protective MBR, -g", &["-l", "-g"]));

    let mut pmbr83 = Img::new(tools, dir, "gpt-pmbr-83.img", 64 * MIB);
    pmbr83.sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M"]).write(
        0x1BE + 4,
        &[0x83],
        "PMBR entry type EE -> 83",
    );
    add(pmbr83.case("gpt, PMBR type 83", &["-l"]));
    add(pmbr83.case("gpt, PMBR type 83, -g", &["-l", "-g"]));

    let mut grown = Img::new(tools, dir, "gpt-grown.img", 32 * MIB);
    grown
        .sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:0"])
        .resize(48 * MIB);
    add(grown.case("gpt, image grown after partitioning", &["-l"]));

    let mut shrunk = Img::new(tools, dir, "gpt-shrunk.img", 64 * MIB);
    shrunk
        .sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:0"])
        .resize(40 * MIB);
    add(shrunk.case(
        "gpt, image shrunk (backup lost, partition past the end)",
        &["-l"],
    ));

    let mut hybrid = Img::new(tools, dir, "gpt-hybrid.img", 64 * MIB);
    hybrid
        .sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M", "-n", "3:0:+8M"])
        .sgdisk(&["-h", "1:2"]);
    add(hybrid.case("gpt, hybrid MBR", &["-l"]));
    add(hybrid.case("gpt, hybrid MBR, -t dos", &["-l", "-t", "dos"]));

    let mut empty_gpt = Img::new(tools, dir, "gpt-empty.img", 16 * MIB);
    empty_gpt.sgdisk(&["-o"]);
    add(empty_gpt.case("gpt, no partitions", &["-l"]));

    // --- other labels made by parted ---
    let mut mac = Img::new(tools, dir, "mac.img", 32 * MIB);
    mac.parted(&[
        "mklabel", "mac", "mkpart", "one", "1MiB", "4MiB", "mkpart", "two", "4MiB", "12MiB",
    ]);
    add(mac.case("mac (parted)", &["-l"]));

    let mut sun = Img::new(tools, dir, "sun.img", 32 * MIB);
    sun.parted(&[
        "mklabel", "sun", "mkpart", "ext2", "1MiB", "4MiB", "mkpart", "ext2", "4MiB", "12MiB",
    ]);
    add(sun.case("sun (parted)", &["-l"]));

    let mut bsd = Img::new(tools, dir, "bsd.img", 32 * MIB);
    bsd.parted(&[
        "mklabel", "bsd", "mkpart", "ext2", "1MiB", "4MiB", "mkpart", "ext2", "4MiB", "12MiB",
    ]);
    add(bsd.case("bsd (parted)", &["-l"]));

    let mut msdos_parted = Img::new(tools, dir, "parted-msdos.img", 32 * MIB);
    msdos_parted.parted(&[
        "mklabel", "msdos", "mkpart", "primary", "1MiB", "4MiB", "mkpart", "extended", "4MiB",
        "30MiB", "mkpart", "logical", "5MiB", "10MiB", "mkpart", "logical", "11MiB", "20MiB",
    ]);
    add(msdos_parted.case("msdos with logicals (parted)", &["-l"]));

    // --- hand-built labels ---
    let mut bsd1 = Img::new(tools, dir, "bsd-block1.img", 16 * MIB);
    bsd1.write(
        512,
        &bsd::label(
            8,
            &[
                (4096, 2048, 7),
                (8192, 6144, 7),
                (32768, 0, 8),
                (1024, 8192, 1),
                (0, 0, 0),
                (2048, 5000, 7),
                (100, 100, 0),
            ],
        ),
        "BSD label at block 1: a, b, whole-disk c, d inside b, f overlapping a/b, g unused",
    );
    add(bsd1.case(
        "bsd, hand-built at block 1 with nesting and overlap",
        &["-l"],
    ));

    let mut sun2 = Img::new(tools, dir, "sun-hand.img", 16 * MIB);
    sun2.write(
        0,
        &sun::label(
            16,
            63,
            &[
                (2, 2016),
                (0, 0),
                (0, 32256),
                (4, 4032),
                (6, 100),
                (0, 0),
                (1, 3000),
                (30, 1),
            ],
        ),
        "Sun label: 16 heads, 63 sectors, whole-disk slice 3, nested and overlapping slices",
    );
    add(sun2.case("sun, hand-built with nesting and overlap", &["-l"]));
    let mut sunbad = Img::new(tools, dir, "sun-badsum.img", 16 * MIB);
    let mut label = sun::label(16, 63, &[(2, 2016)]);
    label[200] ^= 1;
    sunbad.write(0, &label, "Sun label with a wrong checksum");
    add(sunbad.case("sun, bad checksum", &["-l"]));

    let mut uw = Img::new(tools, dir, "unixware.img", 16 * MIB);
    let label = unixware::label(&[(5, 0, 32768), (2, 2048, 4096), (0, 9, 9), (4, 8192, 100)]);
    uw.write(29 * 512, &label, "UnixWare label at block 29");
    add(uw.case("unixware, hand-built", &["-l"]));

    let mut ps3 = Img::new(tools, dir, "ps3.img", 16 * MIB);
    let label = ps3::label(&[(8, 1000), (0, 5), (2048, 0), (4096, 8192), (1 << 40, 7)]);
    ps3.write(0, &label, "PS3 label");
    add(ps3.case("ps3, hand-built", &["-l"]));

    let mut lnx1 = Img::new(tools, dir, "dasd-lnx1.img", 64 * MIB);
    lnx1.write(
        1024,
        &[0xC9, 0xD7, 0xD3, 0xF1, 0xD3, 0xD5, 0xE7, 0xF1],
        "DASD label block 2: IPL1 key + LNX1",
    );
    add(lnx1.case("dasd LNX1", &["-l"]));
    let mut lnx1f = Img::new(tools, dir, "dasd-lnx1-f2.img", 64 * MIB);
    let mut label = vec![0u8; 92];
    label[4..8].copy_from_slice(&[0xD3, 0xD5, 0xE7, 0xF1]);
    label[83] = 0xF2;
    label[84..92].copy_from_slice(&50_000u64.to_le_bytes());
    lnx1f.write(
        1024,
        &label,
        "LNX1 with ldl_version F2, formatted_blocks 50000",
    );
    add(lnx1f.case("dasd LNX1 with formatted_blocks", &["-l"]));
    let mut cms = Img::new(tools, dir, "dasd-cms1.img", 64 * MIB);
    let mut label = vec![0u8; 64];
    label[4..8].copy_from_slice(&[0xC3, 0xD4, 0xE2, 0xF1]);
    label[16..20].copy_from_slice(&le32(1024));
    label[32..36].copy_from_slice(&le32(20_000));
    cms.write(1024, &label, "CMS1, block size 1024, 20000 blocks");
    add(cms.case("dasd CMS1", &["-l"]));
    let mut vol1 = Img::new(tools, dir, "dasd-vol1.img", 64 * MIB);
    let mut label = vec![0u8; 512];
    label[4..8].copy_from_slice(&[0xE5, 0xD6, 0xD3, 0xF1]);
    label[19] = 2; // VTOC at cylinder 0, head 0, record 2: DSCBs from block 3
    vol1.write(1024, &label, "VOL1 label, VTOC at CCHHB 0/0/2");
    for (n, (fmt, lo, hi)) in [
        (0xF4u8, (0u16, 0u16), (0u16, 0u16)),
        (0xF1, (1, 0), (2, 14)),
        (0xF8, (3, 0), (3, 5)),
        (0xF5, (0, 0), (0, 0)),
        (0xF1, (4, 1), (5, 0)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut d = vec![0u8; 512];
        d[44] = fmt;
        d[107..109].copy_from_slice(&le16(lo.0));
        d[109..111].copy_from_slice(&le16(lo.1));
        d[111..113].copy_from_slice(&le16(hi.0));
        d[113..115].copy_from_slice(&le16(hi.1));
        vol1.write((3 + n as u64) * 512, &d, &format!("DSCB format {fmt:#x}"));
    }
    add(vol1.case("dasd VOL1 with format 1/8 DSCBs", &["-l"]));

    // Solaris: we read the real (ILP32) on-disk VTOC, the reference only the x86_64 overlay.
    let mut sol = Img::new(tools, dir, "solaris-ilp32.img", 16 * MIB);
    let vtoc = solaris::vtoc(
        1,
        8,
        &[(2, 2048, 4096), (2, 0, 0), (2, 0, 32768), (2, 8192, 1000)],
    );
    sol.write(512, &vtoc, "Solaris VTOC, ILP32 layout, at block 1");
    let mut c = sol.case("solaris, real on-disk (ILP32) VTOC", &["-l"]);
    c.known = Some("Solaris layout: we read the ILP32 VTOC, the x86_64 reference does not");
    add(c);
    let mut sol64 = Img::new(tools, dir, "solaris-lp64.img", 16 * MIB);
    let mut vtoc = vec![0u8; 512];
    vtoc[24..32].copy_from_slice(&0x600D_DEEEu64.to_le_bytes());
    vtoc[32..40].copy_from_slice(&1u64.to_le_bytes());
    for (k, (start, size)) in [(2048i32, 4096i64), (0, 0), (0, 32768)]
        .into_iter()
        .enumerate()
    {
        let at = 136 + 16 * k;
        vtoc[at + 4..at + 8].copy_from_slice(&start.to_le_bytes());
        vtoc[at + 8..at + 16].copy_from_slice(&size.to_le_bytes());
    }
    sol64.write(
        512,
        &vtoc,
        "Solaris VTOC, x86_64 overlay layout, at block 1",
    );
    let mut c = sol64.case("solaris, x86_64-overlay VTOC", &["-l"]);
    c.known = Some("Solaris layout: the x86_64 overlay is deliberately not emulated");
    add(c);

    // --- no table, garbage, tiny ---
    let empty = Img::new(tools, dir, "zero.img", 16 * MIB);
    add(empty.case("all-zero image", &["-l"]));
    let mut garbage = Img::new(tools, dir, "garbage.img", 4 * MIB);
    garbage.write(
        0,
        &Rng::noise(0x5EED, MIB as usize),
        "1 MiB of xorshift noise, seed 0x5EED",
    );
    add(garbage.case("random garbage", &["-l"]));
    let mut garbage55 = Img::new(tools, dir, "garbage55.img", 4 * MIB);
    let mut g = Rng::noise(0x5EEE, 64 * 1024);
    g[510] = 0x55;
    g[511] = 0xAA;
    garbage55.write(0, &g, "64 KiB of noise (seed 0x5EEE) with 55AA at 510");
    add(garbage55.case("random garbage with 55AA", &["-l"]));
    let mut tiny = Img::new(tools, dir, "tiny100.img", 0);
    tiny.write(0, &Rng::noise(7, 100), "100 bytes of noise");
    add(tiny.case("100-byte file", &["-l"]));
    let mut t512 = Img::new(tools, dir, "tiny512.img", 0);
    t512.write(
        0,
        &dos_sector(&[dos_entry(0, 0x83, 1, 100)]),
        "one MBR sector, partition past the end",
    );
    add(t512.case("512-byte file with an MBR", &["-l"]));
    let t1m = Img::new(tools, dir, "zero1m.img", MIB);
    add(t1m.case("1 MiB of zeroes", &["-l"]));
    let mut odd = Img::new(tools, dir, "odd-size.img", 8 * MIB + 300);
    odd.sfdisk("label: dos\nlabel-id: 0x4b504156\n,4M,83\n,,83\n");
    add(odd.case(
        "msdos on an image whose size is not a multiple of 512",
        &["-l"],
    ));

    let mut fat = Img::new(tools, dir, "fat.img", 8 * MIB);
    let mut boot = vec![0u8; 512];
    boot[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
    boot[3..11].copy_from_slice(b"MSDOS5.0");
    boot[11..13].copy_from_slice(&le16(512));
    boot[13] = 4;
    boot[14..16].copy_from_slice(&le16(4));
    boot[16] = 2;
    boot[17..19].copy_from_slice(&le16(512));
    boot[19..21].copy_from_slice(&le16(16384));
    boot[21] = 0xF8;
    boot[54..62].copy_from_slice(b"FAT16   ");
    let code = Rng::noise(0xFA7, 448);
    boot[62..510].copy_from_slice(&code);
    boot[510] = 0x55;
    boot[511] = 0xAA;
    fat.write(
        0,
        &boot,
        "FAT16-like boot sector, noise boot code (seed 0xFA7), 55AA",
    );
    add(fat.case("FAT-like boot sector", &["-l"]));

    // --- paths ---
    let spaced = dir.join("dir with space");
    fs::create_dir_all(&spaced).expect("mkdir");
    let mut sp = Img::new(tools, &spaced, "my disk.img", 32 * MIB);
    sp.sfdisk("label: dos\nlabel-id: 0x4b504157\n,8M,83\n,8M,83\n");
    add(sp.case("image path with spaces", &["-l"]));
    add(Case {
        name: "missing file".into(),
        recipe: vec!["(no such file)".into()],
        args: vec!["-l".into(), dir.join("does-not-exist.img").into()],
        known: None,
    });
    add(Case {
        name: "a directory".into(),
        recipe: vec!["mkdir".into()],
        args: vec!["-l".into(), spaced.clone().into()],
        known: None,
    });

    cases
}

impl Case {
    /// Moves the options after the device (GNU getopt permutes).
    fn reorder(mut self) -> Case {
        let dev = self.args.pop().expect("device");
        self.args.insert(0, dev);
        self
    }

    /// Adds a second positional (ignored by kpartx).
    fn with_extra(mut self, extra: &str) -> Case {
        self.args.push(extra.into());
        self
    }
}

/// The body of the `list_matches_reference` test.
pub fn list_matches_reference() {
    let tools = match environment() {
        Ok(t) => t,
        Err(why) => return skip("list_matches_reference", &why),
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let churn = Churn::from_env(&tools.losetup);
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().canonicalize().expect("canonical tempdir");
    let before = attached_loops();
    let cases = catalogue(&tools, &dir);
    let mut bench = Bench::new(&tools, &dir);
    let mut failures = Vec::new();
    let mut known = Vec::new();
    let mut json_checked = 0;
    let mut matched = 0;
    let verbose = std::env::var_os("KPARTX_COMPAT_VERBOSE").is_some();
    for case in &cases {
        match bench.compare(&case.name, &case.args) {
            Verdict::Same(ours) => {
                matched += 1;
                if verbose {
                    eprintln!(
                        "== {} (kpartx {}): {}\n{}",
                        case.name,
                        show_args(&case.args),
                        ours.status_text(),
                        String::from_utf8_lossy(&ours.stdout)
                    );
                }
                if let Some(why) = case.known {
                    eprintln!(
                        "note: `{}` is marked as a known difference ({why}) but matched",
                        case.name
                    );
                }
                if ours.status.code() == Some(0) {
                    json_checked += 1;
                    if let Err(e) = check_json(&case.args, &ours.stdout, &tools.losetup, &dir) {
                        failures.push(format!(
                            "--json of `{}` ({}): {e}",
                            case.name,
                            show_args(&case.args)
                        ));
                    }
                }
            }
            Verdict::Differ { reference, ours } => {
                let text = format!(
                    "`{}`: kpartx {}\n    recipe:\n      {}\n{}",
                    case.name,
                    show_args(&case.args),
                    case.recipe.join("\n      "),
                    render_diff(&reference, &ours)
                );
                match case.known {
                    Some(why) => known.push(format!("{text}    known difference: {why}\n")),
                    None => failures.push(text),
                }
            }
            Verdict::ReferenceHung => failures.push(format!(
                "`{}`: the reference did not finish within {RUN_TIMEOUT:?}",
                case.name
            )),
        }
    }
    let after = attached_loops();
    failures.extend(bench.problems.iter().cloned());
    for note in &bench.notes {
        eprintln!("note: {note}");
    }
    let leftovers: Vec<_> = after
        .keys()
        .filter(|dev| !before.contains_key(*dev))
        .cloned()
        .collect();
    let ours_prefix = format!("{}/", dir.to_string_lossy());
    for dev in &leftovers {
        if after[dev].starts_with(&ours_prefix) {
            failures.push(format!("{dev} is still attached after the test"));
        }
    }
    if let Some(churn) = churn {
        match churn.finish() {
            Ok(summary) => eprintln!("{summary}"),
            Err(e) => failures.push(e),
        }
    }
    for k in &known {
        eprintln!("KNOWN DIFFERENCE {k}");
    }
    eprintln!(
        "list_matches_reference: {} cases, {} matched, {} known differences, {} failures, \
         {json_checked} --json checks, {} retries for loop races, {:.1?}",
        cases.len(),
        matched,
        known.len(),
        failures.len(),
        bench.retries,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the reference:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
