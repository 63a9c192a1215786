//! GPT headers and GUIDs.

use super::Sparse;
use super::bytes::{get_le32, get_le64};

/// The fields of a GPT header. [`Header::bytes`] lays them out; the header CRC is filled in
/// by [`Header::sealed`] or [`fix_crcs`].
#[derive(Debug, Clone)]
pub struct Header {
    /// `header_size` (92 in a valid header).
    pub header_size: u32,
    /// `my_lba`.
    pub my_lba: u64,
    /// `alternate_lba`.
    pub alternate_lba: u64,
    /// `first_usable_lba`.
    pub first_usable: u64,
    /// `last_usable_lba`.
    pub last_usable: u64,
    /// Disk GUID, on-disk byte order.
    pub disk_guid: [u8; 16],
    /// `partition_entry_lba`.
    pub entry_lba: u64,
    /// `num_partition_entries`.
    pub num_entries: u32,
    /// `sizeof_partition_entry` (128 in a valid header).
    pub entry_size: u32,
    /// `partition_entry_array_crc32`.
    pub entries_crc: u32,
}

impl Header {
    /// One sector of `sector_size` bytes holding the header, with a zero header CRC.
    pub fn bytes(&self, sector_size: usize) -> Vec<u8> {
        let mut h = vec![0u8; sector_size.max(92)];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&self.header_size.to_le_bytes());
        h[24..32].copy_from_slice(&self.my_lba.to_le_bytes());
        h[32..40].copy_from_slice(&self.alternate_lba.to_le_bytes());
        h[40..48].copy_from_slice(&self.first_usable.to_le_bytes());
        h[48..56].copy_from_slice(&self.last_usable.to_le_bytes());
        h[56..72].copy_from_slice(&self.disk_guid);
        h[72..80].copy_from_slice(&self.entry_lba.to_le_bytes());
        h[80..84].copy_from_slice(&self.num_entries.to_le_bytes());
        h[84..88].copy_from_slice(&self.entry_size.to_le_bytes());
        h[88..92].copy_from_slice(&self.entries_crc.to_le_bytes());
        h
    }

    /// [`Header::bytes`] with the header CRC over `header_size` bytes (at most the sector).
    pub fn sealed(&self, sector_size: usize) -> Vec<u8> {
        let mut h = self.bytes(sector_size);
        let covered = (self.header_size as usize).min(h.len());
        let crc = crc32fast::hash(&h[..covered]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    }
}

/// On-disk (mixed-endian) bytes of a textual GUID such as
/// `0fc63daf-8483-4772-8e79-3d69d8477de4`.
pub fn guid(text: &str) -> [u8; 16] {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut g = [0u8; 16];
    for (i, b) in g.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex GUID");
    }
    g[0..4].reverse();
    g[4..6].reverse();
    g[6..8].reverse();
    g
}

/// Recomputes the entry-array and header CRCs of the GPT header in 512-byte sector `lba` of
/// `img` (when it has the signature and the sizes are sane enough to compute them: an entry
/// array of at most 16 MiB, a `header_size` of at most 512).
pub fn fix_crcs(img: &mut Sparse, lba: u64) {
    let Some(at) = lba.checked_mul(512) else {
        return;
    };
    let mut h = img.read(at, 512);
    if &h[0..8] != b"EFI PART" {
        return;
    }
    let len = u64::from(get_le32(&h, 80)) * u64::from(get_le32(&h, 84));
    if let Some(entries_at) = get_le64(&h, 72).checked_mul(512)
        && len > 0
        && len <= 16 * 1024 * 1024
    {
        let crc = crc32fast::hash(&img.read(entries_at, len as usize));
        h[88..92].copy_from_slice(&crc.to_le_bytes());
    }
    let hs = get_le32(&h, 12) as usize;
    if hs <= 512 {
        h[16..20].fill(0);
        let crc = crc32fast::hash(&h[..hs]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
    }
    img.write(at, &h);
}
