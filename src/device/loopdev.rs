//! Loop devices for image files: find the one already bound to a file, attach a new one,
//! detach.
//!
//! Unlike the reference, an existing loop is found through sysfs (`loop/backing_file`) alone,
//! so it works without udev's `/dev/block/MAJ:MIN` links (containers, initramfs).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use super::sysfs;

/// Raw loop-device ioctls.
mod sys {
    use super::LoopInfo64;
    nix::ioctl_write_int_bad!(loop_set_fd, 0x4C00);
    nix::ioctl_none_bad!(loop_clr_fd, 0x4C01);
    nix::ioctl_write_ptr_bad!(loop_set_status64, 0x4C04, LoopInfo64);
    nix::ioctl_none_bad!(loop_ctl_get_free, 0x4C82);
}
use sys::{loop_clr_fd, loop_ctl_get_free, loop_set_fd, loop_set_status64};

/// How many times a detach is retried while the device is busy (one second apart).
pub const DETACH_RETRIES: u32 = 5;
/// How many free loop devices are tried when another process grabs ours first.
const ATTACH_ATTEMPTS: u32 = 16;

/// `struct loop_info64` from `<linux/loop.h>` (232 bytes).
#[repr(C)]
pub struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

/// A loop device bound to an image file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopDevice {
    /// Device node, e.g. `/dev/loop0`.
    pub path: PathBuf,
    /// Whether it was bound read-only (so partition maps must be read-only too).
    pub read_only: bool,
}

/// Finds a loop device whose backing file is `file` (an absolute, resolved path).
/// When several are bound to it, the lowest-numbered one wins.
pub fn find_by_backing_file(file: &Path) -> Option<LoopDevice> {
    let mut found: Vec<(u32, String)> = fs::read_dir(Path::new(sysfs::SYSFS).join("block"))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|name| Some((name.strip_prefix("loop")?.parse().ok()?, name)))
        .filter(|(_, name)| sysfs::loop_backing_file(name).as_deref() == Some(file))
        .collect();
    found.sort();
    let (_, name) = found.into_iter().next()?;
    let read_only =
        fs::read_to_string(Path::new(sysfs::SYSFS).join("block").join(&name).join("ro"))
            .is_ok_and(|ro| ro.trim() == "1");
    Some(LoopDevice {
        path: Path::new("/dev").join(name),
        read_only,
    })
}

/// Binds a free loop device to `file`. Opens the file read-write unless `read_only`; when
/// that is refused (EROFS, EACCES) it falls back to read-only and says so in the result.
pub fn attach(file: &Path, read_only: bool) -> io::Result<LoopDevice> {
    let (backing, read_only) = open_backing(file, read_only)?;
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/loop-control")?;
    let mut last_err = io::Error::other("no free loop device");
    for _ in 0..ATTACH_ATTEMPTS {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
        let number = unsafe { loop_ctl_get_free(control.as_raw_fd()) }?;
        let path = PathBuf::from(format!("/dev/loop{number}"));
        match bind(&path, &backing, file, read_only) {
            Ok(()) => return Ok(LoopDevice { path, read_only }),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => last_err = e,
            Err(e) => return Err(e),
        }
    }
    Err(last_err)
}

fn open_backing(file: &Path, read_only: bool) -> io::Result<(File, bool)> {
    let open = |write: bool| {
        OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_CLOEXEC)
            .open(file)
    };
    if read_only {
        return Ok((open(false)?, true));
    }
    match open(true) {
        Ok(f) => Ok((f, false)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EROFS) | Some(libc::EACCES)) => {
            Ok((open(false)?, true))
        }
        Err(e) => Err(e),
    }
}

fn bind(loop_path: &Path, backing: &File, name: &Path, read_only: bool) -> io::Result<()> {
    let dev = OpenOptions::new()
        .read(true)
        .write(!read_only)
        .custom_flags(libc::O_CLOEXEC)
        .open(loop_path)?;
    // SAFETY: LOOP_SET_FD takes the backing file descriptor, which stays open for the call.
    unsafe { loop_set_fd(dev.as_raw_fd(), backing.as_raw_fd()) }?;
    let info = loop_info(name);
    // SAFETY: the pointer refers to a fully initialised loop_info64 that outlives the call.
    if let Err(e) = unsafe { loop_set_status64(dev.as_raw_fd(), &info) } {
        // SAFETY: LOOP_CLR_FD takes no argument; it undoes the SET_FD above.
        let _ = unsafe { loop_clr_fd(dev.as_raw_fd()) };
        return Err(e.into());
    }
    Ok(())
}

fn loop_info(name: &Path) -> LoopInfo64 {
    let mut lo_file_name = [0u8; 64];
    let bytes = name.as_os_str().as_encoded_bytes();
    let n = bytes.len().min(63);
    lo_file_name[..n].copy_from_slice(&bytes[..n]);
    LoopInfo64 {
        lo_device: 0,
        lo_inode: 0,
        lo_rdevice: 0,
        lo_offset: 0,
        lo_sizelimit: 0,
        lo_number: 0,
        lo_encrypt_type: 0,
        lo_encrypt_key_size: 0,
        lo_flags: 0,
        lo_file_name,
        lo_crypt_name: [0; 64],
        lo_encrypt_key: [0; 32],
        lo_init: [0; 2],
    }
}

/// Unbinds a loop device, retrying while it is busy. `on_retry` is told before each retry.
pub fn detach(path: &Path, mut on_retry: impl FnMut()) -> io::Result<()> {
    let dev = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    let mut attempt = 0;
    loop {
        // SAFETY: LOOP_CLR_FD takes no argument.
        match unsafe { loop_clr_fd(dev.as_raw_fd()) } {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EBUSY) if attempt < DETACH_RETRIES => {
                attempt += 1;
                on_retry();
                thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_info_has_kernel_layout() {
        assert_eq!(std::mem::size_of::<LoopInfo64>(), 232);
    }

    #[test]
    fn loop_info_truncates_long_names() {
        let long = PathBuf::from(format!("/{}", "a".repeat(100)));
        let info = loop_info(&long);
        assert_eq!(info.lo_file_name[62], b'a');
        assert_eq!(info.lo_file_name[63], 0);
    }
}
