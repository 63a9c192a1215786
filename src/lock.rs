//! Advisory locks that serialise kpartx runs working on the same parent, so that two racing
//! `-a`/`-d` runs never leave half-created or orphaned maps. Every wait is bounded.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// Where lock files live (one per parent; they are tiny and never removed, which keeps
/// locking race-free).
pub const LOCK_DIR: &str = "/run/kpartx";

/// How long a run waits for another kpartx working on the same device.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// The lock name of a block device, shared by every front end.
pub fn device_key(dev: crate::device::DevNum) -> String {
    format!("b-{dev}")
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the exclusive lock named `key`, waiting at most `timeout`.
pub fn acquire(key: &str, timeout: Duration) -> io::Result<Lock> {
    acquire_in(Path::new(LOCK_DIR), key, timeout)
}

/// Like [`acquire`], in another directory.
pub fn acquire_in(dir: &Path, key: &str, timeout: Duration) -> io::Result<Lock> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(lock_path(dir, key))?;
    let deadline = Instant::now() + timeout;
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Lock { _file: file });
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(err);
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "another kpartx is still working on this device after {}s",
                    timeout.as_secs()
                ),
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn lock_path(dir: &Path, key: &str) -> PathBuf {
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let held = acquire_in(dir.path(), "b-7:0", Duration::from_secs(1)).unwrap();
        let start = Instant::now();
        let err = acquire_in(dir.path(), "b-7:0", Duration::from_millis(100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(2));
        acquire_in(dir.path(), "b-7:1", Duration::ZERO).unwrap();
        drop(held);
        acquire_in(dir.path(), "b-7:0", Duration::ZERO).unwrap();
    }

    #[test]
    fn keys_become_safe_file_names() {
        assert_eq!(
            lock_path(Path::new("/x"), "f-2049-/a b"),
            PathBuf::from("/x/f-2049-_a_b.lock")
        );
    }
}
