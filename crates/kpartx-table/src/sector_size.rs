//! Which logical sector size an image file's partition table was written for.
//!
//! A disk image has no sector size of its own: the table in it was written for the disk it came
//! from. A GPT names its own position (the primary header sits in logical block 1, so at byte
//! 512 on a 512-byte disk and at byte 4096 on a 4K-native one); the other formats do not say, so
//! only GPT decides, and only when the answer is unambiguous.

use std::fmt;

/// Signature of a GPT header.
const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";
/// Bytes of an image [`native_sector_size`] looks at.
pub const HEAD_BYTES: usize = 4096 + 512;

/// The `--sector-size` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SectorSize {
    /// Decide from the image's contents ([`native_sector_size`]).
    #[default]
    Auto,
    /// Always this many bytes (512 or 4096).
    Fixed(u32),
}

impl SectorSize {
    /// The sizes `--sector-size` accepts besides `auto`.
    pub const FIXED: [u32; 2] = [512, 4096];

    /// Parses `512`, `4096` or `auto`.
    pub fn parse(text: &str) -> Option<SectorSize> {
        match text {
            "auto" => Some(SectorSize::Auto),
            _ => text
                .parse()
                .ok()
                .filter(|n| Self::FIXED.contains(n))
                .map(SectorSize::Fixed),
        }
    }

    /// The size to use for an image whose first bytes are `head`.
    pub fn for_image(self, head: &[u8]) -> u32 {
        match self {
            SectorSize::Auto => native_sector_size(head),
            SectorSize::Fixed(n) => n,
        }
    }
}

impl fmt::Display for SectorSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SectorSize::Auto => f.write_str("auto"),
            SectorSize::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// Whether `head` holds a GPT header at byte `offset` that says it lies in logical block 1.
fn gpt_header_at(head: &[u8], offset: usize) -> bool {
    let Some(header) = head.get(offset..offset + 32) else {
        return false;
    };
    let my_lba = header[24..32]
        .try_into()
        .map(u64::from_le_bytes)
        .unwrap_or_default();
    &header[..8] == GPT_SIGNATURE && my_lba == 1
}

/// The logical sector size the table in an image was written for, from its first
/// [`HEAD_BYTES`] bytes (fewer when the image is shorter): 4096 when a GPT header is at byte
/// 4096 and none at byte 512, else 512.
pub fn native_sector_size(head: &[u8]) -> u32 {
    if !gpt_header_at(head, 512) && gpt_header_at(head, 4096) {
        4096
    } else {
        512
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_at(head: &mut [u8], offset: usize, my_lba: u64) {
        head[offset..offset + 8].copy_from_slice(GPT_SIGNATURE);
        head[offset + 24..offset + 32].copy_from_slice(&my_lba.to_le_bytes());
    }

    #[test]
    fn gpt_at_4096_only_is_4k_native() {
        let mut head = vec![0u8; HEAD_BYTES];
        header_at(&mut head, 4096, 1);
        assert_eq!(native_sector_size(&head), 4096);
    }

    #[test]
    fn gpt_at_512_wins() {
        let mut head = vec![0u8; HEAD_BYTES];
        header_at(&mut head, 512, 1);
        assert_eq!(native_sector_size(&head), 512);
        // Both: a 512-byte table that happens to have a header copy at 4096 stays 512.
        header_at(&mut head, 4096, 1);
        assert_eq!(native_sector_size(&head), 512);
    }

    #[test]
    fn no_table_short_image_or_wrong_lba_is_512() {
        assert_eq!(native_sector_size(&[]), 512);
        assert_eq!(native_sector_size(&[0u8; 4100]), 512);
        let mut head = vec![0u8; HEAD_BYTES];
        header_at(&mut head, 4096, 8);
        assert_eq!(
            native_sector_size(&head),
            512,
            "a header that is not in block 1"
        );
        let mut head = vec![0u8; 4096 + 20];
        head[4096..4104].copy_from_slice(GPT_SIGNATURE);
        assert_eq!(native_sector_size(&head), 512, "truncated header");
    }

    #[test]
    fn parse_and_choice() {
        assert_eq!(SectorSize::parse("auto"), Some(SectorSize::Auto));
        assert_eq!(SectorSize::parse("4096"), Some(SectorSize::Fixed(4096)));
        assert_eq!(SectorSize::parse("512"), Some(SectorSize::Fixed(512)));
        assert_eq!(SectorSize::parse("1024"), None);
        assert_eq!(SectorSize::parse("x"), None);
        let mut head = vec![0u8; HEAD_BYTES];
        header_at(&mut head, 4096, 1);
        assert_eq!(SectorSize::Auto.for_image(&head), 4096);
        assert_eq!(SectorSize::Fixed(512).for_image(&head), 512);
        assert_eq!(SectorSize::Auto.to_string(), "auto");
    }
}
