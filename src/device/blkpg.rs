//! Removing the kernel's partition devices of a whole disk (`BLKPG_DEL_PARTITION`), without
//! touching the disk's contents.
//!
//! | struct `blkpg_ioctl_arg` (x86_64) | offset | size |
//! |---|---|---|
//! | `op` (`BLKPG_DEL_PARTITION` = 2) | 0 | 4 |
//! | `flags` | 4 | 4 |
//! | `datalen` (sizeof `blkpg_partition`) | 8 | 4 |
//! | `data` (pointer) | 16 | 8 |
//!
//! | struct `blkpg_partition` | offset | size |
//! |---|---|---|
//! | `start`, `length` (bytes; ignored for delete) | 0, 8 | 8 each |
//! | `pno` (partition number) | 16 | 4 |
//! | `devname`, `volname` | 20, 84 | 64 each |

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `BLKPG`: `_IO(0x12, 105)`.
const BLKPG: libc::c_ulong = 0x1269;
/// Delete a partition.
const BLKPG_DEL_PARTITION: libc::c_int = 2;

#[repr(C)]
struct BlkpgPartition {
    start: i64,
    length: i64,
    pno: libc::c_int,
    devname: [u8; 64],
    volname: [u8; 64],
}

#[repr(C)]
struct BlkpgIoctlArg {
    op: libc::c_int,
    flags: libc::c_int,
    datalen: libc::c_int,
    data: *mut libc::c_void,
}

/// The numbers of the kernel partitions of whole disk `kernel_name` (`sda`), from sysfs.
pub fn partition_numbers(sysfs_block: &Path, kernel_name: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(sysfs_block.join(kernel_name)) else {
        return Vec::new();
    };
    let mut numbers: Vec<u32> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(kernel_name))
        .filter_map(|e| fs::read_to_string(e.path().join("partition")).ok())
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    numbers.sort_unstable();
    numbers
}

/// Deletes partition `number` of the disk open as `disk`. The disk is opened read-only: the
/// ioctl changes the kernel's view of the disk, never its contents.
pub fn delete_partition(disk: &File, number: u32) -> io::Result<()> {
    let mut part = BlkpgPartition {
        start: 0,
        length: 0,
        pno: libc::c_int::try_from(number).map_err(|_| io::ErrorKind::InvalidInput)?,
        devname: [0; 64],
        volname: [0; 64],
    };
    let mut arg = BlkpgIoctlArg {
        op: BLKPG_DEL_PARTITION,
        flags: 0,
        datalen: std::mem::size_of::<BlkpgPartition>() as libc::c_int,
        data: (&mut part as *mut BlkpgPartition).cast(),
    };
    // SAFETY: BLKPG takes a pointer to a blkpg_ioctl_arg whose data points at a
    // blkpg_partition of datalen bytes; both live on this stack frame during the call.
    let rc = unsafe { libc::ioctl(disk.as_raw_fd(), BLKPG as _, &mut arg as *mut BlkpgIoctlArg) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn structs_match_the_kernel_abi() {
        assert_eq!(size_of::<BlkpgPartition>(), 152);
        assert_eq!(offset_of!(BlkpgPartition, pno), 16);
        assert_eq!(offset_of!(BlkpgPartition, devname), 20);
        assert_eq!(size_of::<BlkpgIoctlArg>(), 24);
        assert_eq!(offset_of!(BlkpgIoctlArg, data), 16);
        assert_eq!(BLKPG, nix::request_code_none!(0x12, 105) as libc::c_ulong);
    }

    #[test]
    fn partitions_are_found_in_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        for (name, number) in [("sdb1", "1"), ("sdb10", "10"), ("sdb2", "2")] {
            let p = dir.path().join("sdb").join(name);
            fs::create_dir_all(&p).unwrap();
            fs::write(p.join("partition"), format!("{number}\n")).unwrap();
        }
        fs::create_dir_all(dir.path().join("sdb/queue")).unwrap();
        fs::create_dir_all(dir.path().join("sdb/holders")).unwrap();
        assert_eq!(partition_numbers(dir.path(), "sdb"), vec![1, 2, 10]);
        assert!(partition_numbers(dir.path(), "sdc").is_empty());
    }
}
