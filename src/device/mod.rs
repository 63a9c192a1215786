//! Talking to block devices: reading them, loop devices for image files, and sysfs facts.

pub mod blkpg;
pub mod blockdev;
pub mod loop_records;
pub mod loopdev;
pub mod sysfs;
