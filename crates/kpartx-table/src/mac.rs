//! Apple partition map reader.
//!
//! Block 0 is the driver descriptor: signature `ER` (BE16 `0x4552`) at 0 and the map's block
//! size `bs` (BE16) at 2. Partition map entry k (1-based) starts at byte `k × bs`; all fields
//! are big-endian:
//!
//! | Entry offset | Field |
//! |---|---|
//! | 0 | signature `PM` (`0x504D`) |
//! | 4 | `map_count`, u32 (taken from entry 1) |
//! | 8 | `start_block`, u32 |
//! | 12 | `block_count`, u32 |
//! | 16 | name, 32 bytes, NUL-terminated |
//! | 48 | type, 32 bytes, NUL-terminated |
//!
//! If entry 1 lacks `PM` the disk is not mac. Entries 1..=min(map_count, 256) are read, stopping
//! at the first one without `PM`. Every entry becomes a slice, including the partition map
//! itself and free space: start = `start_block × (bs/512)`, size = `block_count × (bs/512)`.
//! `part_type` is the type string (`Apple_HFS`, …) and `label` the name, when not empty.
//!
//! # Deliberate differences
//!
//! * The reference multiplies in 32 bits, so a start or size times (block size / 512) that
//!   exceeds 32 bits wraps; we compute in 64 bits. Valid maps on disks below 2 TiB never reach
//!   that, but a corrupt entry count can, even on a small image.
//! * An entry that cannot be read (past the end of the device) ends the map, like an entry
//!   without `PM`.

use super::bytes::{be16, be32};
use super::{BlockSource, Diagnostics, MAX_SLICES, ProbeContext, Slice};

/// Signature of the driver descriptor in block 0 (`ER`).
pub const DRIVER_MAGIC: u16 = 0x4552;
/// Signature of a partition map entry (`PM`).
pub const PARTITION_MAGIC: u16 = 0x504D;

/// Reads an Apple partition map; an empty result means "not this format".
pub fn read(src: &dyn BlockSource, _ctx: &ProbeContext, _diag: &mut Diagnostics) -> Vec<Slice> {
    let Some(block0) = src.block(0) else {
        return Vec::new();
    };
    if be16(&block0, 0) != DRIVER_MAGIC {
        return Vec::new();
    }
    let bs = u64::from(be16(&block0, 2));
    let Some(first) = entry(src, bs, 1) else {
        return Vec::new();
    };
    let count = u64::from(be32(&first, 4)).min(MAX_SLICES as u64);
    let scale = bs / 512;
    let mut slices = Vec::new();
    for k in 1..=count {
        match entry(src, bs, k) {
            Some(e) => slices.push(slice(&e, scale)),
            None => break,
        }
    }
    slices
}

/// The bytes of entry `k` (from its start to the end of its 512-byte block), if it carries `PM`.
fn entry(src: &dyn BlockSource, bs: u64, k: u64) -> Option<Vec<u8>> {
    let pos = bs.checked_mul(k)?;
    let block = src.block(pos / 512)?;
    let at = usize::try_from(pos % 512).ok()?;
    let e = block.get(at..)?.to_vec();
    (be16(&e, 0) == PARTITION_MAGIC).then_some(e)
}

/// The slice an entry describes, with its name and type.
fn slice(e: &[u8], scale: u64) -> Slice {
    let mut slice = Slice::new(
        u64::from(be32(e, 8)).saturating_mul(scale),
        u64::from(be32(e, 12)).saturating_mul(scale),
    );
    slice.label = c_string(e, 16);
    slice.part_type = c_string(e, 48);
    slice
}

/// The NUL-terminated string in the 32 bytes at `at`; `None` when empty.
fn c_string(e: &[u8], at: usize) -> Option<String> {
    let field = e.get(at..).unwrap_or_default();
    let field = &field[..field.len().min(32)];
    let text = field.split(|&b| b == 0).next().unwrap_or_default();
    (!text.is_empty()).then(|| String::from_utf8_lossy(text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;
    use crate::testkit::pos;

    /// (start, count, name, type) per entry.
    type Entry<'a> = (u32, u32, &'a str, &'a str);

    fn disk(bs: u16, map_count: u32, entries: &[Entry], len: usize) -> Vec<u8> {
        let mut d = vec![0u8; len];
        d[0..2].copy_from_slice(&DRIVER_MAGIC.to_be_bytes());
        d[2..4].copy_from_slice(&bs.to_be_bytes());
        for (i, &(start, count, name, kind)) in entries.iter().enumerate() {
            let at = (i + 1) * usize::from(bs);
            d[at..at + 2].copy_from_slice(&PARTITION_MAGIC.to_be_bytes());
            d[at + 4..at + 8].copy_from_slice(&map_count.to_be_bytes());
            d[at + 8..at + 12].copy_from_slice(&start.to_be_bytes());
            d[at + 12..at + 16].copy_from_slice(&count.to_be_bytes());
            d[at + 16..at + 16 + name.len()].copy_from_slice(name.as_bytes());
            d[at + 48..at + 48 + kind.len()].copy_from_slice(kind.as_bytes());
        }
        d
    }

    fn run_with(disk: Vec<u8>, sector_size: u32) -> Vec<Slice> {
        let mut diag = Diagnostics::default();
        let src = MemSource::with_sector_size(disk, sector_size);
        let s = read(&src, &ProbeContext::default(), &mut diag);
        assert!(diag.lines().is_empty());
        s
    }

    fn run(disk: Vec<u8>) -> Vec<Slice> {
        run_with(disk, 512)
    }

    #[test]
    fn reads_every_entry_with_names_and_types() {
        let entries = [
            (1, 63, "Apple", "Apple_partition_map"),
            (64, 1000, "disk image", "Apple_HFS"),
            (1064, 100, "", "Apple_Free"),
        ];
        let s = run(disk(512, 3, &entries, 1 << 20));
        assert_eq!(pos(&s), vec![(1, 63), (64, 1000), (1064, 100)]);
        assert_eq!(s[0].part_type.as_deref(), Some("Apple_partition_map"));
        assert_eq!(s[0].label.as_deref(), Some("Apple"));
        assert_eq!(s[1].label.as_deref(), Some("disk image"));
        assert_eq!(s[1].part_type.as_deref(), Some("Apple_HFS"));
        assert_eq!(s[2].label, None);
        assert!(s.iter().all(|x| x.container.is_none()));
    }

    #[test]
    fn block_size_2048_scales_by_4() {
        let entries = [
            (1, 63, "Apple", "Apple_partition_map"),
            (64, 10, "x", "Apple_HFS"),
        ];
        let s = run_with(disk(2048, 2, &entries, 1 << 20), 2048);
        assert_eq!(pos(&s), vec![(4, 252), (256, 40)]);
    }

    #[test]
    fn map_count_from_entry_1_limits_the_walk() {
        let entries = [(1, 3, "", "a"), (4, 3, "", "b"), (7, 3, "", "c")];
        assert_eq!(run(disk(512, 2, &entries, 1 << 16)).len(), 2);
        assert!(run(disk(512, 0, &entries, 1 << 16)).is_empty());
    }

    #[test]
    fn stops_at_first_entry_without_pm() {
        let entries = [(1, 3, "", "a"), (4, 3, "", "b"), (7, 3, "", "c")];
        let mut d = disk(512, 3, &entries, 1 << 16);
        d[2 * 512] = 0;
        assert_eq!(pos(&run(d)), vec![(1, 3)]);
    }

    #[test]
    fn walk_is_capped_at_256_entries() {
        let entries: Vec<Entry> = (0..300).map(|k| (k, 1, "", "t")).collect();
        assert_eq!(run(disk(512, 1000, &entries, 302 * 512)).len(), MAX_SLICES);
    }

    #[test]
    fn entry_past_the_end_stops_the_walk() {
        let entries = [(1, 3, "", "a"), (4, 3, "", "b")];
        let d = disk(512, 100, &entries, 3 * 512);
        assert_eq!(run(d).len(), 2);
    }

    #[test]
    fn not_mac_without_signatures() {
        let entries = [(1, 63, "", "Apple_partition_map")];
        let mut d = disk(512, 1, &entries, 4096);
        d[0] = 0;
        assert!(run(d).is_empty());
        let mut d = disk(512, 1, &entries, 4096);
        d[512] = 0;
        assert!(run(d).is_empty());
        assert!(run(vec![0u8; 4096]).is_empty());
    }

    #[test]
    fn odd_block_sizes_do_not_panic() {
        for bs in [0u16, 1, 100, 511, 513, 1000, 65535] {
            let mut d = vec![0u8; 1 << 18];
            d[0..2].copy_from_slice(&DRIVER_MAGIC.to_be_bytes());
            d[2..4].copy_from_slice(&bs.to_be_bytes());
            for k in 1..4usize {
                let at = k * usize::from(bs);
                if at + 16 <= d.len() {
                    d[at..at + 2].copy_from_slice(&PARTITION_MAGIC.to_be_bytes());
                    d[at + 4..at + 8].copy_from_slice(&u32::MAX.to_be_bytes());
                    d[at + 8..at + 16].copy_from_slice(&[0xFF; 8]);
                }
            }
            let s = run(d);
            assert!(s.len() <= MAX_SLICES);
        }
    }

    #[test]
    fn truncated_inputs_do_not_panic() {
        let d = disk(512, 2, &[(1, 63, "a", "b"), (64, 9, "c", "d")], 2048);
        for len in [0usize, 2, 511, 512, 600, 1023] {
            assert!(run(d[..len].to_vec()).is_empty());
        }
    }
}
