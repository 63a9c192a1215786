//! Talking to block devices: reading them, loop devices for image files, and sysfs facts.

pub mod blkpg;
pub mod blockdev;
pub mod loop_records;
pub mod loopdev;
pub mod sysfs;

use std::fmt;

/// A block device number.
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

    /// Splits a kernel `dev_t`.
    pub fn from_dev_t(dev: u64) -> Self {
        DevNum::new(libc::major(dev), libc::minor(dev))
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
