//! Solaris x86 VTOCs, on-disk (ILP32) layout.

/// A 512-byte VTOC (to be placed at block 1): sanity, `version`, `nparts` and one
/// (tag, start, size) per slice.
pub fn vtoc(version: u32, nparts: u16, parts: &[(u16, u32, u32)]) -> Vec<u8> {
    let mut v = vec![0u8; 512];
    v[12..16].copy_from_slice(&0x600D_DEEEu32.to_le_bytes());
    v[16..20].copy_from_slice(&version.to_le_bytes());
    v[30..32].copy_from_slice(&nparts.to_le_bytes());
    for (k, &(tag, start, size)) in parts.iter().enumerate() {
        let at = 72 + 12 * k;
        v[at..at + 2].copy_from_slice(&tag.to_le_bytes());
        v[at + 4..at + 8].copy_from_slice(&start.to_le_bytes());
        v[at + 8..at + 12].copy_from_slice(&size.to_le_bytes());
    }
    v
}
