//! UnixWare VTOC reader.
//!
//! The disklabel is block 29 (byte 14848). All fields are in host byte order in the reference;
//! like an x86_64 build we read little-endian.
//!
//! | Offset | Field |
//! |---|---|
//! | 4 | `d_magic`, u32 = `0xCA5E600D` |
//! | 156 | VTOC magic, u32 = `0x600DDEEE` |
//! | 216 + 12k | slice k: label u16, flags u16, start u32, count u32 |
//!
//! Slice 0 (the whole disk) is skipped; slices 1–15 with a non-zero label become slices,
//! compacted. Start and size are 512-byte units with no sector-size scaling. `part_type` is the
//! label (tag) as `0x%02x`.

use super::bytes::{le16, le32};
use super::{BlockSource, Diagnostics, MAX_SLICES, ProbeContext, Slice};

/// `d_magic` of a UnixWare disklabel.
pub const UNIXWARE_DISKMAGIC: u32 = 0xCA5E_600D;
/// Magic of the VTOC inside the disklabel.
pub const UNIXWARE_VTOC_MAGIC: u32 = 0x600D_DEEE;

/// The 512-byte block holding the disklabel.
const LABEL_BLOCK: u64 = 29;
/// Offset of `d_magic`.
const DISK_MAGIC: usize = 4;
/// Offset of the VTOC magic.
const VTOC_MAGIC: usize = 156;
/// Offset of the slice table.
const SLICES: usize = 216;
/// Size of one slice entry.
const SLICE_SIZE: usize = 12;
/// Number of slice entries (including the skipped whole-disk slice 0).
const NSLICES: usize = 16;

/// Reads a UnixWare VTOC; an empty result means "not this format, or no partitions".
pub fn read(src: &dyn BlockSource, _ctx: &ProbeContext, diag: &mut Diagnostics) -> Vec<Slice> {
    let Some(label) = src.block(LABEL_BLOCK) else {
        return Vec::new();
    };
    if le32(&label, DISK_MAGIC) != UNIXWARE_DISKMAGIC
        || le32(&label, VTOC_MAGIC) != UNIXWARE_VTOC_MAGIC
    {
        return Vec::new();
    }
    let mut slices = Vec::new();
    for k in 1..NSLICES {
        let at = SLICES + k * SLICE_SIZE;
        let tag = le16(&label, at);
        if tag == 0 {
            continue;
        }
        if slices.len() >= MAX_SLICES {
            diag.warn("unixware_partition: too many slices");
            break;
        }
        let start = u64::from(le32(&label, at + 4));
        let mut slice = Slice::new(start, u64::from(le32(&label, at + 8)));
        slice.part_type = Some(format!("0x{tag:02x}"));
        slices.push(slice);
    }
    slices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;
    use crate::testkit::{self, pos, run_reader};

    const BASE: usize = 29 * 512;

    /// The label with (tag, start, count) for slices 0..n at block 29 of a 30-block disk.
    fn disk(parts: &[(u16, u32, u32)]) -> Vec<u8> {
        let mut d = vec![0u8; BASE + 1024];
        d[BASE..BASE + 512].copy_from_slice(&testkit::unixware::label(parts));
        d
    }

    fn run(disk: Vec<u8>) -> (Vec<Slice>, Vec<String>) {
        run_reader(read, disk)
    }

    #[test]
    fn skips_whole_disk_slice_and_compacts() {
        let parts = [
            (5, 0, 10000),
            (1, 100, 50),
            (0, 999, 999),
            (0x0b, 200, 0),
            (3, 300, 30),
        ];
        let (s, w) = run(disk(&parts));
        assert!(w.is_empty());
        assert_eq!(pos(&s), vec![(100, 50), (200, 0), (300, 30)]);
        assert_eq!(s[0].part_type.as_deref(), Some("0x01"));
        assert_eq!(s[1].part_type.as_deref(), Some("0x0b"));
    }

    #[test]
    fn reads_all_15_slices() {
        let parts: Vec<(u16, u32, u32)> = (0..16).map(|k| (1, k * 10, 10)).collect();
        let s = run(disk(&parts)).0;
        assert_eq!(s.len(), 15);
        assert_eq!(s[14].start, 150);
    }

    #[test]
    fn no_sector_size_scaling() {
        let mut diag = Diagnostics::default();
        let src = MemSource::with_sector_size(disk(&[(0, 0, 0), (1, 100, 50)]), 4096);
        let s = read(&src, &ProbeContext::default(), &mut diag);
        assert_eq!(pos(&s), vec![(100, 50)]);
    }

    #[test]
    fn both_magics_are_required() {
        let mut d = disk(&[(0, 0, 0), (1, 100, 50)]);
        d[BASE + DISK_MAGIC] ^= 1;
        assert!(run(d).0.is_empty());
        let mut d = disk(&[(0, 0, 0), (1, 100, 50)]);
        d[BASE + VTOC_MAGIC] ^= 1;
        assert!(run(d).0.is_empty());
    }

    #[test]
    fn no_used_slice_is_not_unixware() {
        assert!(run(disk(&[(1, 0, 100)])).0.is_empty());
    }

    #[test]
    fn truncated_inputs_do_not_panic() {
        let d = disk(&[(u16::MAX, u32::MAX, u32::MAX); 16]);
        for len in [0usize, BASE, BASE + 100, BASE + 511] {
            assert!(run(d[..len].to_vec()).0.is_empty());
        }
        assert_eq!(run(d).0.len(), 15);
    }
}
