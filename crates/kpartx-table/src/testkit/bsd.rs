//! BSD disklabels.

/// A BSD disklabel starting at `d_magic`: both magics, `npartitions` and one entry of
/// (size, offset, fstype) per part; `148 + 16 * max(1, parts)` bytes.
pub fn label(npartitions: u16, parts: &[(u32, u32, u8)]) -> Vec<u8> {
    let mut l = vec![0u8; 148 + 16 * parts.len().max(1)];
    l[0..4].copy_from_slice(&0x8256_4557u32.to_le_bytes());
    l[132..136].copy_from_slice(&0x8256_4557u32.to_le_bytes());
    l[138..140].copy_from_slice(&npartitions.to_le_bytes());
    for (i, &(size, offset, fstype)) in parts.iter().enumerate() {
        let at = 148 + 16 * i;
        l[at..at + 4].copy_from_slice(&size.to_le_bytes());
        l[at + 4..at + 8].copy_from_slice(&offset.to_le_bytes());
        l[at + 12] = fstype;
    }
    l
}
