//! Records of the loop devices `-a`/`-u` attached, so that `--prune` can later detach those
//! that no longer carry any map — and never a loop some other tool attached.
//!
//! One file per loop in [`RECORD_DIR`], named after the loop (`loop3`), holding the image
//! file's resolved path (bytes, as sysfs reports it). Written right after the attach, removed
//! when kpartx detaches the loop. A record whose loop is no longer bound to that file is stale
//! (the loop was detached by something else, perhaps reused): `--prune` drops it and leaves
//! the device alone.

use std::fs;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Where the records live.
pub const RECORD_DIR: &str = "/run/kpartx/loops";

/// Records that this tool attached loop `name` (`loop3`) to `file`.
pub fn record(name: &str, file: &Path) -> io::Result<()> {
    record_in(Path::new(RECORD_DIR), name, file)
}

/// Drops the record of loop `name`, if any.
pub fn forget(name: &str) {
    forget_in(Path::new(RECORD_DIR), name);
}

/// Every recorded loop: kernel name and image file, by name.
pub fn list() -> Vec<(String, PathBuf)> {
    list_in(Path::new(RECORD_DIR))
}

fn valid(name: &str) -> bool {
    name.strip_prefix("loop")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// [`record`] in another directory.
pub fn record_in(dir: &Path, name: &str, file: &Path) -> io::Result<()> {
    if !valid(name) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, file.as_os_str().as_bytes())?;
    fs::rename(&tmp, dir.join(name))
}

/// [`forget`] in another directory.
pub fn forget_in(dir: &Path, name: &str) {
    if valid(name) {
        let _ = fs::remove_file(dir.join(name));
    }
}

/// [`list`] in another directory.
pub fn list_in(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok().filter(|n| valid(n))?;
            let bytes = fs::read(e.path()).ok().filter(|b| !b.is_empty())?;
            Some((name, PathBuf::from(std::ffi::OsString::from_vec(bytes))))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("loops");
        assert!(list_in(&d).is_empty());
        record_in(&d, "loop3", Path::new("/img/a b.img")).unwrap();
        record_in(&d, "loop1", Path::new("/img/c.img")).unwrap();
        assert_eq!(
            list_in(&d),
            vec![
                ("loop1".to_string(), PathBuf::from("/img/c.img")),
                ("loop3".to_string(), PathBuf::from("/img/a b.img")),
            ]
        );
        forget_in(&d, "loop3");
        assert_eq!(list_in(&d).len(), 1);
    }

    #[test]
    fn only_loop_names_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        assert!(record_in(dir.path(), "../etc", Path::new("/x")).is_err());
        assert!(record_in(dir.path(), "loop", Path::new("/x")).is_err());
        fs::write(dir.path().join("other"), "/x").unwrap();
        assert!(list_in(dir.path()).is_empty());
    }
}
