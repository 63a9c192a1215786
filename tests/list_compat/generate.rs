//! Pseudo-random images of every format, valid and then mutated, from a seed.

use std::path::Path;

use kpartx::testkit::bytes::{get_le32, le16, le32};
use kpartx::testkit::dos::{entry as dos_entry, sector as dos_sector};
use kpartx::testkit::gpt::{self, fix_crcs as gpt_fix_crcs};
use kpartx::testkit::{Rng, Sparse, bsd, ps3, sun, unixware};

use crate::harness::{MIB, Tools};
use crate::images::Img;

/// One generated image and how it came about.
pub struct Generated {
    pub family: &'static str,
    pub notes: Vec<String>,
    pub image: Sparse,
    pub options: Vec<&'static str>,
}

/// Valid images made by the tools, mutated by the `flip` family.
pub struct Bases {
    images: Vec<(&'static str, Sparse)>,
}

pub fn bases(tools: &Tools, dir: &Path) -> Bases {
    let mut images = Vec::new();
    let mut dos = Img::new(tools, dir, "base-dos.img", 8 * MIB);
    dos.sfdisk(
        "label: dos\nlabel-id: 0x4b504160\nstart=2048,size=2048,type=83\n\
         start=4096,size=12288,type=5\nstart=4160,size=2000,type=83\n\
         start=8192,size=1000,type=82\nstart=6300,size=1500,type=83\n",
    );
    images.push(("msdos+logicals (sfdisk)", Sparse::load(&dos.path)));
    let mut gpt = Img::new(tools, dir, "base-gpt.img", 4 * MIB);
    gpt.sgdisk(&[
        "-U",
        "4B504152-5458-4B50-4152-545800000001",
        "-n",
        "1:2048:+512K",
        "-n",
        "2:0:+512K",
        "-n",
        "4:0:+512K",
    ]);
    images.push(("gpt (sgdisk)", Sparse::load(&gpt.path)));
    let mut hybrid = Img::new(tools, dir, "base-hybrid.img", 4 * MIB);
    hybrid
        .sgdisk(&[
            "-U",
            "4B504152-5458-4B50-4152-545800000002",
            "-n",
            "1:2048:+512K",
            "-n",
            "2:0:+512K",
        ])
        .sgdisk(&["-h", "1:2"]);
    images.push(("hybrid gpt (sgdisk)", Sparse::load(&hybrid.path)));
    for label in ["bsd", "sun", "mac"] {
        let mut img = Img::new(tools, dir, &format!("base-{label}.img"), 8 * MIB);
        let fs_or_name = if label == "mac" { "p" } else { "ext2" };
        img.parted(&[
            "mklabel", label, "mkpart", fs_or_name, "1MiB", "2MiB", "mkpart", fs_or_name, "2MiB",
            "5MiB",
        ]);
        let name = match label {
            "bsd" => "bsd (parted)",
            "sun" => "sun (parted)",
            _ => "mac (parted)",
        };
        images.push((name, Sparse::load(&img.path)));
    }
    for (_, img) in &images {
        assert!(!img.sectors.is_empty());
    }
    Bases { images }
}

fn disk_size(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => MIB,
        1 => 2 * MIB + 512 * rng.below(100),
        2 => 3 * MIB + rng.below(1024),
        3 => 8 * MIB,
        _ => 4 * MIB,
    }
}

fn gen_dos(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let mut notes = Vec::new();
    let mut mbr = vec![0u8; 512];
    let mut extended = Vec::new();
    for i in 0..4 {
        if rng.chance(20) {
            continue;
        }
        let kind = match rng.below(12) {
            0..=3 => 0x83,
            4 | 5 => rng.pick(&[0x05u8, 0x0f, 0x85]),
            6 => 0,
            7 if rng.chance(20) => 0xEE,
            8 => 0x82,
            _ => rng.below(256) as u8,
        };
        let start = rng.lba(sectors) as u32;
        let count = match rng.below(8) {
            0 => 0,
            1 => rng.next() as u32,
            _ => rng.range(1, sectors / 2) as u32,
        };
        mbr[0x1BE + 16 * i..0x1BE + 16 * (i + 1)].copy_from_slice(&dos_entry(
            rng.pick(&[0u8, 0x80]),
            kind,
            start,
            count,
        ));
        notes.push(format!(
            "primary {}: type {kind:#04x} start {start} count {count}",
            i + 1
        ));
        if matches!(kind, 0x05 | 0x0f | 0x85) {
            extended.push(u64::from(start));
        }
    }
    if !rng.chance(5) {
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
    } else {
        notes.push("no 55AA in the MBR".into());
    }
    img.write(0, &mbr);
    for base in extended {
        let n = rng.below(9);
        let mut positions: Vec<u64> = vec![base];
        for _ in 1..n {
            positions.push(if rng.chance(85) {
                base + rng.range(1, (sectors.saturating_sub(base)).max(2))
            } else {
                rng.lba(sectors)
            });
        }
        for j in 0..positions.len() {
            let cur = positions[j];
            let mut entries = Vec::new();
            let wild = rng.below(256) as u8;
            let data_kind = rng.pick(&[0x83u8, 0x83, 0x07, 0x82, 0, wild]);
            let data = dos_entry(
                0,
                data_kind,
                if rng.chance(90) {
                    rng.range(1, 63) as u32
                } else {
                    rng.next() as u32
                },
                rng.range(0, 4000) as u32,
            );
            let link = match positions.get(j + 1) {
                Some(&next) if rng.chance(90) => {
                    let kind = rng.pick(&[0x05u8, 0x05, 0x0f, 0x85, 0x83, 0]);
                    let target = if rng.chance(10) {
                        rng.pick(&positions)
                    } else {
                        next
                    };
                    let count = if rng.chance(10) {
                        0
                    } else {
                        rng.range(1, 5000)
                    };
                    dos_entry(0, kind, target.wrapping_sub(base) as u32, count as u32)
                }
                _ if rng.chance(20) => dos_entry(0, rng.pick(&[0x05u8, 0x83]), 0, 0),
                _ => [0u8; 16],
            };
            if rng.chance(15) {
                entries.push(link);
                entries.push(data);
            } else {
                entries.push(data);
                entries.push(link);
            }
            if rng.chance(5) {
                entries.push(dos_entry(0, 0x83, 1, 1));
            }
            let mut sector = dos_sector(&entries);
            if rng.chance(4) {
                sector[511] = 0;
            }
            img.write(cur * 512, &sector);
            notes.push(format!(
                "EBR at {cur}: {}",
                entries
                    .iter()
                    .map(|e| format!("[{:#04x} {} {}]", e[4], get_le32(e, 8), get_le32(e, 12)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }
    Generated {
        family: "dos",
        notes,
        image: img,
        options: vec!["-l"],
    }
}

fn random_guid(rng: &mut Rng) -> [u8; 16] {
    let mut g = [0u8; 16];
    rng.fill(&mut g);
    g
}

fn gen_gpt(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let last = img.last_lba();
    let mut notes = Vec::new();
    // Protective MBR.
    let pmbr = rng.below(10);
    let mut entries_mbr = vec![dos_entry(0, 0xEE, 1, (sectors - 1) as u32)];
    match pmbr {
        0 => {
            entries_mbr[0][4] = 0x83;
            notes.push("PMBR type 83".into());
        }
        1 => {
            entries_mbr = vec![dos_entry(0x80, 0x0c, 2048, 1000), entries_mbr[0]];
            notes.push("hybrid MBR".into());
        }
        2 => notes.push("no PMBR".into()),
        _ => {}
    }
    if pmbr != 2 {
        img.write(0, &dos_sector(&entries_mbr));
    }
    // Entry array.
    let num_entries = match rng.below(10) {
        0 => rng.range(1, 8) as u32,
        1 => rng.range(129, 300) as u32,
        2 => rng.range(1, 2000) as u32,
        3 if rng.chance(30) => 0,
        _ => 128,
    };
    let used = rng.range(0, u64::from(num_entries).min(300));
    let entry_lba = if rng.chance(90) { 2 } else { rng.lba(sectors) };
    let first_usable = 2 + u64::from(num_entries).div_ceil(4);
    let mut array = vec![0u8; num_entries as usize * 128];
    let mut described = Vec::new();
    for i in 0..used as usize {
        if rng.chance(30) {
            continue;
        }
        let e = &mut array[i * 128..(i + 1) * 128];
        let t = if rng.chance(5) {
            [0u8; 16]
        } else {
            random_guid(rng)
        };
        e[0..16].copy_from_slice(&t);
        e[16..32].copy_from_slice(&random_guid(rng));
        let start = if rng.chance(80) {
            rng.range(first_usable.min(last), last)
        } else {
            rng.lba(sectors)
        };
        let end = match rng.below(10) {
            0 => start.wrapping_sub(rng.range(1, 10)),
            1 => rng.lba(sectors),
            2 => start,
            _ => start + rng.below(sectors / 8),
        };
        e[32..40].copy_from_slice(&start.to_le_bytes());
        e[40..48].copy_from_slice(&end.to_le_bytes());
        described.push(format!("{}:{start}-{end}", i + 1));
    }
    notes.push(format!(
        "entries at LBA {entry_lba}, {num_entries} of them, used {}",
        described.join(" ")
    ));
    img.write(entry_lba * 512, &array);
    let primary = gpt::Header {
        header_size: if rng.chance(5) {
            rng.pick(&[0u32, 20, 91, 96, 512, 513])
        } else {
            92
        },
        my_lba: if rng.chance(3) { rng.lba(sectors) } else { 1 },
        alternate_lba: if rng.chance(10) {
            rng.lba(sectors)
        } else {
            last
        },
        first_usable,
        last_usable: last.saturating_sub(first_usable - 1),
        disk_guid: random_guid(rng),
        entry_lba,
        num_entries,
        entry_size: if rng.chance(3) { 256 } else { 128 },
        entries_crc: 0,
    };
    notes.push(format!(
        "primary: header_size {} my_lba {} alternate {} entry_size {}",
        primary.header_size, primary.my_lba, primary.alternate_lba, primary.entry_size
    ));
    img.write(512, &primary.bytes(512));
    gpt_fix_crcs(&mut img, 1);
    // Backup.
    if rng.chance(70) {
        let backup_entries = last.saturating_sub(u64::from(num_entries).div_ceil(4));
        let mut backup = gpt::Header {
            my_lba: last,
            alternate_lba: 1,
            entry_lba: backup_entries,
            ..primary
        };
        backup.header_size = 92;
        backup.entry_size = 128;
        let mut barray = array.clone();
        match rng.below(8) {
            0 => {
                backup.num_entries = backup.num_entries.wrapping_add(1);
                barray.extend_from_slice(&[0; 128]);
                notes.push("backup: one more entry".into());
            }
            1 => {
                backup.first_usable += 1;
                backup.last_usable -= 1;
                notes.push("backup: usable range differs".into());
            }
            2 => {
                backup.disk_guid = random_guid(rng);
                notes.push("backup: other disk GUID".into());
            }
            3 if !barray.is_empty() => {
                let e = &mut barray[..128];
                e[0..16].copy_from_slice(&random_guid(rng));
                e[32..40].copy_from_slice(&100u64.to_le_bytes());
                e[40..48].copy_from_slice(&199u64.to_le_bytes());
                notes.push("backup: entry 1 = 100..199".into());
            }
            4 => {
                backup.alternate_lba = 2;
                notes.push("backup: alternate_lba 2".into());
            }
            _ => {}
        }
        let at = if rng.chance(90) {
            last
        } else {
            rng.lba(sectors)
        };
        backup.my_lba = at;
        img.write(backup.entry_lba * 512, &barray);
        img.write(at * 512, &backup.bytes(512));
        gpt_fix_crcs(&mut img, at);
        notes.push(format!("backup header at {at}"));
    } else {
        notes.push("no backup header".into());
    }
    match rng.below(10) {
        0 => {
            img.write(512 + 100, &[0xFF]);
            notes.push("primary corrupted after the CRCs".into());
        }
        1 => {
            img.write(last * 512 + 8, &[0xFF]);
            notes.push("backup corrupted after the CRCs".into());
        }
        2 => {
            img.write(entry_lba * 512 + 200, &[0x5A]);
            notes.push("entry array corrupted".into());
        }
        _ => {}
    }
    Generated {
        family: "gpt",
        notes,
        image: img,
        options: if rng.chance(25) {
            vec!["-l", "-g"]
        } else {
            vec!["-l"]
        },
    }
}

fn gen_bsd(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let n = rng.range(0, 16) as usize;
    let npartitions = if rng.chance(10) {
        rng.below(65536) as u16
    } else {
        rng.range(n as u64, 16) as u16
    };
    let mut parts = Vec::new();
    for _ in 0..n {
        let wild = rng.below(256) as u8;
        let fstype = rng.pick(&[0u8, 7, 7, 1, 8, wild]);
        let (size, offset) = match rng.below(6) {
            0 => (sectors, 0),
            1 => (0, rng.lba(sectors)),
            _ => {
                let off = rng.below(sectors);
                (rng.range(1, (sectors - off).max(1)), off)
            }
        };
        parts.push((size as u32, offset as u32, fstype));
    }
    let at = if rng.chance(75) { 512 } else { 64 };
    img.write(at, &bsd::label(npartitions, &parts));
    Generated {
        family: "bsd",
        notes: vec![format!(
            "BSD label at {at}, npartitions {npartitions}, (size, offset, fstype) {parts:?}"
        )],
        image: img,
        options: vec!["-l"],
    }
}

fn gen_sun(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let (ntrks, nsect) = if rng.chance(10) {
        (rng.below(65536) as u16, rng.below(65536) as u16)
    } else {
        (rng.range(1, 16) as u16, rng.range(1, 63) as u16)
    };
    let per_cyl = (u64::from(ntrks) * u64::from(nsect)).max(1);
    let mut parts = Vec::new();
    for _ in 0..8 {
        let part = match rng.below(5) {
            0 => (0, 0),
            1 => (0, sectors as u32),
            _ => {
                let cyl = rng.below(sectors / per_cyl + 2);
                (cyl as u32, rng.range(1, sectors / 2) as u32)
            }
        };
        parts.push(part);
    }
    let mut label = sun::label(ntrks, nsect, &parts);
    let mut notes = vec![format!(
        "Sun label ntrks {ntrks} nsect {nsect} (cyl, sectors) {parts:?}"
    )];
    if rng.chance(10) {
        label[300] ^= 0x10;
        notes.push("checksum broken".into());
    }
    img.write(0, &label);
    Generated {
        family: "sun",
        notes,
        image: img,
        options: vec!["-l"],
    }
}

fn gen_mac(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let bs: u16 = rng.pick(&[512, 512, 1024, 2048, 4096, 256, 0]);
    let mut block0 = vec![0u8; 512];
    block0[0..2].copy_from_slice(&0x4552u16.to_be_bytes());
    block0[2..4].copy_from_slice(&bs.to_be_bytes());
    img.write(0, &block0);
    let scale = (u64::from(bs) / 512).max(1);
    let room = if bs == 0 {
        0
    } else {
        (img.size / u64::from(bs)).saturating_sub(1).min(300)
    };
    let n = rng.range(0, room.min(40));
    let map_count = match rng.below(5) {
        0 => rng.range(0, 300) as u32,
        1 => n as u32 + 1,
        _ => n as u32,
    };
    let mut described = Vec::new();
    for k in 1..=n {
        let mut e = vec![0u8; 64];
        e[0..2].copy_from_slice(&0x504Du16.to_be_bytes());
        e[4..8].copy_from_slice(&map_count.to_be_bytes());
        let start = rng.below(sectors / scale + 4) as u32;
        let count = if rng.chance(5) {
            rng.next() as u32
        } else {
            rng.below(sectors / scale) as u32
        };
        e[8..12].copy_from_slice(&start.to_be_bytes());
        e[12..16].copy_from_slice(&count.to_be_bytes());
        e[16..20].copy_from_slice(b"part");
        e[48..57].copy_from_slice(b"Apple_HFS");
        if rng.chance(3) {
            e[0] = 0;
        }
        img.write(k * u64::from(bs), &e);
        described.push(format!("{k}:{start}+{count}"));
    }
    Generated {
        family: "mac",
        notes: vec![format!(
            "mac bs {bs}, map_count {map_count}, entries {}",
            described.join(" ")
        )],
        image: img,
        options: vec!["-l"],
    }
}

fn gen_misc(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let notes;
    let family;
    match rng.below(4) {
        0 => {
            family = "ps3";
            let mut parts = Vec::new();
            for _ in 0..8 {
                parts.push(match rng.below(5) {
                    0 => (0, rng.below(100)),
                    1 => (rng.next(), rng.next()),
                    _ => (rng.below(sectors), rng.below(sectors)),
                });
            }
            img.write(0, &ps3::label(&parts));
            notes = vec![format!("PS3 (start, size) {parts:?}")];
        }
        1 => {
            family = "unixware";
            let mut parts = Vec::new();
            for _ in 0..16 {
                let wild = rng.below(65536) as u16;
                let tag = rng.pick(&[0u16, 0, 2, 5, wild]);
                let start = rng.lba(sectors) as u32;
                let count = rng.below(sectors) as u32;
                parts.push((tag, start, count));
            }
            img.write(29 * 512, &unixware::label(&parts));
            notes = vec![format!("UnixWare (tag, start, count) {parts:?}")];
        }
        2 => {
            family = "dasd";
            let mut label = vec![0u8; 512];
            let kind = rng.below(3);
            match kind {
                0 => {
                    label[4..8].copy_from_slice(&[0xD3, 0xD5, 0xE7, 0xF1]);
                    if rng.chance(50) {
                        label[83] = 0xF2;
                        label[84..92].copy_from_slice(&rng.range(3, sectors * 2).to_le_bytes());
                    }
                }
                1 => {
                    label[4..8].copy_from_slice(&[0xC3, 0xD4, 0xE2, 0xF1]);
                    let bs = rng.pick(&[512u32, 1024, 2048, 4096]);
                    label[16..20].copy_from_slice(&le32(bs));
                    let blocks = rng.range(8, sectors * 512 / u64::from(bs)) as u32;
                    label[32..36].copy_from_slice(&le32(blocks));
                    if rng.chance(30) {
                        label[56..60].copy_from_slice(&le32(rng.range(1, 4) as u32));
                    }
                }
                _ => {
                    label[4..8].copy_from_slice(&[0xE5, 0xD6, 0xD3, 0xF1]);
                    label[19] = rng.range(0, 5) as u8;
                    let first = 3 + u64::from(label[19]);
                    for n in 0..rng.below(12) {
                        let mut d = vec![0u8; 512];
                        d[44] = rng.pick(&[0xF1u8, 0xF8, 0xF4, 0xF5, 0xF7, 0xF9]);
                        for at in [107, 111] {
                            d[at..at + 2].copy_from_slice(&le16(rng.below(3) as u16));
                            d[at + 2..at + 4].copy_from_slice(&le16(rng.below(15) as u16));
                        }
                        img.write((first + n) * 512, &d);
                    }
                }
            }
            img.write(1024, &label);
            notes = vec![format!("DASD label kind {kind} (0 LNX1, 1 CMS1, 2 VOL1)")];
        }
        _ => {
            family = "garbage";
            let mut head = vec![0u8; 512 * rng.range(1, 40) as usize];
            rng.fill(&mut head);
            if rng.chance(50) {
                head[510] = 0x55;
                head[511] = 0xAA;
            }
            img.write(0, &head);
            notes = vec![format!("{} bytes of noise", head.len())];
        }
    }
    Generated {
        family,
        notes,
        image: img,
        options: vec!["-l"],
    }
}

fn gen_flip(rng: &mut Rng, bases: &Bases) -> Generated {
    let (name, base) = &bases.images[rng.below(bases.images.len() as u64) as usize];
    let mut img = base.clone();
    let count = rng.range(1, 6);
    let within = if rng.chance(70) { 4 } else { 64 };
    let mut notes = vec![format!("base {name}")];
    notes.extend(img.flip(rng, count, within));
    if name.contains("gpt") && rng.chance(60) {
        gpt_fix_crcs(&mut img, 1);
        let last = img.last_lba();
        gpt_fix_crcs(&mut img, last);
        notes.push("GPT CRCs recomputed".into());
    }
    Generated {
        family: "flip",
        notes,
        image: img,
        options: if rng.chance(15) {
            vec!["-l", "-g"]
        } else {
            vec!["-l"]
        },
    }
}

pub fn generate(seed: u64, bases: &Bases) -> Generated {
    let mut rng = Rng::new(seed);
    let mut g = match rng.below(16) {
        0..=2 => gen_dos(&mut rng),
        3..=6 => gen_gpt(&mut rng),
        7 | 8 => gen_bsd(&mut rng),
        9 => gen_sun(&mut rng),
        10 => gen_mac(&mut rng),
        11 | 12 => gen_misc(&mut rng),
        _ => gen_flip(&mut rng, bases),
    };
    if g.family != "flip" && rng.chance(20) {
        let count = rng.range(1, 3);
        let flips = g.image.flip(&mut rng, count, 4);
        g.notes.push(format!("then flipped {}", flips.join(", ")));
    }
    g
}
