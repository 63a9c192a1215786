//! BSD disklabel reader.
//!
//! The label is looked for at byte 512 (block 1) and, failing that, at byte 64 of block 0. Every
//! field is in host byte order in the reference; like an x86_64 build we read little-endian.
//!
//! | Label offset | Field |
//! |---|---|
//! | 0 | `d_magic`, u32 = `0x82564557` |
//! | 138 | `d_npartitions`, u16 |
//! | 148 + 16k | entry k: `p_size` u32 (+0), `p_offset` u32 (+4), `p_fstype` u8 (+12) |
//!
//! Up to `min(d_npartitions, 16)` entries are read. Entries with `p_fstype != 0` become slices,
//! compacted (an unused 'c' makes 'd' partition 3). Start and size are taken as 512-byte units
//! with no sector-size scaling. `d_magic2` and the checksum are not checked. Afterwards the
//! shared containment pass ([`super::contain::mark_contained`]) runs, warning as
//! `bsd_disklabel: slice %d overlaps with %d`.
//!
//! `part_type` is the decimal `p_fstype`.

use super::bytes::{byte, le16, le32};
use super::contain::mark_contained;
use super::{BlockSource, Diagnostics, MAX_SLICES, ProbeContext, Slice};

/// `d_magic` of a BSD disklabel.
pub const BSD_MAGIC: u32 = 0x8256_4557;

/// Offset of the alternative label position inside block 0.
const ALT_LABEL_OFFSET: usize = 64;
/// Offset of `d_npartitions` in the label.
const NPARTITIONS: usize = 138;
/// Offset of the partition entries in the label.
const ENTRIES: usize = 148;
/// Size of one partition entry.
const ENTRY_SIZE: usize = 16;
/// The most entries a label holds.
const MAX_PARTITIONS: usize = 16;

/// Reads a BSD disklabel; an empty result means "not this format, or no partitions".
pub fn read(src: &dyn BlockSource, _ctx: &ProbeContext, diag: &mut Diagnostics) -> Vec<Slice> {
    let Some(label) = find_label(src) else {
        return Vec::new();
    };
    let mut slices = parse_entries(&label, diag);
    mark_contained(&mut slices, "bsd_disklabel", diag);
    slices
}

/// The label bytes, starting at `d_magic`, from block 1 or else from offset 64 of block 0.
fn find_label(src: &dyn BlockSource) -> Option<Vec<u8>> {
    if let Some(block) = src.block(1)
        && le32(&block, 0) == BSD_MAGIC
    {
        return Some(block);
    }
    let block = src.block(0)?;
    (le32(&block, ALT_LABEL_OFFSET) == BSD_MAGIC).then(|| block[ALT_LABEL_OFFSET..].to_vec())
}

/// The used entries of the label, compacted, in table order.
fn parse_entries(label: &[u8], diag: &mut Diagnostics) -> Vec<Slice> {
    let count = usize::from(le16(label, NPARTITIONS)).min(MAX_PARTITIONS);
    let mut slices = Vec::new();
    for k in 0..count {
        let at = ENTRIES + k * ENTRY_SIZE;
        let fstype = byte(label, at + 12);
        if fstype == 0 {
            continue;
        }
        if slices.len() >= MAX_SLICES {
            diag.warn("bsd_partition: too many slices");
            break;
        }
        let mut slice = Slice::new(u64::from(le32(label, at + 4)), u64::from(le32(label, at)));
        slice.part_type = Some(fstype.to_string());
        slices.push(slice);
    }
    slices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;
    use crate::testkit::{self, pos, run_reader};

    /// (size, offset, fstype) per entry.
    type Entry = (u32, u32, u8);

    /// A 512-byte label block with `npartitions` = the number of entries.
    fn label(entries: &[Entry]) -> Vec<u8> {
        let mut l = testkit::bsd::label(entries.len() as u16, entries);
        l.resize(512, 0);
        l
    }

    fn disk_block1(entries: &[Entry]) -> Vec<u8> {
        let mut d = vec![0u8; 4096];
        d[512..1024].copy_from_slice(&label(entries));
        d
    }

    fn run(disk: Vec<u8>) -> (Vec<Slice>, Vec<String>) {
        run_reader(read, disk)
    }

    #[test]
    fn reads_label_in_block_1() {
        let (s, w) = run(disk_block1(&[(100, 16, 7), (50, 116, 1)]));
        assert!(w.is_empty());
        assert_eq!(pos(&s), vec![(16, 100), (116, 50)]);
        assert_eq!(s[0].part_type.as_deref(), Some("7"));
        assert_eq!(s[1].part_type.as_deref(), Some("1"));
        assert!(s.iter().all(|x| x.container.is_none()));
    }

    #[test]
    fn reads_label_at_offset_64_of_block_0() {
        let mut d = vec![0u8; 4096];
        let l = label(&[(100, 16, 7)]);
        d[64..512].copy_from_slice(&l[..448]);
        let (s, _) = run(d);
        assert_eq!(pos(&s), vec![(16, 100)]);
    }

    #[test]
    fn block_1_label_wins_over_block_0() {
        let mut d = disk_block1(&[(10, 1, 7)]);
        let l = label(&[(99, 2, 7)]);
        d[64..512].copy_from_slice(&l[..448]);
        let (s, _) = run(d);
        assert_eq!(pos(&s), vec![(1, 10)]);
    }

    #[test]
    fn unused_c_shifts_d_to_p3() {
        let (s, _) = run(disk_block1(&[
            (10, 0, 7),
            (10, 10, 1),
            (0, 0, 0),
            (10, 20, 7),
        ]));
        assert_eq!(pos(&s), vec![(0, 10), (10, 10), (20, 10)]);
    }

    #[test]
    fn fstype_zero_entries_are_skipped_even_with_a_size() {
        let (s, _) = run(disk_block1(&[(10, 0, 0), (10, 10, 7)]));
        assert_eq!(pos(&s), vec![(10, 10)]);
    }

    #[test]
    fn whole_disk_c_contains_the_others() {
        let (s, w) = run(disk_block1(&[
            (100, 10, 7),
            (200, 110, 1),
            (1000, 0, 7),
            (50, 400, 7),
        ]));
        assert!(w.is_empty());
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].container, Some(2));
        assert_eq!(s[1].container, Some(2));
        assert_eq!(s[2].container, None);
        assert_eq!(s[3].container, Some(2));
    }

    #[test]
    fn overlap_warns_and_disables() {
        let (s, w) = run(disk_block1(&[(100, 0, 7), (100, 50, 7)]));
        assert_eq!(
            w,
            vec!["bsd_disklabel: slice 0 overlaps with 1".to_string()]
        );
        assert_eq!(pos(&s), vec![(0, 0), (50, 100)]);
    }

    #[test]
    fn npartitions_limits_and_caps_at_16() {
        let mut d = disk_block1(&[(10, 0, 7), (10, 10, 7)]);
        d[512 + NPARTITIONS] = 1;
        assert_eq!(run(d).0.len(), 1);
        let many: Vec<Entry> = (0..16).map(|k| (1, k, 7)).collect();
        let mut d = disk_block1(&many);
        d[512 + NPARTITIONS] = 200;
        // Entry 16 would lie at 148 + 256; make it look used to prove it is not read.
        d[512 + ENTRIES + 16 * ENTRY_SIZE + 12] = 7;
        d[512 + ENTRIES + 16 * ENTRY_SIZE] = 1;
        assert_eq!(run(d).0.len(), 16);
    }

    #[test]
    fn no_sector_size_scaling() {
        let d = disk_block1(&[(100, 16, 7)]);
        let mut diag = Diagnostics::default();
        let src = MemSource::with_sector_size(d, 4096);
        let s = read(&src, &ProbeContext::default(), &mut diag);
        assert_eq!(pos(&s), vec![(16, 100)]);
    }

    #[test]
    fn missing_magic_is_not_bsd() {
        let mut d = disk_block1(&[(100, 16, 7)]);
        d[512] ^= 1;
        assert!(run(d).0.is_empty());
        assert!(run(vec![0u8; 4096]).0.is_empty());
    }

    #[test]
    fn big_endian_magic_is_not_bsd() {
        let mut d = disk_block1(&[(100, 16, 7)]);
        d[512..516].copy_from_slice(&BSD_MAGIC.to_be_bytes());
        assert!(run(d).0.is_empty());
    }

    #[test]
    fn truncated_and_garbage_inputs_do_not_panic() {
        for len in [0usize, 1, 64, 67, 68, 100, 511, 512, 515, 516, 700, 1023] {
            let mut d = disk_block1(&[(u32::MAX, u32::MAX, 255); 16]);
            d[64..68].copy_from_slice(&BSD_MAGIC.to_le_bytes());
            d.truncate(len);
            let _ = run(d);
        }
        let mut seed = 0x1234_5678u32;
        for _ in 0..200 {
            let mut d: Vec<u8> = (0..1024)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            d[512..516].copy_from_slice(&BSD_MAGIC.to_le_bytes());
            let (s, _) = run(d);
            assert!(s.len() <= MAX_PARTITIONS);
        }
    }
}
