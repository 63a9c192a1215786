//! PlayStation 3 disk label reader.
//!
//! The label occupies blocks 0–2 (1536 bytes); all fields are big-endian.
//!
//! | Offset | Field |
//! |---|---|
//! | 16 | magic 1, u64 = `0x0FACE0FF` |
//! | 24 | magic 2, u64 = `0xDEADFACE` |
//! | 0x30 + 144k | entry k (8 of them): `p_start` u64, `p_size` u64, then access control lists |
//!
//! Only entries whose start and size are both non-zero become slices, compacted. No sector-size
//! scaling.

use super::bytes::be64;
use super::{BlockSource, Diagnostics, MAX_SLICES, ProbeContext, Slice};

/// First magic of a PS3 label.
pub const PS3_MAGIC1: u64 = 0x0FAC_E0FF;
/// Second magic of a PS3 label.
pub const PS3_MAGIC2: u64 = 0xDEAD_FACE;

/// Bytes read for the label.
const LABEL_LEN: usize = 3 * 512;
/// Offset of the first entry.
const ENTRIES: usize = 0x30;
/// Size of one entry (start, size and an 8×2 ACL table of u64).
const ENTRY_SIZE: usize = 144;
/// Number of entries.
const NENTRIES: usize = 8;

/// Reads a PS3 label; an empty result means "not this format, or no partitions".
pub fn read(src: &dyn BlockSource, _ctx: &ProbeContext, _diag: &mut Diagnostics) -> Vec<Slice> {
    let Some(label) = src.read_at(0, LABEL_LEN) else {
        return Vec::new();
    };
    if be64(&label, 16) != PS3_MAGIC1 || be64(&label, 24) != PS3_MAGIC2 {
        return Vec::new();
    }
    (0..NENTRIES)
        .map(|k| ENTRIES + k * ENTRY_SIZE)
        .map(|at| (be64(&label, at), be64(&label, at + 8)))
        .filter(|&(start, size)| start != 0 && size != 0)
        .take(MAX_SLICES)
        .map(|(start, size)| Slice::new(start, size))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;
    use crate::testkit::{self, pos};

    fn disk(parts: &[(u64, u64)]) -> Vec<u8> {
        let mut d = testkit::ps3::label(parts);
        d.resize(4096, 0);
        d
    }

    fn run(disk: Vec<u8>) -> Vec<Slice> {
        let mut diag = Diagnostics::default();
        let s = read(&MemSource::new(disk), &ProbeContext::default(), &mut diag);
        assert!(diag.lines().is_empty());
        s
    }

    #[test]
    fn reads_entries_and_compacts() {
        let parts = [(8, 100), (0, 50), (200, 0), (300, 30), (0, 0), (400, 40)];
        assert_eq!(
            pos(&run(disk(&parts))),
            vec![(8, 100), (300, 30), (400, 40)]
        );
    }

    #[test]
    fn reads_all_eight_entries() {
        let parts: Vec<(u64, u64)> = (1..=8).map(|k| (k * 100, 10)).collect();
        let s = run(disk(&parts));
        assert_eq!(s.len(), 8);
        assert_eq!(s[7].start, 800);
    }

    #[test]
    fn no_sector_size_scaling() {
        let mut diag = Diagnostics::default();
        let src = MemSource::with_sector_size(disk(&[(8, 100)]), 4096);
        let s = read(&src, &ProbeContext::default(), &mut diag);
        assert_eq!(pos(&s), vec![(8, 100)]);
    }

    #[test]
    fn both_magics_are_required() {
        let mut d = disk(&[(8, 100)]);
        d[23] ^= 1;
        assert!(run(d).is_empty());
        let mut d = disk(&[(8, 100)]);
        d[31] ^= 1;
        assert!(run(d).is_empty());
    }

    #[test]
    fn huge_values_and_truncation_do_not_panic() {
        let s = run(disk(&[(u64::MAX, u64::MAX)]));
        assert_eq!(s[0].end(), u64::MAX);
        let d = disk(&[(8, 100)]);
        for len in [0usize, 31, 512, 1535] {
            assert!(run(d[..len].to_vec()).is_empty());
        }
        assert_eq!(run(d[..1536].to_vec()).len(), 1);
    }
}
