//! Sun VTOC labels.

/// A 512-byte Sun label with geometry `ntrks` × `nsect`, (start cylinder, sectors) per slice
/// (at most 8 are used), the magic and a valid XOR checksum.
pub fn label(ntrks: u16, nsect: u16, parts: &[(u32, u32)]) -> Vec<u8> {
    let mut l = vec![0u8; 512];
    l[0..12].copy_from_slice(b"kpartx test\0");
    l[436..438].copy_from_slice(&ntrks.to_be_bytes());
    l[438..440].copy_from_slice(&nsect.to_be_bytes());
    for (i, &(cyl, n)) in parts.iter().enumerate().take(8) {
        let at = 444 + 8 * i;
        l[at..at + 4].copy_from_slice(&cyl.to_be_bytes());
        l[at + 4..at + 8].copy_from_slice(&n.to_be_bytes());
    }
    l[508..510].copy_from_slice(&0xDABEu16.to_be_bytes());
    fix_checksum(&mut l);
    l
}

/// Sets the checksum (last 2 bytes) so that the 256 big-endian words XOR to 0.
pub fn fix_checksum(l: &mut [u8]) {
    let csum = (0..255).fold(0u16, |x, i| {
        x ^ u16::from_be_bytes([l[2 * i], l[2 * i + 1]])
    });
    l[510..512].copy_from_slice(&csum.to_be_bytes());
}
