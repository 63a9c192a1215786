//! UnixWare VTOCs.

/// A 512-byte label (to be placed at block 29): both magics and one (tag, start, count) per
/// slice (at most 16).
pub fn label(parts: &[(u16, u32, u32)]) -> Vec<u8> {
    let mut l = vec![0u8; 512];
    l[4..8].copy_from_slice(&0xCA5E_600Du32.to_le_bytes());
    l[156..160].copy_from_slice(&0x600D_DEEEu32.to_le_bytes());
    for (k, &(tag, start, count)) in parts.iter().enumerate() {
        let at = 216 + 12 * k;
        l[at..at + 2].copy_from_slice(&tag.to_le_bytes());
        l[at + 4..at + 8].copy_from_slice(&start.to_le_bytes());
        l[at + 8..at + 12].copy_from_slice(&count.to_le_bytes());
    }
    l
}
