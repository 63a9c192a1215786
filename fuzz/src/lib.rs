//! Shared glue for the fuzz targets.
//!
//! Partition table readers' input layout: the first byte picks the device's facts, the rest is
//! the disk. (The `policy` and `udev_event` targets describe their own layouts.)
//!
//! | Bits of byte 0 | Meaning |
//! |---|---|
//! | 0–1 | logical sector size: 512, 1024, 2048, 4096 |
//! | 2 | `-g` (accept a GPT with an invalid protective MBR) |
//! | 3 | DASD: the device's major is 94 |
//! | 4 | DASD: `BIODASDINFO` answered (label block 2 + bit 7, FBA layout = bit 5) |
//! | 5 | DASD: FBA layout |
//! | 6 | DASD: `HDIO_GETGEO` answered (15 heads, 12 sectors, 100 cylinders) |
//! | 7 | DASD: label block 3 instead of 2 |
//!
//! An empty input is ignored.

use kpartx_table::dasd::{DasdDevice, DasdGeometry, DasdInfo};
pub use kpartx_table::testkit::Reader;
use kpartx_table::{Diagnostics, MemSource, ProbeContext, Slice};

/// Splits a fuzz input into the disk and what the readers are told about the device.
pub fn setup(data: &[u8]) -> Option<(MemSource, ProbeContext)> {
    let (&facts, disk) = data.split_first()?;
    let bit = |n: u8| facts & (1 << n) != 0;
    let sector_size = 512u32 << (facts & 3);
    let ctx = ProbeContext {
        force_gpt: bit(2),
        dasd: DasdDevice {
            major: if bit(3) { 94 } else { 7 },
            is_dm_map: false,
            first_dep_major: None,
            info: bit(4).then(|| DasdInfo {
                label_block: 2 + u32::from(bit(7)),
                fba_layout: bit(5),
                eckd: !bit(5),
            }),
            geometry: bit(6).then_some(DasdGeometry {
                heads: 15,
                sectors: 12,
                cylinders: 100,
            }),
        },
    };
    Some((MemSource::with_sector_size(disk.to_vec(), sector_size), ctx))
}

/// The invariants every reader keeps, whatever the input (`kpartx_table::testkit::check_slices`).
pub fn check(slices: &[Slice]) {
    if let Err(e) = kpartx_table::testkit::check_slices(slices) {
        panic!("{e}");
    }
}

/// Runs one reader on a fuzz input.
pub fn run(data: &[u8], read: Reader) {
    if let Some((src, ctx)) = setup(data) {
        let mut diag = Diagnostics::default();
        check(&read(&src, &ctx, &mut diag));
    }
}

/// `data` split at the first `byte` (which belongs to neither part); all of it and an empty
/// rest when there is none.
pub fn split_at_byte(data: &[u8], byte: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == byte) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
