//! Solaris x86 VTOC reader.
//!
//! The VTOC lives in block 1 (byte 512), in the real on-disk (ILP32) layout, little-endian:
//!
//! | Offset | Field |
//! |---|---|
//! | 12 | `v_sanity`, u32 = `0x600DDEEE` |
//! | 16 | `v_version`, u32, must be 1 |
//! | 30 | `v_nparts`, u16 |
//! | 72 + 12k | slice k: tag u16, flag u16, start u32, size u32 |
//!
//! A version other than 1 prints `Cannot handle solaris version N vtoc` and the disk is not
//! Solaris. Eight slices are read, or sixteen when `v_nparts > 8` (as the Linux kernel does).
//! Size-0 slices are skipped and the rest compacted; start and size are 512-byte units with no
//! sector-size scaling. `part_type` is the tag as `0x%02x`.
//!
//! # Deliberate difference
//!
//! The reference overlays a C struct that uses `long`, so on x86_64 it only recognises a layout
//! with the sanity word at offset 24 (and slices of 16 bytes at 136), which no Solaris system
//! writes; the real ILP32 VTOC is not recognised there. We read the real on-disk layout instead
//! and do not emulate the x86_64-only one.

use super::bytes::{le16, le32};
use super::{BlockSource, Diagnostics, MAX_SLICES, ProbeContext, Slice};

/// `v_sanity` of a Solaris VTOC.
pub const SOLARIS_SANITY: u32 = 0x600D_DEEE;

/// Offset of `v_sanity`.
const SANITY: usize = 12;
/// Offset of `v_version`.
const VERSION: usize = 16;
/// Offset of `v_nparts`.
const NPARTS: usize = 30;
/// Offset of the slice table.
const SLICES: usize = 72;
/// Size of one slice entry.
const SLICE_SIZE: usize = 12;

/// Reads a Solaris x86 VTOC; an empty result means "not this format, or no partitions".
pub fn read(src: &dyn BlockSource, _ctx: &ProbeContext, diag: &mut Diagnostics) -> Vec<Slice> {
    let Some(vtoc) = src.block(1) else {
        return Vec::new();
    };
    if le32(&vtoc, SANITY) != SOLARIS_SANITY {
        return Vec::new();
    }
    let version = le32(&vtoc, VERSION);
    if version != 1 {
        diag.warn(format!("Cannot handle solaris version {version} vtoc"));
        return Vec::new();
    }
    let count = if le16(&vtoc, NPARTS) > 8 { 16 } else { 8 };
    let mut slices = Vec::new();
    for k in 0..count {
        let at = SLICES + k * SLICE_SIZE;
        let size = le32(&vtoc, at + 8);
        if size == 0 {
            continue;
        }
        if slices.len() >= MAX_SLICES {
            diag.warn("solaris_x86_partition: too many slices");
            break;
        }
        let mut slice = Slice::new(u64::from(le32(&vtoc, at + 4)), u64::from(size));
        slice.part_type = Some(format!("0x{:02x}", le16(&vtoc, at)));
        slices.push(slice);
    }
    slices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;
    use crate::testkit::{self, pos, run_reader};

    /// A VTOC with (tag, start, size) per slice at block 1 of a 4-block disk.
    fn disk(version: u32, nparts: u16, parts: &[(u16, u32, u32)]) -> Vec<u8> {
        let mut d = vec![0u8; 2048];
        d[512..1024].copy_from_slice(&testkit::solaris::vtoc(version, nparts, parts));
        d
    }

    fn run(disk: Vec<u8>) -> (Vec<Slice>, Vec<String>) {
        run_reader(read, disk)
    }

    #[test]
    fn reads_slices_and_compacts() {
        let parts = [
            (2, 100, 50),
            (0, 0, 0),
            (5, 0, 1000),
            (0, 7, 0),
            (8, 200, 10),
        ];
        let (s, w) = run(disk(1, 8, &parts));
        assert!(w.is_empty());
        assert_eq!(pos(&s), vec![(100, 50), (0, 1000), (200, 10)]);
        assert_eq!(s[0].part_type.as_deref(), Some("0x02"));
        assert_eq!(s[1].part_type.as_deref(), Some("0x05"));
        assert!(s.iter().all(|x| x.container.is_none()));
    }

    #[test]
    fn reads_16_slices_only_when_nparts_above_8() {
        let parts: Vec<(u16, u32, u32)> = (0..16).map(|k| (1, k * 10, 10)).collect();
        assert_eq!(run(disk(1, 8, &parts)).0.len(), 8);
        assert_eq!(run(disk(1, 9, &parts)).0.len(), 16);
        assert_eq!(run(disk(1, 0xFFFF, &parts)).0.len(), 16);
        assert_eq!(run(disk(1, 0, &parts)).0.len(), 8);
    }

    #[test]
    fn no_sector_size_scaling() {
        let mut diag = Diagnostics::default();
        let src = MemSource::with_sector_size(disk(1, 8, &[(2, 100, 50)]), 4096);
        let s = read(&src, &ProbeContext::default(), &mut diag);
        assert_eq!(pos(&s), vec![(100, 50)]);
    }

    #[test]
    fn wrong_version_warns_and_is_not_solaris() {
        let (s, w) = run(disk(2, 8, &[(2, 100, 50)]));
        assert!(s.is_empty());
        assert_eq!(w, vec!["Cannot handle solaris version 2 vtoc".to_string()]);
        let (_, w) = run(disk(0, 8, &[(2, 100, 50)]));
        assert_eq!(w, vec!["Cannot handle solaris version 0 vtoc".to_string()]);
    }

    #[test]
    fn missing_sanity_is_silently_not_solaris() {
        let mut d = disk(1, 8, &[(2, 100, 50)]);
        d[512 + SANITY] = 0;
        let (s, w) = run(d);
        assert!(s.is_empty() && w.is_empty());
    }

    #[test]
    fn x86_64_reference_layout_is_not_recognised() {
        let mut d = vec![0u8; 2048];
        d[512 + 24..512 + 32].copy_from_slice(&u64::from(SOLARIS_SANITY).to_le_bytes());
        d[512 + 32..512 + 40].copy_from_slice(&1u64.to_le_bytes());
        d[512 + 136 + 4..512 + 136 + 8].copy_from_slice(&16u32.to_le_bytes());
        d[512 + 136 + 8..512 + 136 + 16].copy_from_slice(&100u64.to_le_bytes());
        assert!(run(d).0.is_empty());
    }

    #[test]
    fn all_empty_is_not_solaris() {
        assert!(run(disk(1, 8, &[])).0.is_empty());
    }

    #[test]
    fn truncated_inputs_do_not_panic() {
        let d = disk(1, 16, &[(1, u32::MAX, u32::MAX); 16]);
        for len in [0usize, 511, 512, 600, 1023] {
            assert!(run(d[..len].to_vec()).0.is_empty());
        }
        assert_eq!(run(d).0.len(), 16);
    }
}
