//! PlayStation 3 labels.

/// The 1536-byte label at the start of the disk: both magics and one (start, size) per entry
/// (at most 8).
pub fn label(parts: &[(u64, u64)]) -> Vec<u8> {
    let mut l = vec![0u8; 1536];
    l[16..24].copy_from_slice(&0x0FAC_E0FFu64.to_be_bytes());
    l[24..32].copy_from_slice(&0xDEAD_FACEu64.to_be_bytes());
    for (k, &(start, size)) in parts.iter().enumerate() {
        let at = 0x30 + 144 * k;
        l[at..at + 8].copy_from_slice(&start.to_be_bytes());
        l[at + 8..at + 16].copy_from_slice(&size.to_be_bytes());
    }
    l
}
