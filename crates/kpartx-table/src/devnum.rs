//! Block device numbers (`major:minor`).

use std::fmt;

/// A block device number.
///
/// ```
/// use kpartx_table::DevNum;
///
/// let dev = DevNum::parse("253:4").unwrap();
/// assert_eq!(dev, DevNum::new(253, 4));
/// assert_eq!(dev.to_string(), "253:4");
/// assert_eq!(DevNum::from_dev_t(0xfd04), dev);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevNum {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl DevNum {
    /// A device number from its parts.
    pub fn new(major: u32, minor: u32) -> Self {
        DevNum { major, minor }
    }

    /// Splits a Linux `dev_t` (as in `st_rdev`): the major number is bits 8–19 and 44–63, the
    /// minor number bits 0–7 and 20–43, as the C library's `major()` and `minor()` read them.
    pub fn from_dev_t(dev: u64) -> Self {
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
        let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
        // Both are at most 32 bits wide by the masks above.
        DevNum::new(major as u32, minor as u32)
    }

    /// Parses `MAJ:MIN`.
    pub fn parse(text: &str) -> Option<Self> {
        let (major, minor) = text.trim().split_once(':')?;
        Some(DevNum::new(major.parse().ok()?, minor.parse().ok()?))
    }
}

impl fmt::Display for DevNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::DevNum;

    #[test]
    fn dev_t_splits_like_the_c_library() {
        for dev in [
            0u64,
            0xfd04,
            0x0801,
            0x1234_5678_9abc_def0,
            u64::MAX,
            (0xabcde << 44) | (0x12345 << 20) | (0x678 << 8) | 0x9a,
        ] {
            assert_eq!(
                DevNum::from_dev_t(dev),
                DevNum::new(libc::major(dev), libc::minor(dev)),
                "{dev:#x}"
            );
        }
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(DevNum::parse(" 7:3\n"), Some(DevNum::new(7, 3)));
        assert_eq!(DevNum::parse("7"), None);
        assert_eq!(DevNum::parse("7:x"), None);
        assert_eq!(DevNum::new(259, 1).to_string(), "259:1");
    }
}
