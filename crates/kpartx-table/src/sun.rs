//! Sun VTOC (SPARC disk label) reader.
//!
//! Block 0 holds the label; all fields are big-endian.
//!
//! | Offset | Field |
//! |---|---|
//! | 142 + 4k | tag of slice k, u16 (VTOC partition info) |
//! | 436 | `ntrks`, u16 |
//! | 438 | `nsect`, u16 |
//! | 444 + 8k | slice k: `start_cylinder` u32, `num_sectors` u32 |
//! | 508 | magic, u16 = `0xDABE` |
//!
//! The XOR of all 256 16-bit words of the block must be 0; otherwise `Corrupted Sun disk label`
//! is printed and the disk is not Sun. A valid label always yields all 8 slices (numbering is
//! fixed 1–8, empty ones keep their number). The start is `start_cylinder * nsect * ntrks` in
//! 32-bit wrapping arithmetic, as the reference computes it; the size is `num_sectors`; no
//! sector-size scaling. Then the shared containment pass runs, warning as
//! `sun_disklabel: slice %d overlaps with %d`.
//!
//! `part_type` is the slice tag as `0x%02x`.

use super::bytes::{be16, be32};
use super::contain::mark_contained;
use super::{BlockSource, Diagnostics, ProbeContext, Slice};

/// Magic at offset 508 of a Sun label.
pub const SUN_MAGIC: u16 = 0xDABE;

/// Offset of the magic.
const MAGIC: usize = 508;
/// Offset of `ntrks`.
const NTRKS: usize = 436;
/// Offset of `nsect`.
const NSECT: usize = 438;
/// Offset of the slice table.
const PARTITIONS: usize = 444;
/// Offset of the VTOC tag/flag table.
const INFOS: usize = 142;
/// Number of slices in a Sun label.
const NSLICES: usize = 8;

/// Reads a Sun label; an empty result means "not this format".
pub fn read(src: &dyn BlockSource, _ctx: &ProbeContext, diag: &mut Diagnostics) -> Vec<Slice> {
    let Some(block) = src.block(0) else {
        return Vec::new();
    };
    if be16(&block, MAGIC) != SUN_MAGIC {
        return Vec::new();
    }
    if checksum(&block) != 0 {
        diag.warn("Corrupted Sun disk label");
        return Vec::new();
    }
    let mut slices: Vec<Slice> = (0..NSLICES).map(|k| slice(&block, k)).collect();
    mark_contained(&mut slices, "sun_disklabel", diag);
    slices
}

/// XOR of all 16-bit words of the label block.
fn checksum(block: &[u8]) -> u16 {
    block
        .chunks_exact(2)
        .take(256)
        .fold(0, |acc, w| acc ^ u16::from_be_bytes([w[0], w[1]]))
}

/// Slice `k` of the label.
fn slice(block: &[u8], k: usize) -> Slice {
    let at = PARTITIONS + 8 * k;
    let start = be32(block, at)
        .wrapping_mul(u32::from(be16(block, NSECT)))
        .wrapping_mul(u32::from(be16(block, NTRKS)));
    let mut slice = Slice::new(u64::from(start), u64::from(be32(block, at + 4)));
    slice.part_type = Some(format!("0x{:02x}", be16(block, INFOS + 4 * k)));
    slice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::sun::{fix_checksum, label};
    use crate::testkit::{pos, run_reader};

    fn run(disk: Vec<u8>) -> (Vec<Slice>, Vec<String>) {
        run_reader(read, disk)
    }

    #[test]
    fn valid_label_gives_eight_slices() {
        let (s, w) = run(label(16, 63, &[(0, 1008), (1, 2016)]));
        assert!(w.is_empty());
        assert_eq!(s.len(), 8);
        assert_eq!(s[0].start, 0);
        assert_eq!(s[0].size, 1008);
        assert_eq!(s[1].start, 1008);
        assert_eq!(s[1].size, 2016);
        assert!(s[2..].iter().all(|x| x.size == 0));
        assert_eq!(s[1].container, None);
    }

    #[test]
    fn empty_valid_label_still_gives_eight_slices() {
        let (s, _) = run(label(16, 63, &[]));
        assert_eq!(s.len(), 8);
        assert!(s.iter().all(|x| x.size == 0));
    }

    #[test]
    fn tags_become_part_types() {
        let mut b = label(16, 63, &[(0, 10)]);
        b[INFOS + 1] = 0x02;
        b[INFOS + 4 * 2 + 1] = 0x05;
        fix_checksum(&mut b);
        let (s, _) = run(b);
        assert_eq!(s[0].part_type.as_deref(), Some("0x02"));
        assert_eq!(s[2].part_type.as_deref(), Some("0x05"));
        assert_eq!(s[1].part_type.as_deref(), Some("0x00"));
    }

    #[test]
    fn whole_disk_slice_3_contains_1_and_4() {
        // Slices 1, 3 (whole disk) and 4, in 1-based numbering.
        let parts = [(0, 1008), (0, 0), (0, 10080), (2, 2016)];
        let (s, w) = run(label(16, 63, &parts));
        assert!(w.is_empty());
        assert_eq!(s[0].container, Some(2));
        assert_eq!(s[2].container, None);
        assert_eq!(s[3].container, Some(2));
        assert_eq!(s[3].start, 2016);
    }

    #[test]
    fn overlap_warns() {
        let (s, w) = run(label(1, 10, &[(0, 100), (5, 100)]));
        assert_eq!(
            w,
            vec!["sun_disklabel: slice 0 overlaps with 1".to_string()]
        );
        assert_eq!(pos(&s)[..2], [(0, 0), (50, 100)]);
    }

    #[test]
    fn start_wraps_in_32_bits() {
        let (s, _) = run(label(256, 256, &[(0x0001_0001, 5)]));
        // 0x10001 * 65536 = 0x1_0001_0000, wrapped to 0x0001_0000.
        assert_eq!(s[0].start, 0x0001_0000);
    }

    #[test]
    fn corrupted_checksum_warns_and_is_not_sun() {
        let mut b = label(16, 63, &[(0, 1008)]);
        b[100] ^= 0x40;
        let (s, w) = run(b);
        assert!(s.is_empty());
        assert_eq!(w, vec!["Corrupted Sun disk label".to_string()]);
    }

    #[test]
    fn missing_magic_is_silently_not_sun() {
        let mut b = label(16, 63, &[(0, 1008)]);
        b[MAGIC] = 0;
        let (s, w) = run(b);
        assert!(s.is_empty());
        assert!(w.is_empty());
        assert!(run(vec![0u8; 512]).0.is_empty());
    }

    #[test]
    fn truncated_and_garbage_inputs_do_not_panic() {
        let b = label(u16::MAX, u16::MAX, &[(u32::MAX, u32::MAX); 8]);
        for len in [0usize, 1, 2, 100, 509, 510, 511] {
            assert!(run(b[..len].to_vec()).0.is_empty());
        }
        assert_eq!(run(b).0.len(), 8);
        let mut seed = 7u32;
        for _ in 0..200 {
            let mut d: Vec<u8> = (0..512)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            d[MAGIC..MAGIC + 2].copy_from_slice(&SUN_MAGIC.to_be_bytes());
            fix_checksum(&mut d);
            assert_eq!(run(d).0.len(), 8);
        }
    }
}
