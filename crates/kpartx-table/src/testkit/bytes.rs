//! Little-endian field helpers for building and inspecting on-disk structures.

/// `v` as 2 little-endian bytes.
pub fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}

/// `v` as 4 little-endian bytes.
pub fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// The little-endian `u32` at `at` (panics when `b` is too short).
pub fn get_le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The little-endian `u64` at `at` (panics when `b` is too short).
pub fn get_le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
