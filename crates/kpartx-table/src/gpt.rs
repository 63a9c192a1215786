//! GUID partition table (GPT) reader.
//!
//! Reproduces the reference kpartx reader: a header is valid when its signature, header CRC,
//! own LBA, entry size and entry-array CRC all check out. The primary header (LBA 1) is preferred;
//! the alternate is looked for at the primary's `alternate_lba` and then at the last LBA. A valid
//! header is only accepted when the protective MBR is valid too, unless `-g` forces it.
//!
//! All LBAs are in logical sectors of [`BlockSource::sector_size`] bytes; the slices are scaled to
//! 512-byte units. Deliberate hardening over the reference, invisible on valid input: a
//! `header_size` outside `92..=sector size` is invalid, `num_partition_entries` above 2^20 is
//! invalid, the entry array must lie inside the device, and its CRC is computed by streaming.
//!
//! ```
//! use kpartx_table::{Diagnostics, MemSource, ProbeContext, gpt};
//!
//! // A 1 MiB disk (2048 sectors of 512 bytes) with one partition, sectors 34 to 2013.
//! let mut disk = vec![0u8; 1 << 20];
//! // Protective MBR: one entry of type 0xEE, and the 55AA signature.
//! disk[446 + 4] = 0xee;
//! disk[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
//! disk[446 + 12..446 + 16].copy_from_slice(&2047u32.to_le_bytes());
//! disk[510..512].copy_from_slice(&[0x55, 0xaa]);
//! // The partition entry array at LBA 2: 128 entries of 128 bytes, the first one used.
//! let linux_fs = [ // 0fc63daf-8483-4772-8e79-3d69d8477de4, as stored on disk
//!     0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
//!     0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4,
//! ];
//! let entry = &mut disk[1024..1024 + 128];
//! entry[0..16].copy_from_slice(&linux_fs);
//! entry[16..32].copy_from_slice(&[0x11; 16]); // unique partition GUID
//! entry[32..40].copy_from_slice(&34u64.to_le_bytes()); // first LBA
//! entry[40..48].copy_from_slice(&2013u64.to_le_bytes()); // last LBA (inclusive)
//! for (i, c) in "root".encode_utf16().enumerate() {
//!     entry[56 + 2 * i..58 + 2 * i].copy_from_slice(&c.to_le_bytes());
//! }
//! let entries_crc = crc32fast::hash(&disk[1024..1024 + 128 * 128]);
//! // The primary header at LBA 1.
//! let h = &mut disk[512..512 + 92];
//! h[0..8].copy_from_slice(b"EFI PART");
//! h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes()); // revision 1.0
//! h[12..16].copy_from_slice(&92u32.to_le_bytes()); // header size
//! h[24..32].copy_from_slice(&1u64.to_le_bytes()); // this header's LBA
//! h[32..40].copy_from_slice(&2047u64.to_le_bytes()); // the alternate header's LBA
//! h[40..48].copy_from_slice(&34u64.to_le_bytes()); // first usable LBA
//! h[48..56].copy_from_slice(&2014u64.to_le_bytes()); // last usable LBA
//! h[72..80].copy_from_slice(&2u64.to_le_bytes()); // entry array LBA
//! h[80..84].copy_from_slice(&128u32.to_le_bytes()); // number of entries
//! h[84..88].copy_from_slice(&128u32.to_le_bytes()); // entry size
//! h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
//! let header_crc = crc32fast::hash(h);
//! h[16..20].copy_from_slice(&header_crc.to_le_bytes());
//!
//! let mut diag = Diagnostics::default();
//! let slices = gpt::read(&MemSource::new(disk), &ProbeContext::default(), &mut diag);
//! assert_eq!(slices.len(), 1);
//! assert_eq!((slices[0].start, slices[0].size), (34, 1980));
//! assert_eq!(slices[0].label.as_deref(), Some("root"));
//! assert_eq!(
//!     slices[0].part_type.as_deref(),
//!     Some("0fc63daf-8483-4772-8e79-3d69d8477de4")
//! );
//! // There is no alternate header at LBA 2047: the reader warns, in kpartx's words.
//! assert_eq!(diag.lines(), ["Alternate GPT is invalid, using primary GPT."]);
//! ```

use std::fmt::Write as _;

use super::source::bytes::{byte, le32, le64};
use super::{BlockSource, Diagnostics, MAX_SLICES, ProbeContext, Slice};

/// `EFI PART`, read as a little-endian u64.
const SIGNATURE: u64 = 0x5452_4150_2049_4645;
/// The smallest header the UEFI specification defines.
const MIN_HEADER_SIZE: usize = 92;
/// The only entry size the reference accepts.
const ENTRY_SIZE: usize = 128;
/// More entries than this make a header invalid (2^20 entries = 128 MiB of array).
const MAX_ENTRIES: u32 = 1 << 20;
/// How much of the entry array is read at once to compute its CRC.
const CRC_CHUNK: u64 = 64 * 1024;
/// Partition type of a GPT-protective MBR entry.
const PROTECTIVE_TYPE: u8 = 0xEE;

/// Byte offsets of the header fields.
mod hdr {
    pub const SIGNATURE: usize = 0;
    pub const HEADER_SIZE: usize = 12;
    pub const HEADER_CRC: usize = 16;
    pub const MY_LBA: usize = 24;
    pub const ALTERNATE_LBA: usize = 32;
    pub const FIRST_USABLE: usize = 40;
    pub const LAST_USABLE: usize = 48;
    pub const DISK_GUID: usize = 56;
    pub const ENTRY_LBA: usize = 72;
    pub const NUM_ENTRIES: usize = 80;
    pub const ENTRY_SIZE: usize = 84;
    pub const ENTRIES_CRC: usize = 88;
}

/// Byte offsets of the partition entry fields.
mod ent {
    pub const TYPE_GUID: usize = 0;
    pub const UNIQUE_GUID: usize = 16;
    pub const FIRST_LBA: usize = 32;
    pub const LAST_LBA: usize = 40;
    pub const NAME: usize = 56;
    pub const NAME_LEN: usize = 72;
}

/// The header fields the reader uses after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    my_lba: u64,
    alternate_lba: u64,
    first_usable_lba: u64,
    last_usable_lba: u64,
    disk_guid: [u8; 16],
    entry_lba: u64,
    num_entries: u32,
    entry_size: u32,
    entries_crc: u32,
}

impl Header {
    fn parse(buf: &[u8]) -> Header {
        Header {
            my_lba: le64(buf, hdr::MY_LBA),
            alternate_lba: le64(buf, hdr::ALTERNATE_LBA),
            first_usable_lba: le64(buf, hdr::FIRST_USABLE),
            last_usable_lba: le64(buf, hdr::LAST_USABLE),
            disk_guid: guid_at(buf, hdr::DISK_GUID),
            entry_lba: le64(buf, hdr::ENTRY_LBA),
            num_entries: le32(buf, hdr::NUM_ENTRIES),
            entry_size: le32(buf, hdr::ENTRY_SIZE),
            entries_crc: le32(buf, hdr::ENTRIES_CRC),
        }
    }
}

/// Sector size and extent of the device.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    /// Logical sector size in bytes (at least 512).
    sector: u64,
    /// The last addressable LBA.
    last_lba: u64,
    /// Device size in bytes.
    size: u64,
    /// 512-byte units per logical sector.
    mul: u64,
}

impl Geometry {
    fn of(src: &dyn BlockSource) -> Option<Geometry> {
        let sector = u64::from(src.sector_size()).max(512);
        let size = src.size_bytes();
        let last_lba = (size / sector).checked_sub(1)?;
        Some(Geometry {
            sector,
            last_lba,
            size,
            mul: src.sectors_per_block(),
        })
    }

    /// Byte offset of `lba`, if representable.
    fn offset(&self, lba: u64) -> Option<u64> {
        lba.checked_mul(self.sector)
    }
}

/// Reads a GPT; an empty result means "not GPT, or no used entries" (the next reader is tried).
pub fn read(src: &dyn BlockSource, ctx: &ProbeContext, diag: &mut Diagnostics) -> Vec<Slice> {
    let Some(geo) = Geometry::of(src) else {
        return Vec::new();
    };
    let primary = valid_header(src, &geo, 1);
    let alternate = match &primary {
        Some(p) => valid_header(src, &geo, p.alternate_lba)
            .or_else(|| valid_header(src, &geo, geo.last_lba)),
        None => valid_header(src, &geo, geo.last_lba),
    };
    if primary.is_none() && alternate.is_none() {
        return Vec::new();
    }
    if !protective_mbr_valid(src) && !accept_bad_pmbr(ctx, diag) {
        return Vec::new();
    }
    if let (Some(p), Some(a)) = (&primary, &alternate) {
        compare_headers(p, a, geo.last_lba, diag);
    }
    let chosen = match (primary, alternate) {
        (Some(p), a) => {
            if a.is_none() {
                diag.warn("Alternate GPT is invalid, using primary GPT.");
            }
            p
        }
        (None, Some(a)) => {
            diag.warn("Primary GPT is invalid, using alternate GPT.");
            a
        }
        (None, None) => return Vec::new(),
    };
    slices(src, &geo, &chosen)
}

/// Prints the invalid-PMBR warning; true when `-g` says to carry on anyway.
fn accept_bad_pmbr(ctx: &ProbeContext, diag: &mut Diagnostics) -> bool {
    diag.warn("  Warning: Disk has a valid GPT signature but invalid PMBR.");
    if ctx.force_gpt {
        diag.warn("  Use GNU Parted to correct disk.");
        diag.warn("  gpt option taken, disk treated as GPT.");
    } else {
        diag.warn("  Assuming this disk is *not* a GPT disk anymore.");
        diag.warn("  Use gpt kernel option to override.  Use GNU Parted to correct disk.");
    }
    ctx.force_gpt
}

/// The header at `lba` if it passes every validity check.
fn valid_header(src: &dyn BlockSource, geo: &Geometry, lba: u64) -> Option<Header> {
    let buf = src.read_at(geo.offset(lba)?, usize::try_from(geo.sector).ok()?)?;
    if le64(&buf, hdr::SIGNATURE) != SIGNATURE || !header_crc_ok(&buf) {
        return None;
    }
    let header = Header::parse(&buf);
    let ok = header.my_lba == lba
        && header.entry_size as usize == ENTRY_SIZE
        && entries_crc_ok(src, geo, &header);
    ok.then_some(header)
}

/// Checks the header CRC over `header_size` bytes with the CRC field zeroed.
fn header_crc_ok(buf: &[u8]) -> bool {
    let Ok(size) = usize::try_from(le32(buf, hdr::HEADER_SIZE)) else {
        return false;
    };
    let Some(covered) = buf.get(..size).filter(|_| size >= MIN_HEADER_SIZE) else {
        return false;
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&covered[..hdr::HEADER_CRC]);
    hasher.update(&[0; 4]);
    hasher.update(&covered[hdr::HEADER_CRC + 4..]);
    hasher.finalize() == le32(buf, hdr::HEADER_CRC)
}

/// Where the entry array lies: (byte offset, length in bytes), if it fits inside the device.
fn entry_array(geo: &Geometry, header: &Header) -> Option<(u64, u64)> {
    if header.num_entries == 0 || header.num_entries > MAX_ENTRIES {
        return None;
    }
    let len = u64::from(header.num_entries) * ENTRY_SIZE as u64;
    let start = geo.offset(header.entry_lba)?;
    let rounded = len.div_ceil(geo.sector).checked_mul(geo.sector)?;
    let end = start.checked_add(rounded)?;
    (end <= geo.size).then_some((start, len))
}

/// Checks the entry-array CRC, reading the array in bounded chunks.
fn entries_crc_ok(src: &dyn BlockSource, geo: &Geometry, header: &Header) -> bool {
    let Some((start, len)) = entry_array(geo, header) else {
        return false;
    };
    let mut hasher = crc32fast::Hasher::new();
    let mut done = 0;
    while done < len {
        let chunk = (len - done).min(CRC_CHUNK);
        // `chunk` is at most CRC_CHUNK, so the conversion cannot fail.
        let Some(data) = src.read_at(start + done, chunk as usize) else {
            return false;
        };
        hasher.update(&data);
        done += chunk;
    }
    hasher.finalize() == header.entries_crc
}

/// LBA 0 is a protective MBR: 55AA and at least one entry of type 0xEE.
fn protective_mbr_valid(src: &dyn BlockSource) -> bool {
    let Some(mbr) = src.read_at(0, 512) else {
        return false;
    };
    let signed = byte(&mbr, 510) == 0x55 && byte(&mbr, 511) == 0xAA;
    signed && (0..4).any(|i| byte(&mbr, 0x1BE + 16 * i + 4) == PROTECTIVE_TYPE)
}

/// Emits the consistency warnings for two valid headers, then the Parted hint if any fired.
fn compare_headers(p: &Header, a: &Header, last_lba: u64, diag: &mut Diagnostics) {
    let checks = [
        (
            p.my_lba != a.alternate_lba,
            "GPT:Primary header LBA != Alt. header alternate_lba".to_string(),
        ),
        (
            p.alternate_lba != a.my_lba,
            "GPT:Primary header alternate_lba != Alt. header my_lba".to_string(),
        ),
        (
            p.first_usable_lba != a.first_usable_lba,
            "GPT:first_usable_lbas don't match.".to_string(),
        ),
        (
            p.last_usable_lba != a.last_usable_lba,
            "GPT:last_usable_lbas don't match.".to_string(),
        ),
        (
            p.disk_guid != a.disk_guid,
            "GPT:disk_guids don't match.".to_string(),
        ),
        (
            p.num_entries != a.num_entries,
            format!(
                "GPT:num_partition_entries don't match: {:#x} != {:#x}",
                p.num_entries, a.num_entries
            ),
        ),
        (
            p.entry_size != a.entry_size,
            format!(
                "GPT:sizeof_partition_entry values don't match: {:#x} != {:#x}",
                p.entry_size, a.entry_size
            ),
        ),
        (
            p.entries_crc != a.entries_crc,
            format!(
                "GPT:partition_entry_array_crc32 values don't match: {:#x} != {:#x}",
                p.entries_crc, a.entries_crc
            ),
        ),
        (
            p.alternate_lba != last_lba,
            "GPT:Primary header thinks Alt. header is not at the end of the disk.".to_string(),
        ),
        (
            a.my_lba != last_lba,
            "GPT:Alternate GPT header not at the end of the disk.".to_string(),
        ),
    ];
    let mut any = false;
    for (_, line) in checks.into_iter().filter(|(fired, _)| *fired) {
        diag.warn(line);
        any = true;
    }
    if any {
        diag.warn("GPT: Use GNU Parted to correct GPT errors.");
    }
}

/// Turns the first `min(num_entries, 256)` entries into slices, trailing empties trimmed.
fn slices(src: &dyn BlockSource, geo: &Geometry, header: &Header) -> Vec<Slice> {
    let Some((start, _)) = entry_array(geo, header) else {
        return Vec::new();
    };
    let count = (header.num_entries as usize).min(MAX_SLICES);
    let Some(array) = src.read_at(start, count * ENTRY_SIZE) else {
        return Vec::new();
    };
    let mut out: Vec<Slice> = array
        .chunks_exact(ENTRY_SIZE)
        .map(|entry| entry_slice(entry, geo.mul))
        .collect();
    let used = out.iter().rposition(|s| s.part_type.is_some());
    out.truncate(used.map_or(0, |i| i + 1));
    out
}

/// One entry as a slice; an all-zero type GUID is an empty slot `{0, 0}`.
fn entry_slice(entry: &[u8], mul: u64) -> Slice {
    let type_guid = guid_at(entry, ent::TYPE_GUID);
    if type_guid == [0; 16] {
        return Slice::default();
    }
    let first = le64(entry, ent::FIRST_LBA);
    let last = le64(entry, ent::LAST_LBA);
    let sectors = last.wrapping_sub(first).wrapping_add(1);
    let unique = guid_at(entry, ent::UNIQUE_GUID);
    Slice {
        start: mul.wrapping_mul(first),
        size: mul.wrapping_mul(sectors),
        container: None,
        part_type: Some(guid_text(&type_guid)),
        label: entry_name(entry),
        uuid: (unique != [0; 16]).then(|| guid_text(&unique)),
    }
}

/// The 16 bytes at `at` (zeros where out of range).
fn guid_at(buf: &[u8], at: usize) -> [u8; 16] {
    let mut guid = [0; 16];
    for (i, b) in guid.iter_mut().enumerate() {
        *b = byte(buf, at + i);
    }
    guid
}

/// The canonical lower-case 8-4-4-4-12 text of an on-disk (mixed-endian) GUID.
fn guid_text(g: &[u8; 16]) -> String {
    let hex = |bytes: &[u8]| {
        bytes.iter().fold(String::new(), |mut text, b| {
            // Writing to a String cannot fail.
            let _ = write!(text, "{b:02x}");
            text
        })
    };
    format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        le32(g, 0),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        hex(&g[8..10]),
        hex(&g[10..16])
    )
}

/// The UTF-16LE partition name up to the first NUL; `None` when empty.
fn entry_name(entry: &[u8]) -> Option<String> {
    let units = (0..ent::NAME_LEN / 2)
        .map(|i| {
            u16::from_le_bytes([
                byte(entry, ent::NAME + 2 * i),
                byte(entry, ent::NAME + 2 * i + 1),
            ])
        })
        .take_while(|&u| u != 0);
    let name: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;
    use crate::testkit::gpt::{Header as Hdr, guid};
    use crate::testkit::{Rng, check_slices, pos};

    const LINUX_FS: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";
    const EFI_SYSTEM: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
    const DISK_GUID: &str = "11111111-2222-3333-4444-555555555555";

    fn unique(n: usize) -> String {
        format!("{n:08x}-0000-4000-8000-{n:012x}")
    }

    struct Part {
        index: usize,
        type_guid: &'static str,
        first: u64,
        last: u64,
        name: &'static str,
    }

    fn part(index: usize, first: u64, last: u64) -> Part {
        Part {
            index,
            type_guid: LINUX_FS,
            first,
            last,
            name: "",
        }
    }

    fn entry_bytes(num: u32, parts: &[Part]) -> Vec<u8> {
        let mut array = vec![0u8; num as usize * 128];
        for p in parts {
            let e = &mut array[p.index * 128..(p.index + 1) * 128];
            e[0..16].copy_from_slice(&guid(p.type_guid));
            e[16..32].copy_from_slice(&guid(&unique(p.index + 1)));
            e[32..40].copy_from_slice(&p.first.to_le_bytes());
            e[40..48].copy_from_slice(&p.last.to_le_bytes());
            for (i, u) in p.name.encode_utf16().enumerate() {
                e[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
            }
        }
        array
    }

    struct Image {
        data: Vec<u8>,
        ss: usize,
    }

    impl Image {
        fn blank(ss: usize, sectors: u64) -> Image {
            Image {
                data: vec![0; ss * sectors as usize],
                ss,
            }
        }

        fn last_lba(&self) -> u64 {
            (self.data.len() / self.ss) as u64 - 1
        }

        fn write(&mut self, offset: usize, bytes: &[u8]) {
            self.data[offset..offset + bytes.len()].copy_from_slice(bytes);
        }

        fn write_lba(&mut self, lba: u64, bytes: &[u8]) {
            self.write(lba as usize * self.ss, bytes);
        }

        fn mbr_entry(&mut self, slot: usize, kind: u8, start: u32, count: u32) {
            let at = 0x1BE + 16 * slot;
            self.data[at + 4] = kind;
            self.write(at + 8, &start.to_le_bytes());
            self.write(at + 12, &count.to_le_bytes());
        }

        fn mbr_signature(&mut self) {
            self.write(510, &[0x55, 0xAA]);
        }

        fn protective_mbr(&mut self) {
            let sectors = u32::try_from(self.last_lba()).unwrap_or(u32::MAX);
            self.mbr_entry(0, 0xEE, 1, sectors);
            self.mbr_signature();
        }

        /// Writes a header into sector `lba`, with its CRC over `header_size` bytes when that
        /// fits in the sector.
        fn header(&mut self, lba: u64, h: &Hdr) {
            self.write_lba(lba, &h.sealed(self.ss));
        }

        fn source(&self) -> MemSource {
            MemSource::with_sector_size(self.data.clone(), self.ss as u32)
        }

        fn run(&self, force_gpt: bool) -> (Vec<Slice>, Vec<String>) {
            let ctx = ProbeContext {
                force_gpt,
                ..ProbeContext::default()
            };
            let mut diag = Diagnostics::default();
            let slices = read(&self.source(), &ctx, &mut diag);
            (slices, diag.lines().to_vec())
        }
    }

    /// A consistent GPT: PMBR, primary at 1 with entries at 2, backup entries just before the
    /// backup header at the last LBA. Returns the image and both headers.
    fn gpt_image(ss: usize, sectors: u64, num: u32, parts: &[Part]) -> (Image, Hdr, Hdr) {
        let mut img = Image::blank(ss, sectors);
        img.protective_mbr();
        let array = entry_bytes(num, parts);
        let entry_sectors = (array.len() as u64).div_ceil(ss as u64);
        let last = img.last_lba();
        let primary = Hdr {
            my_lba: 1,
            alternate_lba: last,
            first_usable: 2 + entry_sectors,
            last_usable: last - entry_sectors - 1,
            disk_guid: guid(DISK_GUID),
            entry_lba: 2,
            num_entries: num,
            entry_size: 128,
            entries_crc: crc32fast::hash(&array),
            header_size: 92,
        };
        let backup = Hdr {
            my_lba: last,
            alternate_lba: 1,
            entry_lba: last - entry_sectors,
            ..primary.clone()
        };
        img.write_lba(2, &array);
        img.write_lba(backup.entry_lba, &array);
        img.header(1, &primary);
        img.header(last, &backup);
        (img, primary, backup)
    }

    fn two_partitions() -> (Image, Hdr, Hdr) {
        let parts = [
            Part {
                index: 0,
                type_guid: EFI_SYSTEM,
                first: 34,
                last: 2081,
                name: "EFI system",
            },
            part(1, 2082, 4061),
        ];
        gpt_image(512, 4096, 128, &parts)
    }

    #[test]
    fn guid_text_is_mixed_endian_lower_case() {
        let bytes = [
            0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47,
            0x7D, 0xE4,
        ];
        assert_eq!(guid_text(&bytes), LINUX_FS);
        assert_eq!(guid(LINUX_FS), bytes);
    }

    #[test]
    fn plain_gpt_with_two_partitions() {
        let (img, _, _) = two_partitions();
        let (slices, warnings) = img.run(false);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(pos(&slices), [(34, 2048), (2082, 1980)]);
        assert_eq!(slices[0].part_type.as_deref(), Some(EFI_SYSTEM));
        assert_eq!(slices[0].label.as_deref(), Some("EFI system"));
        assert_eq!(slices[0].uuid, Some(unique(1)));
        assert_eq!(slices[1].part_type.as_deref(), Some(LINUX_FS));
        assert_eq!(slices[1].label, None);
        assert_eq!(slices[1].uuid, Some(unique(2)));
        assert!(slices.iter().all(|s| s.container.is_none()));
    }

    #[test]
    fn label_stops_at_nul_and_keeps_unicode() {
        let parts = [Part {
            index: 0,
            type_guid: LINUX_FS,
            first: 40,
            last: 99,
            name: "données ✓",
        }];
        let (img, _, _) = gpt_image(512, 1024, 128, &parts);
        let (slices, _) = img.run(false);
        assert_eq!(slices[0].label.as_deref(), Some("données ✓"));
    }

    #[test]
    fn full_length_label_is_kept() {
        let parts = [Part {
            index: 0,
            type_guid: LINUX_FS,
            first: 40,
            last: 99,
            name: "abcdefghijklmnopqrstuvwxyz0123456789",
        }];
        let (img, _, _) = gpt_image(512, 1024, 128, &parts);
        let (slices, _) = img.run(false);
        assert_eq!(
            slices[0].label.as_deref(),
            Some("abcdefghijklmnopqrstuvwxyz0123456789")
        );
    }

    #[test]
    fn four_k_sectors_scale_by_eight() {
        let parts = [part(0, 256, 1535), part(1, 1536, 2047)];
        let (img, _, _) = gpt_image(4096, 2560, 128, &parts);
        // The primary header lives at byte 4096, not 512.
        assert_eq!(&img.data[4096..4104], b"EFI PART");
        let (slices, warnings) = img.run(false);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(pos(&slices), [(2048, 10240), (12288, 4096)]);
    }

    #[test]
    fn four_k_disk_read_as_512_is_not_gpt() {
        let parts = [part(0, 256, 1535)];
        let (img, _, _) = gpt_image(4096, 2560, 128, &parts);
        let src = MemSource::new(img.data.clone());
        let mut diag = Diagnostics::default();
        assert!(read(&src, &ProbeContext::default(), &mut diag).is_empty());
    }

    #[test]
    fn gaps_keep_numbering_and_trailing_empties_are_trimmed() {
        let parts = [part(0, 100, 199), part(3, 400, 499), part(6, 700, 799)];
        let (img, _, _) = gpt_image(512, 4096, 128, &parts);
        let (slices, _) = img.run(false);
        assert_eq!(slices.len(), 7);
        assert_eq!(
            pos(&slices),
            [
                (100, 100),
                (0, 0),
                (0, 0),
                (400, 100),
                (0, 0),
                (0, 0),
                (700, 100)
            ]
        );
        assert_eq!(slices[1], Slice::default());
    }

    #[test]
    fn no_used_entries_gives_nothing() {
        let (img, _, _) = gpt_image(512, 1024, 128, &[]);
        let (slices, warnings) = img.run(false);
        assert!(slices.is_empty());
        assert!(warnings.is_empty());
    }

    #[test]
    fn only_the_first_256_entries_are_used() {
        // 1024 entries = 128 KiB: the CRC is streamed over two chunks.
        let parts = [part(3, 2000, 2099), part(300, 3000, 3099)];
        let (img, _, _) = gpt_image(512, 4096, 1024, &parts);
        let (slices, warnings) = img.run(false);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(slices.len(), 4);
        assert_eq!(slices[3].start, 2000);

        let parts = [part(255, 2000, 2099)];
        let (img, _, _) = gpt_image(512, 4096, 512, &parts);
        assert_eq!(img.run(false).0.len(), MAX_SLICES);
    }

    #[test]
    fn few_entries() {
        let parts = [part(0, 10, 19)];
        let (img, _, _) = gpt_image(512, 64, 1, &parts);
        assert_eq!(pos(&img.run(false).0), [(10, 10)]);
    }

    #[test]
    fn end_before_start_wraps_like_the_reference() {
        let parts = [part(0, 100, 97)];
        let (img, _, _) = gpt_image(512, 1024, 128, &parts);
        let (slices, _) = img.run(false);
        assert_eq!(slices[0].size, u64::MAX - 1);
        let parts = [part(0, 100, 99)];
        let (img, _, _) = gpt_image(4096, 64, 128, &parts);
        let (slices, _) = img.run(false);
        assert_eq!(pos(&slices), [(800, 0)]);
        assert!(slices[0].part_type.is_some());
        let parts = [part(0, u64::MAX, u64::MAX)];
        let (img, _, _) = gpt_image(4096, 64, 128, &parts);
        assert_eq!(pos(&img.run(false).0), [(u64::MAX.wrapping_mul(8), 8)]);
    }

    #[test]
    fn corrupted_primary_header_uses_alternate() {
        let (mut img, _, _) = two_partitions();
        img.data[512 + 40] ^= 1; // first_usable_lba, CRC now wrong
        let (slices, warnings) = img.run(false);
        assert_eq!(warnings, ["Primary GPT is invalid, using alternate GPT."]);
        assert_eq!(pos(&slices), [(34, 2048), (2082, 1980)]);
    }

    #[test]
    fn corrupted_primary_entries_use_alternate() {
        let (mut img, _, _) = two_partitions();
        img.data[2 * 512 + 32] ^= 0xFF;
        let (slices, warnings) = img.run(false);
        assert_eq!(warnings, ["Primary GPT is invalid, using alternate GPT."]);
        assert_eq!(slices[0].start, 34);
    }

    #[test]
    fn corrupted_backup_uses_primary() {
        let (mut img, _, backup) = two_partitions();
        let at = backup.my_lba as usize * 512;
        img.data[at] = b'X';
        let (slices, warnings) = img.run(false);
        assert_eq!(warnings, ["Alternate GPT is invalid, using primary GPT."]);
        assert_eq!(pos(&slices), [(34, 2048), (2082, 1980)]);
    }

    #[test]
    fn both_headers_corrupted_is_silently_not_gpt() {
        let (mut img, _, backup) = two_partitions();
        img.data[512] = 0;
        img.data[backup.my_lba as usize * 512] = 0;
        let (slices, warnings) = img.run(true);
        assert!(slices.is_empty());
        assert!(warnings.is_empty());
    }

    #[test]
    fn primary_invalid_only_looks_at_last_lba() {
        let (mut img, primary, backup) = two_partitions();
        // Move the backup header into the middle of the disk (still self-consistent).
        let moved = Hdr {
            my_lba: 3000,
            ..backup.clone()
        };
        img.write_lba(backup.my_lba, &[0; 512]);
        img.header(moved.my_lba, &moved);
        // With the primary intact (pointing at the old place) the backup is not found.
        let (_, warnings) = img.run(false);
        assert_eq!(warnings, ["Alternate GPT is invalid, using primary GPT."]);
        // With the primary pointing at it, it is.
        let pointing = Hdr {
            alternate_lba: moved.my_lba,
            ..primary
        };
        img.header(1, &pointing);
        assert_eq!(
            img.run(false).1,
            [
                "GPT:Primary header thinks Alt. header is not at the end of the disk.",
                "GPT:Alternate GPT header not at the end of the disk.",
                "GPT: Use GNU Parted to correct GPT errors.",
            ]
        );
        // Without a primary the moved backup is never found.
        img.data[512] = 0;
        let (slices, warnings) = img.run(false);
        assert!(slices.is_empty());
        assert!(warnings.is_empty());
    }

    #[test]
    fn alternate_found_at_last_lba_when_primary_points_elsewhere() {
        let (mut img, primary, _) = two_partitions();
        let wrong = Hdr {
            alternate_lba: 1000,
            ..primary
        };
        img.header(1, &wrong);
        let (slices, warnings) = img.run(false);
        assert_eq!(
            warnings,
            [
                "GPT:Primary header alternate_lba != Alt. header my_lba",
                "GPT:Primary header thinks Alt. header is not at the end of the disk.",
                "GPT: Use GNU Parted to correct GPT errors.",
            ]
        );
        assert_eq!(slices.len(), 2);
    }

    #[test]
    fn alternate_lba_out_of_range_does_not_panic() {
        let (mut img, primary, _) = two_partitions();
        let wrong = Hdr {
            alternate_lba: u64::MAX,
            ..primary
        };
        img.header(1, &wrong);
        assert_eq!(img.run(false).0.len(), 2);
    }

    #[test]
    fn missing_pmbr_without_force_is_not_gpt() {
        let (mut img, _, _) = two_partitions();
        img.data[510] = 0;
        let (slices, warnings) = img.run(false);
        assert!(slices.is_empty());
        assert_eq!(
            warnings,
            [
                "  Warning: Disk has a valid GPT signature but invalid PMBR.",
                "  Assuming this disk is *not* a GPT disk anymore.",
                "  Use gpt kernel option to override.  Use GNU Parted to correct disk.",
            ]
        );
    }

    #[test]
    fn missing_pmbr_with_force_is_gpt() {
        let (mut img, _, _) = two_partitions();
        img.data[..512].fill(0);
        let (slices, warnings) = img.run(true);
        assert_eq!(slices.len(), 2);
        assert_eq!(
            warnings,
            [
                "  Warning: Disk has a valid GPT signature but invalid PMBR.",
                "  Use GNU Parted to correct disk.",
                "  gpt option taken, disk treated as GPT.",
            ]
        );
    }

    #[test]
    fn pmbr_without_protective_entry_is_invalid() {
        let (mut img, _, _) = two_partitions();
        img.mbr_entry(0, 0x83, 1, 100);
        let (slices, warnings) = img.run(false);
        assert!(slices.is_empty());
        assert_eq!(warnings.len(), 3);
    }

    #[test]
    fn force_with_valid_pmbr_prints_nothing() {
        let (img, _, _) = two_partitions();
        let (slices, warnings) = img.run(true);
        assert_eq!(slices.len(), 2);
        assert!(warnings.is_empty());
    }

    #[test]
    fn pmbr_warning_comes_before_header_choice() {
        let (mut img, _, backup) = two_partitions();
        img.data[backup.my_lba as usize * 512] = 0;
        img.data[511] = 0;
        let (slices, warnings) = img.run(true);
        assert_eq!(slices.len(), 2);
        assert_eq!(warnings.len(), 4);
        assert_eq!(warnings[3], "Alternate GPT is invalid, using primary GPT.");
    }

    #[test]
    fn hybrid_mbr_is_accepted() {
        let (mut img, _, _) = two_partitions();
        img.mbr_entry(0, 0x83, 2082, 1980);
        img.mbr_entry(1, 0x0C, 34, 2048);
        img.mbr_entry(3, 0xEE, 1, 33);
        let (slices, warnings) = img.run(false);
        assert_eq!(slices.len(), 2);
        assert!(warnings.is_empty());
    }

    #[test]
    fn grown_disk_warns_about_the_end() {
        let (mut img, _, _) = two_partitions();
        img.data.resize(img.data.len() + 100 * 512, 0);
        let (slices, warnings) = img.run(false);
        assert_eq!(slices.len(), 2);
        assert_eq!(
            warnings,
            [
                "GPT:Primary header thinks Alt. header is not at the end of the disk.",
                "GPT:Alternate GPT header not at the end of the disk.",
                "GPT: Use GNU Parted to correct GPT errors.",
            ]
        );
    }

    #[test]
    fn every_consistency_warning_in_order() {
        let (mut img, primary, backup) = gpt_image(512, 4096, 128, &[part(0, 100, 199)]);
        let last = img.last_lba();
        // A backup that disagrees with the primary in every compared field.
        let array = entry_bytes(64, &[part(0, 100, 299)]);
        let odd = Hdr {
            my_lba: last - 1,
            alternate_lba: 7,
            first_usable: 40,
            last_usable: 4000,
            disk_guid: guid(LINUX_FS),
            entry_lba: 3000,
            num_entries: 64,
            entries_crc: crc32fast::hash(&array),
            ..backup
        };
        img.write_lba(3000, &array);
        img.header(odd.my_lba, &odd);
        img.header(
            1,
            &Hdr {
                alternate_lba: last - 1,
                ..primary.clone()
            },
        );
        let (slices, warnings) = img.run(false);
        assert_eq!(
            warnings,
            [
                "GPT:Primary header LBA != Alt. header alternate_lba".to_string(),
                "GPT:first_usable_lbas don't match.".to_string(),
                "GPT:last_usable_lbas don't match.".to_string(),
                "GPT:disk_guids don't match.".to_string(),
                "GPT:num_partition_entries don't match: 0x80 != 0x40".to_string(),
                format!(
                    "GPT:partition_entry_array_crc32 values don't match: {:#x} != {:#x}",
                    primary.entries_crc, odd.entries_crc
                ),
                "GPT:Primary header thinks Alt. header is not at the end of the disk.".to_string(),
                "GPT:Alternate GPT header not at the end of the disk.".to_string(),
                "GPT: Use GNU Parted to correct GPT errors.".to_string(),
            ]
        );
        // The primary's entries win.
        assert_eq!(pos(&slices), [(100, 100)]);
    }

    #[test]
    fn crc_mismatch_text_is_unpadded_lower_hex() {
        let p = Header {
            my_lba: 1,
            alternate_lba: 9,
            first_usable_lba: 0,
            last_usable_lba: 0,
            disk_guid: [0; 16],
            entry_lba: 2,
            num_entries: 0x80,
            entry_size: 128,
            entries_crc: 0xAB,
        };
        let a = Header {
            my_lba: 9,
            alternate_lba: 1,
            entries_crc: 0xDEAD_BEEF,
            entry_size: 0x100,
            ..p.clone()
        };
        let mut diag = Diagnostics::default();
        compare_headers(&p, &a, 9, &mut diag);
        assert_eq!(
            diag.lines(),
            [
                "GPT:sizeof_partition_entry values don't match: 0x80 != 0x100",
                "GPT:partition_entry_array_crc32 values don't match: 0xab != 0xdeadbeef",
                "GPT: Use GNU Parted to correct GPT errors.",
            ]
        );
    }

    /// Rewrites both headers of a two-partition image with `change` applied.
    fn with_both_headers(change: impl Fn(&mut Hdr)) -> Image {
        let (mut img, mut primary, mut backup) = two_partitions();
        change(&mut primary);
        change(&mut backup);
        img.header(1, &primary);
        img.header(backup.my_lba, &backup);
        img
    }

    fn assert_not_gpt(img: &Image) {
        for force in [false, true] {
            let (slices, warnings) = img.run(force);
            assert!(slices.is_empty());
            assert!(warnings.is_empty(), "{warnings:?}");
        }
    }

    #[test]
    fn huge_header_size_is_invalid() {
        assert_not_gpt(&with_both_headers(|h| h.header_size = u32::MAX));
        assert_not_gpt(&with_both_headers(|h| h.header_size = 513));
    }

    #[test]
    fn small_header_size_is_invalid() {
        assert_not_gpt(&with_both_headers(|h| h.header_size = 0));
        assert_not_gpt(&with_both_headers(|h| h.header_size = 91));
    }

    #[test]
    fn header_size_up_to_the_sector_size_is_valid() {
        let img = with_both_headers(|h| h.header_size = 512);
        assert_eq!(img.run(false).0.len(), 2);
        let (mut img, mut primary, _) = gpt_image(4096, 64, 128, &[part(0, 10, 19)]);
        primary.header_size = 600;
        img.write(4096 + 550, &[0x5A; 10]);
        img.header(1, &primary);
        let (slices, warnings) = img.run(false);
        assert_eq!(slices.len(), 1);
        assert!(warnings.is_empty());
        primary.header_size = 4097;
        img.header(1, &primary);
        assert_eq!(
            img.run(false).1,
            ["Primary GPT is invalid, using alternate GPT."]
        );
    }

    #[test]
    fn huge_entry_counts_are_invalid() {
        assert_not_gpt(&with_both_headers(|h| h.num_entries = u32::MAX));
        assert_not_gpt(&with_both_headers(|h| h.num_entries = (1 << 20) + 1));
        assert_not_gpt(&with_both_headers(|h| h.num_entries = 1 << 20));
        assert_not_gpt(&with_both_headers(|h| h.num_entries = 0));
    }

    #[test]
    fn entry_array_outside_the_device_is_invalid() {
        assert_not_gpt(&with_both_headers(|h| h.entry_lba = 4095));
        assert_not_gpt(&with_both_headers(|h| h.entry_lba = u64::MAX));
        assert_not_gpt(&with_both_headers(|h| h.entry_lba = u64::MAX / 512 + 1));
    }

    #[test]
    fn entry_size_must_be_128() {
        assert_not_gpt(&with_both_headers(|h| h.entry_size = 256));
        assert_not_gpt(&with_both_headers(|h| h.entry_size = 0));
    }

    #[test]
    fn my_lba_must_match() {
        let (mut img, primary, _) = two_partitions();
        img.header(
            1,
            &Hdr {
                my_lba: 2,
                ..primary
            },
        );
        assert_eq!(
            img.run(false).1,
            ["Primary GPT is invalid, using alternate GPT."]
        );
    }

    #[test]
    fn empty_and_tiny_devices_are_not_gpt() {
        let mut diag = Diagnostics::default();
        let ctx = ProbeContext::default();
        assert!(read(&MemSource::new(Vec::new()), &ctx, &mut diag).is_empty());
        assert!(read(&MemSource::new(vec![0; 100]), &ctx, &mut diag).is_empty());
        let src = MemSource::with_sector_size(vec![0; 4000], 4096);
        assert!(read(&src, &ctx, &mut diag).is_empty());
        assert!(diag.lines().is_empty());
    }

    #[test]
    fn odd_sector_sizes_do_not_panic() {
        let (img, _, _) = two_partitions();
        for ss in [0, 1, 256, 520, 1 << 20, u32::MAX] {
            let src = MemSource::with_sector_size(img.data.clone(), ss);
            let mut diag = Diagnostics::default();
            let slices = read(&src, &ProbeContext::default(), &mut diag);
            assert!(slices.len() <= MAX_SLICES);
        }
    }

    fn check(img: &Image, force: bool) {
        let (slices, _) = img.run(force);
        check_slices(&slices).unwrap();
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = Rng::new(0x1234_5678_9ABC_DEF1);
        for round in 0..300 {
            let ss = if round % 3 == 0 { 4096 } else { 512 };
            let sectors = rng.below(40);
            let mut img = Image::blank(ss, sectors);
            for b in img.data.iter_mut() {
                *b = rng.next() as u8;
            }
            if sectors > 2 {
                img.write_lba(1, b"EFI PART");
                img.protective_mbr();
            }
            check(&img, round % 2 == 0);
        }
    }

    #[test]
    fn random_but_crc_correct_headers_never_panic() {
        let mut rng = Rng::new(0xDEAD_BEEF_CAFE_F00D);
        let (base, primary, _) = gpt_image(512, 256, 128, &[part(0, 40, 99)]);
        for _ in 0..300 {
            let mut img = Image {
                data: base.data.clone(),
                ss: 512,
            };
            let pick = |rng: &mut Rng, small: u64| match rng.below(3) {
                0 => rng.next(),
                1 => rng.below(small),
                _ => u64::MAX - rng.below(small),
            };
            let h = Hdr {
                alternate_lba: pick(&mut rng, 300),
                entry_lba: pick(&mut rng, 300),
                num_entries: pick(&mut rng, 2000) as u32,
                header_size: pick(&mut rng, 600) as u32,
                entries_crc: if rng.below(2) == 0 {
                    primary.entries_crc
                } else {
                    rng.next() as u32
                },
                ..primary.clone()
            };
            img.header(1, &h);
            check(&img, true);
        }
    }

    #[test]
    fn bit_flips_in_a_valid_image_never_panic() {
        let mut rng = Rng::new(42);
        let (base, _, _) = two_partitions();
        for _ in 0..300 {
            let mut img = Image {
                data: base.data.clone(),
                ss: 512,
            };
            for _ in 0..=rng.below(4) {
                let at = rng.below(3 * 512) as usize;
                img.data[at] ^= 1 << rng.below(8);
            }
            check(&img, false);
        }
    }
}
