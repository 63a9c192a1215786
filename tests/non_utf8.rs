//! Paths, delimiters and udev environment variables that are not UTF-8: handled as bytes where
//! the reference does, refused with a clear message where a string is needed, never a panic.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::{Command, Output, Stdio};

const KPARTX: &str = env!("CARGO_BIN_EXE_kpartx");

fn assert_no_panic(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_ne!(out.status.code(), Some(101), "stderr: {stderr}");
}

/// Runs helper mode with exactly these environment variables.
fn helper(vars: &[(&str, &OsStr)]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(KPARTX);
    cmd.arg("--udev").env_clear().current_dir(dir.path());
    for (key, value) in vars {
        cmd.env(key, value);
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run kpartx --udev");
    assert_no_panic(&out);
    out
}

#[test]
fn helper_ignores_unread_non_utf8_variables() {
    let label = OsString::from_vec(b"caf\xe9".to_vec());
    let out = helper(&[
        ("ACTION", OsStr::new("add")),
        ("MAJOR", OsStr::new("7")),
        ("MINOR", OsStr::new("0")),
        ("DEVNAME", OsStr::new("/dev/loop0")),
        ("ID_FS_LABEL", &label),
    ]);
    // The built-in policy gives loop devices no partitions: nothing to do.
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn helper_refuses_a_non_utf8_variable_it_reads() {
    let name = OsString::from_vec(b"mpath\xe9".to_vec());
    let out = helper(&[
        ("ACTION", OsStr::new("add")),
        ("MAJOR", OsStr::new("254")),
        ("MINOR", OsStr::new("0")),
        ("DEVNAME", OsStr::new("/dev/dm-0")),
        ("DM_NAME", &name),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn udev_id_survives_non_utf8_variables() {
    let mut cmd = Command::new(KPARTX);
    cmd.arg("--udev-id")
        .env_clear()
        .env("MAJOR", "254")
        .env("MINOR", "1")
        .env("DM_UUID", "part1-mpath-3600a0b8")
        .env("ID_FS_LABEL", OsStr::from_bytes(b"caf\xe9"));
    let out = cmd.output().expect("run kpartx --udev-id");
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0));
}
