//! Every partition table reader survives arbitrary input: no panic, at most `MAX_SLICES`
//! slices, and container indexes that point at an existing slice.
//!
//! Two kinds of input: plain arbitrary bytes, and "structured" ones where arbitrary bytes get
//! just enough of a real label (magic numbers, checksums, CRCs) to lead a reader past its first
//! checks.

use kpartx_table::dasd::{DasdDevice, DasdGeometry, DasdInfo};
use kpartx_table::testkit::readers::READERS;
use kpartx_table::{Diagnostics, MemSource, ProbeContext, Slice, TableKind, TypeFilter};
use proptest::prelude::*;

/// Largest input, in bytes.
const MAX_LEN: usize = 64 * 1024;

fn check_slices(who: &str, slices: &[Slice]) -> Result<(), TestCaseError> {
    kpartx_table::testkit::check_slices(slices)
        .map_err(|e| TestCaseError::fail(format!("{who}: {e}")))
}

/// Runs every reader, every `TableKind`, and the probe (all readers and each one alone).
fn check_all(data: Vec<u8>, sector_size: u32, ctx: &ProbeContext) -> Result<(), TestCaseError> {
    let src = MemSource::with_sector_size(data, sector_size);
    for (name, read) in READERS {
        let mut diag = Diagnostics::default();
        check_slices(name, &read(&src, ctx, &mut diag))?;
    }
    for kind in TableKind::ALL {
        let mut diag = Diagnostics::default();
        check_slices(kind.name(), &kind.read(&src, ctx, &mut diag))?;
        let mut diag = Diagnostics::default();
        if let Some(t) = kpartx_table::probe(&src, ctx, &TypeFilter::Only(kind), &mut diag) {
            prop_assert_eq!(t.kind, kind);
            prop_assert!(!t.slices.is_empty());
            check_slices(kind.name(), &t.slices)?;
        }
    }
    let mut diag = Diagnostics::default();
    if let Some(t) = kpartx_table::probe(&src, ctx, &TypeFilter::All, &mut diag) {
        check_slices("probe", &t.slices)?;
    }
    let mut diag = Diagnostics::default();
    prop_assert!(
        kpartx_table::probe(
            &src,
            ctx,
            &TypeFilter::Unknown("nonsense".into()),
            &mut diag
        )
        .is_none()
    );
    Ok(())
}

fn sector_size() -> impl Strategy<Value = u32> {
    prop_oneof![4 => Just(512u32), 4 => Just(4096u32), 1 => Just(1024u32), 1 => Just(2048u32)]
}

fn context() -> impl Strategy<Value = ProbeContext> {
    let info = proptest::option::of((0u32..8, any::<bool>(), any::<bool>()).prop_map(
        |(label_block, fba_layout, eckd)| DasdInfo {
            label_block,
            fba_layout,
            eckd,
        },
    ));
    let geometry = proptest::option::of((any::<u8>(), any::<u8>(), any::<u16>()).prop_map(
        |(heads, sectors, cylinders)| DasdGeometry {
            heads,
            sectors,
            cylinders,
        },
    ));
    (
        any::<bool>(),
        prop_oneof![Just(7u32), Just(94u32), Just(253u32)],
        any::<bool>(),
        proptest::option::of(prop_oneof![Just(94u32), Just(8u32)]),
        info,
        geometry,
    )
        .prop_map(
            |(force_gpt, major, is_dm_map, first_dep_major, info, geometry)| ProbeContext {
                force_gpt,
                dasd: DasdDevice {
                    major,
                    is_dm_map,
                    first_dep_major,
                    info,
                    geometry,
                },
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Shaping arbitrary bytes into something that looks like a label
// ---------------------------------------------------------------------------------------------

fn put(data: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    if data.len() < at + bytes.len() {
        data.resize(at + bytes.len(), 0);
    }
    data[at..at + bytes.len()].copy_from_slice(bytes);
}

fn get32(data: &[u8], at: usize) -> u32 {
    data.get(at..at + 4)
        .map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
}

/// Turns the header at byte `at` into a GPT header that passes the CRC checks.
fn gpt_header(data: &mut Vec<u8>, at: usize, ss: usize, lba: u64, p: &[u64; 6]) {
    put(data, at, b"EFI PART");
    let header_size = match p[0] % 8 {
        0 => (p[0] >> 8) as u32 % 600,
        _ => 92,
    };
    put(data, at + 12, &header_size.to_le_bytes());
    put(data, at + 24, &lba.to_le_bytes());
    let num = match p[1] % 6 {
        0 => (p[1] >> 8) as u32,
        1 => (p[1] >> 8) as u32 % 4096,
        _ => (p[1] >> 8) as u32 % 300,
    };
    put(data, at + 80, &num.to_le_bytes());
    let entry_size: u32 = if p[2].is_multiple_of(10) { 64 } else { 128 };
    put(data, at + 84, &entry_size.to_le_bytes());
    let entry_lba = if p[3].is_multiple_of(4) {
        p[3] >> 2
    } else {
        lba + 1
    };
    put(data, at + 72, &entry_lba.to_le_bytes());
    if p[4].is_multiple_of(3) {
        put(data, at + 32, &(p[4] >> 2).to_le_bytes());
    }
    // Entries CRC over what is really there (when it is there), then the header CRC.
    let len = u64::from(num) * u64::from(entry_size);
    let start = entry_lba.checked_mul(ss as u64);
    if let Some(start) = start
        && let Some(end) = start.checked_add(len)
        && end <= data.len() as u64
    {
        let crc = crc32fast::hash(&data[start as usize..end as usize]);
        put(data, at + 88, &crc.to_le_bytes());
    }
    let hs = (get32(data, at + 12) as usize).min(ss);
    if data.len() >= at + hs && hs >= 20 {
        put(data, at + 16, &[0; 4]);
        let crc = crc32fast::hash(&data[at..at + hs]);
        put(data, at + 16, &crc.to_le_bytes());
    }
}

/// Label shapes the structured strategy can apply.
const SHAPES: u64 = 12;

fn shape(kind: u64, data: &mut Vec<u8>, ss: usize, p: &[u64; 6]) {
    match kind {
        0 | 1 => {
            // GPT: protective MBR, primary header and (for 1) a backup at the last LBA.
            if data.len() < 8 * ss {
                data.resize(8 * ss, 0);
            }
            put(
                data,
                0x1BE + 4,
                &[if p[5].is_multiple_of(5) { 0x83 } else { 0xEE }],
            );
            put(data, 510, &[0x55, 0xAA]);
            gpt_header(data, ss, ss, 1, p);
            if kind == 1 {
                let last = data.len() / ss - 1;
                let q = [p[1], p[0], p[3], p[2] | 1, p[5], p[4]];
                gpt_header(data, last * ss, ss, last as u64, &q);
            }
        }
        2 | 3 => {
            // DOS: 55AA, extended entries, and EBR-looking sectors everywhere.
            put(data, 510, &[0x55, 0xAA]);
            let ext = [0x05u8, 0x0f, 0x85];
            for (i, &q) in p.iter().take(4).enumerate() {
                if (q >> 60) % 2 == 0 {
                    put(data, 0x1BE + 16 * i + 4, &[ext[(q % 3) as usize]]);
                    put(
                        data,
                        0x1BE + 16 * i + 8,
                        &((q >> 8) as u32 % 128).to_le_bytes(),
                    );
                }
            }
            let sectors = data.len() / 512;
            for s in 1..sectors {
                if kind == 3 || (p[4] >> (s % 64)) & 1 == 1 {
                    put(data, s * 512 + 510, &[0x55, 0xAA]);
                    put(data, s * 512 + 0x1BE + 16 + 4, &[ext[s % 3]]);
                }
            }
        }
        4 => {
            // BSD at block 1 or at 64.
            let at = if p[0].is_multiple_of(2) { 512 } else { 64 };
            put(data, at, &0x8256_4557u32.to_le_bytes());
            put(data, at + 138, &((p[1] % 24) as u16).to_le_bytes());
        }
        5 => {
            // Solaris (ILP32 layout) at block 1.
            put(data, 512 + 12, &0x600D_DEEEu32.to_le_bytes());
            put(data, 512 + 16, &((p[0] % 3) as u32).to_le_bytes());
        }
        6 => {
            // UnixWare at block 29.
            put(data, 29 * 512 + 4, &0xCA5E_600Du32.to_le_bytes());
            put(data, 29 * 512 + 156, &0x600D_DEEEu32.to_le_bytes());
        }
        7 | 8 => {
            // DASD label at block 2 (of the sector size, or shifted for FBA).
            let labels = [
                [0xC3u8, 0xD4, 0xE2, 0xF1],
                [0xD3, 0xD5, 0xE7, 0xF1],
                [0xE5, 0xD6, 0xD3, 0xF1],
            ];
            let label = labels[(p[0] % 3) as usize];
            let at = 2 * ss + if kind == 8 { 0 } else { 4 };
            put(data, at, &label);
            put(data, 2 * ss, &label);
            if p[1].is_multiple_of(2) {
                put(data, 2 * ss + 83, &[0xF2]);
            }
            // Make the VTOC walk find data-set DSCBs.
            let sectors = data.len() / ss;
            for s in 3..sectors {
                put(data, s * ss + 44, &[[0xF1u8, 0xF8, 0xF4][s % 3]]);
            }
        }
        9 => {
            // Mac: ER + block size + PM entries.
            let bs = [512u16, 1024, 2048, 4096, 256, 0, 1, 513][(p[0] % 8) as usize];
            put(data, 0, &0x4552u16.to_be_bytes());
            put(data, 2, &bs.to_be_bytes());
            if bs > 0 {
                let bs = usize::from(bs);
                let n = (p[1] % 300) as usize;
                for k in 1..=n {
                    if k * bs + 2 > MAX_LEN {
                        break;
                    }
                    put(data, k * bs, &0x504Du16.to_be_bytes());
                }
                put(data, bs + 4, &((p[2] % 400) as u32).to_be_bytes());
            }
        }
        10 => {
            // Sun: magic and a valid XOR checksum.
            if data.len() < 512 {
                data.resize(512, 0);
            }
            put(data, 508, &0xDABEu16.to_be_bytes());
            if !p[0].is_multiple_of(4) {
                let x = (0..255).fold(0u16, |x, i| {
                    x ^ u16::from_be_bytes([data[2 * i], data[2 * i + 1]])
                });
                put(data, 510, &x.to_be_bytes());
            }
        }
        _ => {
            // PS3.
            put(data, 16, &0x0FAC_E0FFu64.to_be_bytes());
            put(data, 24, &0xDEAD_FACEu64.to_be_bytes());
        }
    }
    data.truncate(MAX_LEN.max(8 * ss));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..MAX_LEN),
        ss in sector_size(),
        ctx in context(),
    ) {
        check_all(data, ss, &ctx)?;
    }

    #[test]
    fn small_inputs_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..2048),
        ss in sector_size(),
        ctx in context(),
    ) {
        check_all(data, ss, &ctx)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn label_shaped_inputs_never_panic(
        kind in 0..SHAPES,
        mut data in proptest::collection::vec(any::<u8>(), 0..MAX_LEN),
        zero_tail in any::<bool>(),
        ss in sector_size(),
        ctx in context(),
        p in any::<[u64; 6]>(),
    ) {
        if zero_tail {
            // Mostly empty disks look more like real ones.
            let keep = data.len().min(1024);
            data[keep..].fill(0);
        }
        shape(kind, &mut data, ss as usize, &p);
        check_all(data, ss, &ctx)?;
    }
}

/// A few fixed edge cases that proptest may not hit.
#[test]
fn edge_cases_never_panic() {
    let ctx = ProbeContext::default();
    for ss in [512u32, 4096] {
        for len in [
            0usize, 1, 511, 512, 513, 1023, 4095, 4096, 4097, 8191, 16384,
        ] {
            for fill in [0u8, 0xFF, 0x55] {
                check_all(vec![fill; len], ss, &ctx).expect("edge case");
            }
        }
    }
    // A GPT whose entry count is huge and whose array is "everywhere".
    let mut data = vec![0u8; 64 * 1024];
    shape(1, &mut data, 512, &[1, u64::MAX, 1, 0, 0, 1]);
    check_all(data, 512, &ctx).expect("huge GPT");
}
