//! Loop devices for image files: find the one already bound to a file, attach a new one,
//! detach.
//!
//! Unlike the reference, an existing loop is found through sysfs (`loop/backing_file`) alone,
//! so it works without udev's `/dev/block/MAJ:MIN` links (containers, initramfs).
//!
//! A new loop is bound with `LOOP_CONFIGURE` (one call: file, status and flags), falling back
//! to `LOOP_SET_FD` + `LOOP_SET_STATUS64` on kernels before 5.8. A loop may be bound with
//! `LO_FLAGS_AUTOCLEAR`, so that the kernel detaches it when its last opener closes it: with
//! `LOOP_CONFIGURE` there is no moment at which a killed process leaves it bound (with the
//! fallback, only the instant between the two calls).

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
    use super::{LoopConfig, LoopInfo64};
    nix::ioctl_write_int_bad!(loop_set_fd, 0x4C00);
    nix::ioctl_none_bad!(loop_clr_fd, 0x4C01);
    nix::ioctl_write_ptr_bad!(loop_set_status64, 0x4C04, LoopInfo64);
    nix::ioctl_write_ptr_bad!(loop_configure, 0x4C0A, LoopConfig);
    nix::ioctl_write_int_bad!(loop_set_block_size, 0x4C09);
    nix::ioctl_none_bad!(loop_ctl_get_free, 0x4C82);
}
use sys::{
    loop_clr_fd, loop_configure, loop_ctl_get_free, loop_set_block_size, loop_set_fd,
    loop_set_status64,
};

/// How many times a detach is retried while the device is busy (one second apart).
pub const DETACH_RETRIES: u32 = 5;
/// How many free loop devices are tried when another process grabs ours first.
pub const ATTACH_ATTEMPTS: u32 = 16;

/// The block major of loop devices.
pub const LOOP_MAJOR: u32 = 7;

/// `LO_FLAGS_READ_ONLY` from `<linux/loop.h>`.
const LO_FLAGS_READ_ONLY: u32 = 1;

/// `struct loop_info64` from `<linux/loop.h>` (232 bytes).
#[derive(Clone)]
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

/// `struct loop_config` from `<linux/loop.h>` (304 bytes), the argument of `LOOP_CONFIGURE`.
#[repr(C)]
pub struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// A loop device bound to an image file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopDevice {
    /// Device node, e.g. `/dev/loop0`.
    pub path: PathBuf,
    /// Whether it was bound read-only (so partition maps must be read-only too).
    pub read_only: bool,
}

/// Finds a loop device that shows `file` (an absolute, resolved path) from its first byte
/// (offset 0). When several are bound to it, the lowest-numbered one wins.
pub fn find_by_backing_file(file: &Path) -> Option<LoopDevice> {
    let name = bound_to(file).into_iter().next()?;
    let read_only = sysfs_attr(&name, "ro").is_some_and(|ro| ro == "1");
    Some(LoopDevice {
        path: Path::new("/dev").join(name),
        read_only,
    })
}

/// `/sys/block/NAME/ATTR`, trimmed.
fn sysfs_attr(name: &str, attr: &str) -> Option<String> {
    let text = fs::read_to_string(Path::new(sysfs::SYSFS).join("block").join(name).join(attr));
    text.ok().map(|t| t.trim().to_string())
}

/// The loop devices that exist now, as (number, kernel name), lowest number first.
fn existing_loops() -> Vec<(u32, String)> {
    let Ok(entries) = fs::read_dir(Path::new(sysfs::SYSFS).join("block")) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String)> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|name| Some((name.strip_prefix("loop")?.parse().ok()?, name)))
        .collect();
    found.sort();
    found
}

/// Kernel names (`loop3`) of every loop device bound to `file` at offset 0, lowest number
/// first. A loop that shows the file from another offset shows another disk.
pub fn bound_to(file: &Path) -> Vec<String> {
    existing_loops()
        .into_iter()
        .map(|(_, name)| name)
        .filter(|name| sysfs::loop_backing_file(name).as_deref() == Some(file))
        .filter(|name| sysfs_attr(name, "loop/offset").is_none_or(|o| o == "0"))
        .collect()
}

/// The logical block size of the loop device `name` (`loop3`), from sysfs.
pub fn logical_block_size(name: &str) -> Option<u32> {
    sysfs_attr(name, "queue/logical_block_size")?.parse().ok()
}

/// The number `LOOP_CTL_GET_FREE` would return given the loop devices that exist, as
/// (number, bound) pairs in any order: the lowest-numbered unbound one, else the lowest number
/// that no device has (the kernel allocates new numbers from an IDR, lowest free first).
pub fn predict_free(loops: &[(u32, bool)]) -> u32 {
    let unbound = loops.iter().filter(|(_, bound)| !bound).map(|(n, _)| *n);
    if let Some(n) = unbound.min() {
        return n;
    }
    let mut taken: Vec<u32> = loops.iter().map(|(n, _)| *n).collect();
    taken.sort_unstable();
    let mut next = 0;
    for n in taken {
        if n == next {
            next += 1;
        } else if n > next {
            break;
        }
    }
    next
}

/// Predicts, from sysfs and without creating anything, the loop device number the next
/// `LOOP_CTL_GET_FREE` would return (see [`predict_free`]). Only a prediction: another
/// process may bind that device first.
pub fn predict_next_free() -> u32 {
    let loops: Vec<(u32, bool)> = existing_loops()
        .into_iter()
        .map(|(n, name)| (n, sysfs::loop_backing_file(&name).is_some()))
        .collect();
    predict_free(&loops)
}

/// How a new loop device is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachOptions {
    /// Open the image read-only (else read-write, falling back to read-only when refused).
    pub read_only: bool,
    /// Logical block size in bytes (512 to 4096, a power of two); 0 leaves the kernel's
    /// default (512).
    pub block_size: u32,
}

/// Why a loop device could not be bound: what was being done and the system's answer.
#[derive(Debug)]
pub struct AttachError {
    /// The object or step that failed (`/dev/loop-control`, `/dev/loop3: LOOP_CONFIGURE`),
    /// `None` when opening the image file itself failed.
    pub context: Option<String>,
    /// The error the system returned.
    pub source: io::Error,
}

impl std::fmt::Display for AttachError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cause = crate::sys_text::strerror(&self.source);
        match &self.context {
            Some(context) => write!(f, "{context}: {cause}"),
            None => f.write_str(&cause),
        }
    }
}

impl std::error::Error for AttachError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl AttachError {
    fn at(context: impl Into<String>, source: impl Into<io::Error>) -> AttachError {
        AttachError {
            context: Some(context.into()),
            source: source.into(),
        }
    }
}

/// Binds a free loop device to `file`. Opens the file read-write unless `opts.read_only`; when
/// that is refused (EROFS, EACCES) it falls back to read-only and says so in the result.
/// When another process binds the free device first, another one is tried, at most
/// [`ATTACH_ATTEMPTS`] in all.
pub fn attach(file: &Path, opts: AttachOptions) -> Result<LoopDevice, AttachError> {
    let (backing, read_only) =
        open_backing(file, opts.read_only).map_err(|source| AttachError {
            context: None,
            source,
        })?;
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/loop-control")
        .map_err(|e| AttachError::at("/dev/loop-control", e))?;
    let next_free = || {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
        unsafe { loop_ctl_get_free(control.as_raw_fd()) }
            .map(|number| PathBuf::from(format!("/dev/loop{number}")))
            .map_err(|e| AttachError::at("/dev/loop-control: LOOP_CTL_GET_FREE", e))
    };
    let info = loop_info(file, read_only);
    let (path, _dev) = retry_busy(ATTACH_ATTEMPTS, next_free, |path| {
        bind(path, &backing, &info, read_only, opts.block_size)
    })?;
    Ok(LoopDevice { path, read_only })
}

/// Asks `next_free` for a device and `bind`s it, again while the bind fails with EBUSY
/// (another process bound that device between the two calls), at most `attempts` times.
fn retry_busy<T>(
    attempts: u32,
    mut next_free: impl FnMut() -> Result<PathBuf, AttachError>,
    mut bind: impl FnMut(&Path) -> Result<T, AttachError>,
) -> Result<(PathBuf, T), AttachError> {
    let mut last: Option<PathBuf> = None;
    for _ in 0..attempts {
        let path = next_free()?;
        match bind(&path) {
            Ok(bound) => return Ok((path, bound)),
            Err(e) if e.source.raw_os_error() == Some(libc::EBUSY) => last = Some(path),
            Err(e) => return Err(e),
        }
    }
    let last = last.map_or_else(String::new, |p| format!(", the last {}", p.display()));
    Err(AttachError::at(
        format!("{attempts} free loop devices in a row were taken by another process{last}"),
        io::Error::from_raw_os_error(libc::EBUSY),
    ))
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

/// Binds the loop device at `loop_path` to `backing`; returns the descriptor it was bound
/// through, which an auto-clearing loop needs open to stay bound.
fn bind(
    loop_path: &Path,
    backing: &File,
    info: &LoopInfo64,
    read_only: bool,
    block_size: u32,
) -> Result<File, AttachError> {
    let shown = loop_path.display();
    let dev = OpenOptions::new()
        .read(true)
        .write(!read_only)
        .custom_flags(libc::O_CLOEXEC)
        .open(loop_path)
        .map_err(|e| AttachError::at(shown.to_string(), e))?;
    let config = LoopConfig {
        fd: backing.as_raw_fd().unsigned_abs(),
        block_size,
        info: info.clone(),
        reserved: [0; 8],
    };
    // SAFETY: the pointer refers to a fully initialised loop_config that outlives the call;
    // the descriptor it names stays open for the call.
    match unsafe { loop_configure(dev.as_raw_fd(), &config) } {
        Ok(_) => return Ok(dev),
        // Kernels before 5.8 do not know LOOP_CONFIGURE: bind in two steps.
        Err(nix::errno::Errno::ENOTTY | nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(AttachError::at(format!("{shown}: LOOP_CONFIGURE"), e)),
    }
    // SAFETY: LOOP_SET_FD takes the backing file descriptor, which stays open for the call.
    unsafe { loop_set_fd(dev.as_raw_fd(), backing.as_raw_fd()) }
        .map_err(|e| AttachError::at(format!("{shown}: LOOP_SET_FD"), e))?;
    // SAFETY: the pointer refers to a fully initialised loop_info64 that outlives the call.
    if let Err(e) = unsafe { loop_set_status64(dev.as_raw_fd(), info) } {
        // SAFETY: LOOP_CLR_FD takes no argument; it undoes the SET_FD above.
        let _ = unsafe { loop_clr_fd(dev.as_raw_fd()) };
        return Err(AttachError::at(format!("{shown}: LOOP_SET_STATUS64"), e));
    }
    if block_size > 512 {
        // SAFETY: LOOP_SET_BLOCK_SIZE takes the size as its argument.
        let set = unsafe { loop_set_block_size(dev.as_raw_fd(), block_size as libc::c_int) };
        if let Err(e) = set {
            // SAFETY: as above, undoes the SET_FD.
            let _ = unsafe { loop_clr_fd(dev.as_raw_fd()) };
            return Err(AttachError::at(format!("{shown}: LOOP_SET_BLOCK_SIZE"), e));
        }
    }
    Ok(dev)
}

/// The status a new loop gets: the file's name, no offset, and the flags asked for
/// (`LOOP_SET_STATUS64` ignores the read-only flag; the mode of the backing file decides).
fn loop_info(name: &Path, read_only: bool) -> LoopInfo64 {
    let mut lo_file_name = [0u8; 64];
    let bytes = name.as_os_str().as_encoded_bytes();
    let n = bytes.len().min(63);
    lo_file_name[..n].copy_from_slice(&bytes[..n]);
    let mut lo_flags = 0;
    if read_only {
        lo_flags |= LO_FLAGS_READ_ONLY;
    }
    LoopInfo64 {
        lo_device: 0,
        lo_inode: 0,
        lo_rdevice: 0,
        lo_offset: 0,
        lo_sizelimit: 0,
        lo_number: 0,
        lo_encrypt_type: 0,
        lo_encrypt_key_size: 0,
        lo_flags,
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
    fn loop_config_has_kernel_layout() {
        assert_eq!(std::mem::size_of::<LoopConfig>(), 304);
        assert_eq!(std::mem::offset_of!(LoopConfig, info), 8);
    }

    #[test]
    fn predicts_the_lowest_unbound_loop() {
        assert_eq!(predict_free(&[(3, false), (0, true), (1, false)]), 1);
        assert_eq!(predict_free(&[(7, false)]), 7);
    }

    #[test]
    fn predicts_the_lowest_missing_number_when_all_are_bound() {
        assert_eq!(predict_free(&[]), 0);
        assert_eq!(predict_free(&[(0, true), (1, true), (2, true)]), 3);
        // The kernel fills gaps (lowest free IDR slot), it does not take highest + 1.
        assert_eq!(predict_free(&[(0, true), (1, true), (40, true)]), 2);
        assert_eq!(predict_free(&[(1, true), (2, true)]), 0);
        assert_eq!(
            predict_free(&[(2, true), (0, true), (0, true), (1, true)]),
            3
        );
    }

    #[test]
    fn loop_info_truncates_long_names() {
        let long = PathBuf::from(format!("/{}", "a".repeat(100)));
        let info = loop_info(&long, false);
        assert_eq!(info.lo_file_name[62], b'a');
        assert_eq!(info.lo_file_name[63], 0);
    }

    #[test]
    fn loop_info_carries_the_flags_asked_for() {
        let name = Path::new("/img");
        assert_eq!(loop_info(name, false).lo_flags, 0);
        assert_eq!(loop_info(name, true).lo_flags, LO_FLAGS_READ_ONLY);
    }

    /// A `next_free` that hands out /dev/loop0, /dev/loop1, ...
    fn counter() -> impl FnMut() -> Result<PathBuf, AttachError> {
        let mut n = 0;
        move || {
            n += 1;
            Ok(PathBuf::from(format!("/dev/loop{}", n - 1)))
        }
    }

    fn busy(path: &Path) -> AttachError {
        AttachError::at(path.display().to_string(), nix::errno::Errno::EBUSY)
    }

    #[test]
    fn busy_devices_are_skipped() {
        let mut calls = 0;
        let (path, ()) = retry_busy(16, counter(), |p| {
            calls += 1;
            if calls < 3 { Err(busy(p)) } else { Ok(()) }
        })
        .expect("third device binds");
        assert_eq!(path, Path::new("/dev/loop2"));
    }

    #[test]
    fn retries_are_bounded_and_say_why() {
        let mut calls = 0;
        let err = retry_busy(4, counter(), |p| -> Result<(), _> {
            calls += 1;
            Err(busy(p))
        })
        .expect_err("every device is busy");
        assert_eq!(calls, 4);
        assert_eq!(err.source.raw_os_error(), Some(libc::EBUSY));
        let context = err.context.expect("context");
        assert!(context.contains("4 free loop devices"), "{context}");
        assert!(context.contains("/dev/loop3"), "{context}");
    }

    #[test]
    fn other_bind_errors_stop_at_once() {
        let mut calls = 0;
        let err = retry_busy(16, counter(), |p| -> Result<(), _> {
            calls += 1;
            Err(AttachError::at(
                p.display().to_string(),
                nix::errno::Errno::EPERM,
            ))
        })
        .expect_err("EPERM is final");
        assert_eq!(calls, 1);
        assert_eq!(err.source.raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn a_failing_get_free_stops_at_once() {
        let err = retry_busy(
            16,
            || {
                Err(AttachError::at(
                    "/dev/loop-control",
                    nix::errno::Errno::ENOSPC,
                ))
            },
            |_| Ok(()),
        )
        .expect_err("no free device");
        assert_eq!(err.source.raw_os_error(), Some(libc::ENOSPC));
    }
}
