//! DOS/MBR partition entries and sectors.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// A 16-byte DOS partition entry (no CHS fields).
pub fn entry(boot: u8, kind: u8, start: u32, count: u32) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[0] = boot;
    e[4] = kind;
    e[8..12].copy_from_slice(&start.to_le_bytes());
    e[12..16].copy_from_slice(&count.to_le_bytes());
    e
}

/// A 512-byte MBR/EBR sector with these entries (at most 4) and the 55AA signature.
pub fn sector(entries: &[[u8; 16]]) -> Vec<u8> {
    let mut s = vec![0u8; 512];
    for (i, e) in entries.iter().enumerate() {
        s[0x1BE + 16 * i..0x1BE + 16 * (i + 1)].copy_from_slice(e);
    }
    s[510] = 0x55;
    s[511] = 0xAA;
    s
}

/// Writes a 2 MiB image at `path` with a DOS table holding one Linux partition (sectors
/// 2048..4095).
pub fn one_partition_image(path: &Path) {
    let mut file = File::create(path).expect("create image");
    file.write_all(&sector(&[entry(0, 0x83, 2048, 2048)]))
        .expect("write MBR");
    file.set_len(2 * 1024 * 1024).expect("size image");
}
