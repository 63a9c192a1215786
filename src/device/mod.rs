//! Talking to block devices: reading them, loop devices for image files, and sysfs facts.

pub mod blkpg;
pub mod blockdev;
pub mod loop_records;
pub mod loopdev;
pub mod sysfs;

// Defined in the readers' library, next to the map names and UUIDs that use it.
pub use kpartx_table::DevNum;
