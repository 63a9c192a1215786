//! The three device-mapper ioctls that carry a udev cookie: resume, remove and rename.
//!
//! The `devicemapper` crate issues these with its own udev handling, which has no timeout, no
//! "flags only" (nosync) form and ignores `DM_DISABLE_UDEV`. These calls build the request
//! themselves (with the crate's generated `struct dm_ioctl`) so that [`super::cookie`] decides
//! what goes into `event_nr` and how long to wait.

use std::io;
use std::mem::size_of;
use std::os::fd::RawFd;

use devicemapper_sys::{
    DM_DEV_REMOVE_CMD, DM_DEV_RENAME_CMD, DM_DEV_SUSPEND_CMD, DM_IOCTL, DM_NOFLUSH_FLAG,
    DM_SKIP_LOCKFS_FLAG, DM_UEVENT_GENERATED_FLAG, dm_ioctl,
};

const HEADER: usize = size_of::<dm_ioctl>();

/// What the kernel answered.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    /// Whether the kernel emitted a uevent (so udev will complete the cookie).
    pub uevent: bool,
}

/// Resumes `name`: its inactive table becomes live. `reload` adds noflush and skip-lockfs, as
/// for a table reload of a map in use.
pub fn resume(fd: RawFd, name: &str, event_nr: u32, reload: bool) -> io::Result<Reply> {
    let flags = if reload {
        DM_NOFLUSH_FLAG | DM_SKIP_LOCKFS_FLAG
    } else {
        0
    };
    call(fd, DM_DEV_SUSPEND_CMD, name, event_nr, flags, &[])
}

/// Removes the map `name`. Without `flush`, outstanding I/O is not waited for.
pub fn remove(fd: RawFd, name: &str, event_nr: u32, flush: bool) -> io::Result<Reply> {
    let flags = if flush { 0 } else { DM_NOFLUSH_FLAG };
    call(fd, DM_DEV_REMOVE_CMD, name, event_nr, flags, &[])
}

/// Renames the map `old` to `new`.
pub fn rename(fd: RawFd, old: &str, new: &str, event_nr: u32) -> io::Result<Reply> {
    let mut payload = new.as_bytes().to_vec();
    payload.push(0);
    call(fd, DM_DEV_RENAME_CMD, old, event_nr, 0, &payload)
}

fn call(
    fd: RawFd,
    cmd: u32,
    name: &str,
    event_nr: u32,
    flags: u32,
    payload: &[u8],
) -> io::Result<Reply> {
    let mut hdr = dm_ioctl {
        version: [4, 0, 0],
        data_size: 0,
        data_start: HEADER as u32,
        flags,
        event_nr,
        ..dm_ioctl::default()
    };
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= hdr.name.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid map name",
        ));
    }
    for (dst, &src) in hdr.name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    // The buffer holds the header followed by the payload; u64 elements keep it aligned.
    let total = (HEADER + payload.len()).div_ceil(8) * 8;
    hdr.data_size = total as u32;
    let mut buf = vec![0u64; total / 8];
    // SAFETY: `buf` has at least HEADER bytes, is 8-aligned, and dm_ioctl is plain old data.
    unsafe { std::ptr::write(buf.as_mut_ptr().cast::<dm_ioctl>(), hdr) };
    // SAFETY: `buf` spans `total` bytes; the payload fits after the header.
    let raw = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), total) };
    raw[HEADER..HEADER + payload.len()].copy_from_slice(payload);
    let request = nix::request_code_readwrite!(DM_IOCTL, cmd, HEADER);
    // SAFETY: the request is a DM ioctl whose argument is our correctly sized buffer.
    let rc = unsafe { libc::ioctl(fd, request as _, buf.as_mut_ptr()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel wrote a dm_ioctl header back into the start of `buf`.
    let out = unsafe { std::ptr::read(buf.as_ptr().cast::<dm_ioctl>()) };
    Ok(Reply {
        uevent: out.flags & DM_UEVENT_GENERATED_FLAG != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_kernel_abi() {
        assert_eq!(HEADER, 312);
        assert_eq!(
            nix::request_code_readwrite!(DM_IOCTL, DM_DEV_SUSPEND_CMD, HEADER) as u32,
            0xc138fd06
        );
        assert_eq!(
            nix::request_code_readwrite!(DM_IOCTL, DM_DEV_REMOVE_CMD, HEADER) as u32,
            0xc138fd04
        );
    }

    #[test]
    fn rejects_bad_names_without_a_syscall() {
        assert!(remove(-1, "", 0, true).is_err());
        assert!(remove(-1, &"x".repeat(128), 0, true).is_err());
    }
}
