//! Small helpers that turn system values into the text users read: an I/O error's plain
//! errno text and a path's POSIX basename.
//!
//! A leaf module: it imports nothing from the crate, so any module (device code, resolution,
//! output) can use it without depending on another.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;

/// The C library's text for an I/O error (without Rust's " (os error N)" suffix).
pub fn strerror(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}

/// POSIX `basename`: the last component, ignoring trailing slashes (bytes, like the path).
pub fn basename(path: &OsStr) -> OsString {
    let bytes = path.as_bytes();
    let end = bytes.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    if end == 0 {
        return if bytes.is_empty() { "." } else { "/" }.into();
    }
    let start = bytes[..end]
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    OsStr::from_bytes(&bytes[start..end]).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basename_is_posix() {
        let base = |p: &str| basename(OsStr::new(p));
        assert_eq!(base("/dev/sda"), "sda");
        assert_eq!(base("my link"), "my link");
        assert_eq!(base("/dev/mapper/x/"), "x");
        assert_eq!(base("/"), "/");
        assert_eq!(base("//"), "/");
        assert_eq!(base(""), ".");
        assert_eq!(
            basename(OsStr::from_bytes(b"/dev/disk/caf\xe9/")).as_bytes(),
            b"caf\xe9"
        );
    }

    #[test]
    fn strerror_is_the_plain_errno_text() {
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(strerror(&e), "Permission denied");
        assert_eq!(e.to_string(), "Permission denied (os error 13)");
        assert_eq!(
            strerror(&io::Error::other("no such thing")),
            "no such thing"
        );
    }
}
