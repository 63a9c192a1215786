//! IBM DASD (s390) label reader: CMS1, LNX1, VOL1 and unlabeled disks.
//!
//! The reader is a pure function of the device bytes and a [`DasdDevice`] describing what the
//! caller learnt about the device (whether it is a DASD, a DM map over one, `BIODASDINFO` and
//! `HDIO_GETGEO` results). The defaults describe an image or loop device, which the reference
//! also treats as an ECKD DASD with its volume label in block 2.
//!
//! Rules, as in the reference:
//!
//! * A DM map whose first dependency is not a DASD (major 94) is not DASD.
//! * Without `BIODASDINFO`: label block 2, no FBA layout, type ECKD.
//! * Without `HDIO_GETGEO`: 15 heads, the 3390 records per track for the block size as sectors
//!   (49, 33, 21, 12 for 512, 1024, 2048, 4096 bytes), and `size / (bs × heads × sectors)`
//!   cylinders capped at `0xFFFE`.
//! * The block size (`src.sector_size()`) must be 512..=4096.
//! * One block is read at `label_block × bs`. For ECKD layouts it is the volume label as is;
//!   otherwise it is shifted by 4 bytes (the label key is missing). Bytes 4..8 of the label,
//!   EBCDIC, give its type.
//! * `CMS1`: the label as u32 words; `bs' = w4`; a reserved minidisk (`w14 != 0`) starts at
//!   block `w14` and spans `w8 − 1` blocks, otherwise it starts at `label_block + 1` and spans
//!   `w8` blocks (all in `bs'` units). One slice: `start = offset × bs'/512`, `size = size − start`.
//! * `VOL1` (ECKD layout only): the DSCBs are read one block at a time from the block after the
//!   VTOC address (`CCHHB` at label offset 15). Format 4, 5, 7 and 9 DSCBs are skipped; format 1
//!   and 8 DSCBs give one slice each from their first extent (lower limit at +107, upper limit at
//!   +111); any other format ends the walk. Cylinder numbers use the large-volume encoding
//!   `cyl = ((hh & 0xFFF0) << 12) | cc`, `head = hh & 0xF`. `size = upper − lower + sectors`.
//! * `LNX1`: the formatted size is `formatted_blocks` (u64 at label offset 84) when
//!   `ldl_version` (offset 83) is `0xF2`, else `cylinders × heads × sectors` for an ECKD device,
//!   else the disk size; the smaller of it and the disk size is used.
//! * Any other label: accepted as unlabeled only when the device's own major is 94, with the
//!   disk size. LNX1 and unlabeled give one slice at `(label_block + 1) × bs/512`, of
//!   `size − start` sectors.
//!
//! Fields the reference reads in host byte order (the CMS1 words, `formatted_blocks`, the
//! `CCHHB`/`CCHH` addresses) are read little-endian, matching an x86_64 build.
//!
//! # Deliberate differences
//!
//! * No device access: the facts above come in through [`DasdDevice`].
//! * The VOL1 walk is bounded: at most [`MAX_SLICES`] slices and [`MAX_DSCB_READS`] reads, and
//!   it stops at the first block that cannot be read (the reference keeps re-parsing a stale
//!   buffer at the end of the device and can loop forever).
//! * A label block that cannot be read means "not DASD" (the reference would parse an
//!   uninitialised buffer after a short read).
//! * Arithmetic on nonsense values saturates instead of wrapping (a size below the start gives a
//!   0-sized slice rather than a huge one).
//! * `formatted_blocks` is counted in device blocks and scaled by `bs/512` like every other block
//!   count here (identical for 512-byte blocks).

use super::bytes::{byte, le16, le32, le64};
use super::{BlockSource, Diagnostics, MAX_SLICES, ProbeContext, Slice};

/// Major number of IBM DASD block devices.
pub const DASD_MAJOR: u32 = 94;
/// Cylinder count cap for the fallback geometry (`LV_COMPAT_CYL`).
pub const LV_COMPAT_CYL: u64 = 0xFFFE;
/// Upper bound on the DSCB blocks one VOL1 walk reads.
pub const MAX_DSCB_READS: u64 = MAX_SLICES as u64 * 4;

/// `CMS1` in EBCDIC.
const CMS1: [u8; 4] = [0xC3, 0xD4, 0xE2, 0xF1];
/// `LNX1` in EBCDIC.
const LNX1: [u8; 4] = [0xD3, 0xD5, 0xE7, 0xF1];
/// `VOL1` in EBCDIC.
const VOL1: [u8; 4] = [0xE5, 0xD6, 0xD3, 0xF1];

/// What the `BIODASDINFO` ioctl reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DasdInfo {
    /// Block number of the volume label.
    pub label_block: u32,
    /// The device uses the FBA layout (label without its 4-byte key).
    pub fba_layout: bool,
    /// The discipline is ECKD (`type` is `"ECKD"`).
    pub eckd: bool,
}

impl Default for DasdInfo {
    /// The reference's fallback when `BIODASDINFO` fails: label block 2, no FBA layout, ECKD.
    fn default() -> Self {
        DasdInfo {
            label_block: 2,
            fba_layout: false,
            eckd: true,
        }
    }
}

/// What the `HDIO_GETGEO` ioctl reported (field widths as in `struct hd_geometry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DasdGeometry {
    /// Tracks per cylinder.
    pub heads: u8,
    /// Blocks per track.
    pub sectors: u8,
    /// Number of cylinders.
    pub cylinders: u16,
}

/// What the DASD reader may know about the device beyond its bytes.
///
/// The default describes an image or loop device: not a DASD, not a DM map, no `BIODASDINFO`
/// and no `HDIO_GETGEO`, so the reference's fallbacks apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DasdDevice {
    /// Major number of the probed device itself (94 for a DASD).
    pub major: u32,
    /// The probed device is a device-mapper map.
    pub is_dm_map: bool,
    /// For a DM map: major number of its first dependency (`None` when it has none).
    pub first_dep_major: Option<u32>,
    /// `BIODASDINFO` result of the queried device, if the ioctl succeeded.
    pub info: Option<DasdInfo>,
    /// `HDIO_GETGEO` result of the queried device, if the ioctl succeeded.
    pub geometry: Option<DasdGeometry>,
}

/// Geometry in the width the computations need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    heads: u64,
    sectors: u64,
    cylinders: u64,
}

impl From<DasdGeometry> for Geometry {
    fn from(g: DasdGeometry) -> Self {
        Geometry {
            heads: u64::from(g.heads),
            sectors: u64::from(g.sectors),
            cylinders: u64::from(g.cylinders),
        }
    }
}

/// Everything the label parsers need about the device.
struct Device<'a> {
    src: &'a dyn BlockSource,
    info: DasdInfo,
    bs: u64,
    geo: Geometry,
    /// Device size in 512-byte sectors.
    disk_sectors: u64,
}

impl Device<'_> {
    /// `bs / 512`: 512-byte sectors per device block.
    fn scale(&self) -> u64 {
        self.bs / 512
    }

    /// The ECKD layout: label with its key, VOL1 allowed.
    fn eckd_layout(&self) -> bool {
        !self.info.fba_layout && self.info.eckd
    }

    /// Reads device block `n`.
    fn block(&self, n: u64) -> Option<Vec<u8>> {
        self.src
            .read_at(n.checked_mul(self.bs)?, usize::try_from(self.bs).ok()?)
    }
}

/// Reads a DASD label; an empty result means "not this format".
pub fn read(src: &dyn BlockSource, ctx: &ProbeContext, _diag: &mut Diagnostics) -> Vec<Slice> {
    let facts = &ctx.dasd;
    if facts.is_dm_map && facts.first_dep_major != Some(DASD_MAJOR) {
        return Vec::new();
    }
    let bs = u64::from(src.sector_size());
    if !(512..=4096).contains(&bs) {
        return Vec::new();
    }
    let dev = Device {
        src,
        info: facts.info.clone().unwrap_or_default(),
        bs,
        geo: facts
            .geometry
            .map(Geometry::from)
            .unwrap_or_else(|| fallback_geometry(bs, src.size_bytes())),
        disk_sectors: src.size_bytes() >> 9,
    };
    let Some(label) = volume_label(&dev) else {
        return Vec::new();
    };
    match label.get(4..8) {
        Some(t) if t == CMS1 => cms1(&dev, &label),
        Some(t) if t == VOL1 && dev.eckd_layout() => vol1(&dev, &label),
        Some(t) if t == LNX1 => linux(&dev, lnx1_size(&dev, &label)),
        _ if facts.major == DASD_MAJOR => linux(&dev, dev.disk_sectors),
        _ => Vec::new(),
    }
}

/// Records per track of a 3390 for the block size (the IBM track capacity formula).
pub fn recs_per_track_3390(bs: u64) -> u64 {
    let dn = (bs + 6).div_ceil(232) + 1;
    1729 / (10 + 9 + (bs + 6 * dn).div_ceil(34))
}

/// The geometry the reference assumes when `HDIO_GETGEO` fails.
fn fallback_geometry(bs: u64, size_bytes: u64) -> Geometry {
    let heads = 15;
    let sectors = recs_per_track_3390(bs);
    let per_cyl = bs.saturating_mul(heads * sectors).max(1);
    Geometry {
        heads,
        sectors,
        cylinders: (size_bytes / per_cyl).min(LV_COMPAT_CYL),
    }
}

/// The volume label as the reference lays it out: with its 4-byte key first.
fn volume_label(dev: &Device) -> Option<Vec<u8>> {
    let data = dev.block(u64::from(dev.info.label_block))?;
    if dev.eckd_layout() {
        return Some(data);
    }
    let mut label = vec![0u8; 4];
    label.extend_from_slice(&data[..data.len().saturating_sub(4)]);
    Some(label)
}

/// A CMS-formatted minidisk: one slice.
fn cms1(dev: &Device, label: &[u8]) -> Vec<Slice> {
    let word = |n: usize| u64::from(le32(label, 4 * n));
    let scale = word(4) / 512;
    let (offset, blocks) = match word(14) {
        0 => (u64::from(dev.info.label_block) + 1, word(8)),
        reserved => (reserved, word(8).saturating_sub(1)),
    };
    let start = offset.saturating_mul(scale);
    let size = blocks.saturating_mul(scale);
    vec![Slice::new(start, size.saturating_sub(start))]
}

/// The usable size of an LNX1 (LDL) disk in 512-byte sectors.
fn lnx1_size(dev: &Device, label: &[u8]) -> u64 {
    let formatted = if byte(label, 83) == 0xF2 {
        le64(label, 84).saturating_mul(dev.scale())
    } else if dev.info.eckd {
        let g = dev.geo;
        g.cylinders * g.heads * g.sectors * dev.scale()
    } else {
        dev.disk_sectors
    };
    formatted.min(dev.disk_sectors)
}

/// LNX1 or unlabeled: one slice after the label block, up to `size`.
fn linux(dev: &Device, size: u64) -> Vec<Slice> {
    let start = (u64::from(dev.info.label_block) + 1) * dev.scale();
    vec![Slice::new(start, size.saturating_sub(start))]
}

/// Block number of a cylinder/head address (large-volume encoding), without the record.
pub fn cchh_to_block(cc: u16, hh: u16, heads: u64, sectors: u64) -> u64 {
    let cyl = (u64::from(hh & 0xFFF0) << 12) | u64::from(cc);
    let head = u64::from(hh & 0x000F);
    cyl.saturating_mul(heads)
        .saturating_mul(sectors)
        .saturating_add(head.saturating_mul(sectors))
}

/// Block number of the `CCHH` address at `at` in `buf`.
fn cchh_at(dev: &Device, buf: &[u8], at: usize) -> u64 {
    cchh_to_block(
        le16(buf, at),
        le16(buf, at + 2),
        dev.geo.heads,
        dev.geo.sectors,
    )
}

/// What one DSCB means for the walk.
enum Dscb {
    /// Format 4, 5, 7 or 9: not a data set, keep going.
    Skip,
    /// Format 1 or 8: a data set, one slice.
    DataSet(Slice),
    /// Anything else: the end of the VTOC.
    End,
}

/// A VOL1 (CDL) disk: one slice per format 1/8 DSCB.
fn vol1(dev: &Device, label: &[u8]) -> Vec<Slice> {
    let Some(first) = cchh_at(dev, label, 15)
        .checked_add(u64::from(byte(label, 19)))
        .and_then(|b| b.checked_add(1))
    else {
        return Vec::new();
    };
    let mut slices = Vec::new();
    for n in 0..MAX_DSCB_READS {
        if slices.len() >= MAX_SLICES {
            break;
        }
        let Some(data) = first.checked_add(n).and_then(|b| dev.block(b)) else {
            break;
        };
        match dscb(dev, &data) {
            Dscb::Skip => continue,
            Dscb::DataSet(slice) => slices.push(slice),
            Dscb::End => break,
        }
    }
    slices
}

/// Classifies one DSCB block and, for data sets, computes the slice of its first extent.
fn dscb(dev: &Device, data: &[u8]) -> Dscb {
    match byte(data, 44) {
        0xF4 | 0xF5 | 0xF7 | 0xF9 => Dscb::Skip,
        0xF1 | 0xF8 => {
            let lower = cchh_at(dev, data, 107);
            let upper = cchh_at(dev, data, 111);
            let blocks = upper.saturating_add(dev.geo.sectors).saturating_sub(lower);
            Dscb::DataSet(Slice::new(
                lower.saturating_mul(dev.scale()),
                blocks.saturating_mul(dev.scale()),
            ))
        }
        _ => Dscb::End,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;
    use crate::testkit::pos;

    const MIB: usize = 1 << 20;

    fn run_ctx(disk: Vec<u8>, bs: u32, dasd: DasdDevice) -> Vec<Slice> {
        let ctx = ProbeContext {
            dasd,
            ..ProbeContext::default()
        };
        let mut diag = Diagnostics::default();
        let s = read(&MemSource::with_sector_size(disk, bs), &ctx, &mut diag);
        assert!(diag.lines().is_empty());
        s
    }

    fn run(disk: Vec<u8>, bs: u32) -> Vec<Slice> {
        run_ctx(disk, bs, DasdDevice::default())
    }

    fn put32(d: &mut [u8], at: usize, v: u32) {
        d[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put16(d: &mut [u8], at: usize, v: u16) {
        d[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    /// A disk of `len` bytes with the given label type at bytes 4..8 of block `label_block`.
    fn labelled(len: usize, bs: usize, label_block: usize, kind: [u8; 4]) -> Vec<u8> {
        let mut d = vec![0u8; len];
        let at = label_block * bs;
        d[at + 4..at + 8].copy_from_slice(&kind);
        d
    }

    fn cms1_disk(len: usize, bs: usize, cms_bs: u32, blocks: u32, reserved: u32) -> Vec<u8> {
        let mut d = labelled(len, bs, 2, CMS1);
        put32(&mut d, 2 * bs + 16, cms_bs);
        put32(&mut d, 2 * bs + 32, blocks);
        put32(&mut d, 2 * bs + 56, reserved);
        d
    }

    #[test]
    fn default_device_describes_an_image() {
        let d = DasdDevice::default();
        assert_ne!(d.major, DASD_MAJOR);
        assert!(!d.is_dm_map && d.info.is_none() && d.geometry.is_none());
        let info = DasdInfo::default();
        assert_eq!(info.label_block, 2);
        assert!(!info.fba_layout && info.eckd);
    }

    #[test]
    fn records_per_track_match_the_3390() {
        assert_eq!(recs_per_track_3390(512), 49);
        assert_eq!(recs_per_track_3390(1024), 33);
        assert_eq!(recs_per_track_3390(2048), 21);
        assert_eq!(recs_per_track_3390(4096), 12);
    }

    #[test]
    fn fallback_geometry_caps_cylinders() {
        let g = fallback_geometry(512, 64 << 20);
        assert_eq!((g.heads, g.sectors, g.cylinders), (15, 49, 178));
        assert_eq!(fallback_geometry(512, u64::MAX).cylinders, LV_COMPAT_CYL);
    }

    #[test]
    fn lnx1_on_64_mib_image() {
        let d = labelled(64 * MIB, 512, 2, LNX1);
        assert_eq!(pos(&run(d, 512)), vec![(3, 130_827)]);
    }

    #[test]
    fn cms1_on_64_mib_image() {
        let d = cms1_disk(64 * MIB, 512, 512, 131_072, 0);
        assert_eq!(pos(&run(d, 512)), vec![(3, 131_069)]);
    }

    #[test]
    fn cms1_block_size_scales() {
        let d = cms1_disk(MIB, 512, 4096, 100, 0);
        assert_eq!(pos(&run(d, 512)), vec![(24, 776)]);
    }

    #[test]
    fn cms1_reserved_minidisk() {
        let d = cms1_disk(MIB, 512, 4096, 1000, 10);
        assert_eq!(pos(&run(d, 512)), vec![(80, 999 * 8 - 80)]);
    }

    #[test]
    fn cms1_nonsense_values_saturate() {
        let d = cms1_disk(MIB, 512, 100, 0, 5);
        assert_eq!(pos(&run(d, 512)), vec![(0, 0)]);
        let d = cms1_disk(MIB, 512, u32::MAX, u32::MAX, u32::MAX);
        assert_eq!(run(d, 512).len(), 1);
    }

    #[test]
    fn lnx1_ldl_formatted_blocks() {
        let mut d = labelled(MIB, 512, 2, LNX1);
        d[1024 + 83] = 0xF2;
        d[1024 + 84..1024 + 92].copy_from_slice(&1000u64.to_le_bytes());
        assert_eq!(pos(&run(d.clone(), 512)), vec![(3, 997)]);
        // More than the disk holds: the disk size wins.
        d[1024 + 84..1024 + 92].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(pos(&run(d, 512)), vec![(3, 2045)]);
    }

    #[test]
    fn lnx1_with_4096_byte_blocks() {
        let mut d = labelled(4 * MIB, 4096, 2, LNX1);
        d[8192 + 83] = 0xF2;
        d[8192 + 84..8192 + 92].copy_from_slice(&1000u64.to_le_bytes());
        assert_eq!(pos(&run(d, 4096)), vec![(24, 8000 - 24)]);
        // Fallback ECKD geometry: 4 MiB / (4096 × 15 × 12) = 5 cylinders.
        let d = labelled(4 * MIB, 4096, 2, LNX1);
        assert_eq!(pos(&run(d, 4096)), vec![(24, 5 * 15 * 12 * 8 - 24)]);
    }

    #[test]
    fn lnx1_uses_the_reported_geometry() {
        let d = labelled(MIB, 512, 2, LNX1);
        let dev = DasdDevice {
            geometry: Some(DasdGeometry {
                heads: 2,
                sectors: 10,
                cylinders: 20,
            }),
            ..DasdDevice::default()
        };
        assert_eq!(pos(&run_ctx(d, 512, dev)), vec![(3, 397)]);
    }

    #[test]
    fn lnx1_fba_layout_is_shifted_and_uses_disk_size() {
        let mut d = vec![0u8; MIB];
        d[512..516].copy_from_slice(&LNX1);
        let dev = DasdDevice {
            major: DASD_MAJOR,
            info: Some(DasdInfo {
                label_block: 1,
                fba_layout: true,
                eckd: false,
            }),
            ..DasdDevice::default()
        };
        assert_eq!(pos(&run_ctx(d, 512, dev)), vec![(2, 2046)]);
    }

    #[test]
    fn unlabeled_only_on_a_real_dasd() {
        assert!(run(vec![0u8; MIB], 512).is_empty());
        let dev = DasdDevice {
            major: DASD_MAJOR,
            ..DasdDevice::default()
        };
        assert_eq!(pos(&run_ctx(vec![0u8; MIB], 512, dev)), vec![(3, 2045)]);
    }

    #[test]
    fn dm_map_needs_a_dasd_dependency() {
        let d = labelled(MIB, 512, 2, LNX1);
        let mut dev = DasdDevice {
            major: 253,
            is_dm_map: true,
            first_dep_major: Some(8),
            ..DasdDevice::default()
        };
        assert!(run_ctx(d.clone(), 512, dev.clone()).is_empty());
        dev.first_dep_major = None;
        assert!(run_ctx(d.clone(), 512, dev.clone()).is_empty());
        dev.first_dep_major = Some(DASD_MAJOR);
        assert_eq!(run_ctx(d, 512, dev.clone()).len(), 1);
        // Unlabeled is judged on the map's own major, which is not 94.
        assert!(run_ctx(vec![0u8; MIB], 512, dev).is_empty());
    }

    #[test]
    fn block_size_must_be_512_to_4096() {
        let d = labelled(MIB, 256, 2, LNX1);
        assert!(run(d, 256).is_empty());
        let d = labelled(MIB, 8192, 2, LNX1);
        assert!(run(d, 8192).is_empty());
    }

    #[test]
    fn label_past_the_end_is_not_dasd() {
        assert!(run(vec![0u8; 1100], 512).is_empty());
        let dev = DasdDevice {
            major: DASD_MAJOR,
            info: Some(DasdInfo {
                label_block: u32::MAX,
                ..DasdInfo::default()
            }),
            ..DasdDevice::default()
        };
        assert!(run_ctx(vec![0u8; MIB], 512, dev).is_empty());
    }

    #[test]
    fn large_volume_cchh_decoding() {
        assert_eq!(cchh_to_block(5, 2, 15, 49), 5 * 735 + 2 * 49);
        assert_eq!(cchh_to_block(5, 0x0012, 15, 49), 0x10005 * 735 + 2 * 49);
        assert_eq!(
            cchh_to_block(u16::MAX, u16::MAX, u64::MAX, u64::MAX),
            u64::MAX
        );
    }

    /// A VOL1 disk with the VTOC at cylinder 0, head 1, record 1, and DSCB format ids and
    /// extents (format id, lower cc/hh, upper cc/hh) from block `first` on.
    fn vol1_disk(len: usize, bs: usize, first: usize, dscbs: &[(u8, [u16; 4])]) -> Vec<u8> {
        let mut d = labelled(len, bs, 2, VOL1);
        let l = 2 * bs;
        put16(&mut d, l + 15, 0);
        put16(&mut d, l + 17, 1);
        d[l + 19] = 1;
        for (n, &(id, [lc, lh, uc, uh])) in dscbs.iter().enumerate() {
            let at = (first + n) * bs;
            d[at + 44] = id;
            put16(&mut d, at + 107, lc);
            put16(&mut d, at + 109, lh);
            put16(&mut d, at + 111, uc);
            put16(&mut d, at + 113, uh);
        }
        d
    }

    #[test]
    fn vol1_walks_the_vtoc() {
        // VTOC at 0/1/1: block 0*735 + 1*49 + 1 = 50, DSCBs from block 51.
        let dscbs = [
            (0xF4, [0; 4]),
            (0xF5, [0; 4]),
            (0xF1, [0, 2, 10, 14]),
            (0xF7, [9, 9, 9, 9]),
            (0xF9, [9, 9, 9, 9]),
            (0xF8, [11, 0, 20, 14]),
            (0x00, [0, 1, 2, 3]),
            (0xF1, [30, 0, 31, 0]),
        ];
        let d = vol1_disk(MIB, 512, 51, &dscbs);
        assert_eq!(pos(&run(d, 512)), vec![(98, 7987), (8085, 7350)]);
    }

    #[test]
    fn vol1_with_4096_byte_blocks() {
        // 12 sectors per track: VTOC block 12 + 1, DSCBs from block 14.
        let d = vol1_disk(4 * MIB, 4096, 14, &[(0xF4, [0; 4]), (0xF1, [0, 2, 1, 0])]);
        assert_eq!(pos(&run(d, 4096)), vec![(24 * 8, (180 - 24 + 12) * 8)]);
    }

    #[test]
    fn vol1_other_format_ends_the_walk() {
        let d = vol1_disk(MIB, 512, 51, &[(0xF3, [0; 4]), (0xF1, [0, 2, 1, 0])]);
        assert!(run(d, 512).is_empty());
        let d = vol1_disk(MIB, 512, 51, &[(0xC1, [0; 4]), (0xF1, [0, 2, 1, 0])]);
        assert!(run(d, 512).is_empty());
    }

    #[test]
    fn vol1_needs_the_eckd_layout() {
        let d = vol1_disk(MIB, 512, 51, &[(0xF1, [0, 2, 1, 0])]);
        let fba = DasdInfo {
            fba_layout: true,
            ..DasdInfo::default()
        };
        // Shifted by 4 bytes the type is no longer at 4..8 either; make it so explicitly.
        let mut shifted = d.clone();
        shifted[1024..1028].copy_from_slice(&VOL1);
        let dev = DasdDevice {
            info: Some(fba),
            ..DasdDevice::default()
        };
        assert!(run_ctx(shifted.clone(), 512, dev.clone()).is_empty());
        // On a real DASD it is then taken as unlabeled.
        let dev = DasdDevice {
            major: DASD_MAJOR,
            ..dev
        };
        assert_eq!(pos(&run_ctx(shifted, 512, dev)), vec![(3, 2045)]);
    }

    #[test]
    fn vol1_upper_below_lower_saturates() {
        let d = vol1_disk(MIB, 512, 51, &[(0xF1, [5, 0, 1, 0])]);
        assert_eq!(pos(&run(d, 512)), vec![(5 * 735, 0)]);
    }

    #[test]
    fn vol1_stops_at_the_end_of_the_device() {
        // Every block from the VTOC to the end of the device is a format 4 DSCB: the walk ends
        // at the device end instead of re-reading the last block forever.
        let mut d = labelled(64 * 512, 512, 2, VOL1);
        d[1024 + 17] = 1;
        d[1024 + 19] = 1;
        for b in 6..64 {
            d[b * 512 + 44] = 0xF4;
        }
        // Small reported geometry: VTOC at 0*4 + 1*4 + 1 = 5, DSCBs from block 6.
        let small = DasdDevice {
            geometry: Some(DasdGeometry {
                heads: 1,
                sectors: 4,
                cylinders: 8,
            }),
            ..DasdDevice::default()
        };
        assert!(run(d.clone(), 512).is_empty());
        assert!(run_ctx(d.clone(), 512, small.clone()).is_empty());
        d[63 * 512 + 44] = 0xF1;
        assert_eq!(run(d.clone(), 512).len(), 1);
        assert_eq!(run_ctx(d, 512, small).len(), 1);
        // VTOC past the end of the device: nothing to read at all.
        let mut d = labelled(40 * 512, 512, 2, VOL1);
        d[1024 + 17] = 1;
        assert!(run(d, 512).is_empty());
    }

    #[test]
    fn vol1_is_capped() {
        // 2000 format 1 DSCBs: at most MAX_SLICES slices.
        let dscbs = vec![(0xF1, [0, 2, 1, 0]); 2000];
        let d = vol1_disk(2100 * 512, 512, 51, &dscbs);
        assert_eq!(run(d, 512).len(), MAX_SLICES);
        // 3000 skipped DSCBs followed by a data set: the read cap ends the walk first.
        let mut dscbs = vec![(0xF4, [0; 4]); 3000];
        dscbs.push((0xF1, [0, 2, 1, 0]));
        let d = vol1_disk(3100 * 512, 512, 51, &dscbs);
        assert!(run(d, 512).is_empty());
    }

    #[test]
    fn garbage_and_truncated_inputs_do_not_panic() {
        let mut seed = 99u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        };
        for round in 0..60 {
            let mut d: Vec<u8> = (0..64 * 512).map(|_| next()).collect();
            let kind = [CMS1, LNX1, VOL1][round % 3];
            d[1028..1032].copy_from_slice(&kind);
            for bs in [512u32, 1024, 2048, 4096] {
                let dev = DasdDevice {
                    major: DASD_MAJOR,
                    geometry: (round % 2 == 0).then_some(DasdGeometry {
                        heads: next(),
                        sectors: next(),
                        cylinders: u16::MAX,
                    }),
                    ..DasdDevice::default()
                };
                let s = run_ctx(d.clone(), bs, dev);
                assert!(s.len() <= MAX_SLICES);
            }
        }
        let d = labelled(MIB, 512, 2, LNX1);
        for len in [0usize, 511, 1024, 1027, 1100, 1535] {
            assert!(run(d[..len].to_vec(), 512).is_empty());
        }
    }
}
