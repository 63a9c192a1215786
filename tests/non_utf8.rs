//! Paths, delimiters and udev environment variables that are not UTF-8: handled as bytes where
//! the reference does, refused with a clear message where a string is needed, never a panic.
//!
//! `-l` of an image file needs no loop device and no root; the one test that binds a loop
//! itself skips through `testkit::host::skip` without root.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use kpartx::testkit::dos::one_partition_image as dos_image;
use kpartx::testkit::host::{self, assert_no_panic, is_root, without_loop_numbers};

const KPARTX: &str = env!("CARGO_BIN_EXE_kpartx");

fn run_with_stdout(args: &[&OsStr], stdout: Stdio) -> Output {
    host::run_with_stdout(KPARTX, args, stdout)
}

fn list(args: &[&OsStr]) -> Output {
    let out = run_with_stdout(args, Stdio::piped());
    assert_no_panic(&out);
    out
}

#[test]
fn non_utf8_image_path_lists_like_a_plain_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("plain.img");
    let odd = dir.path().join(OsStr::from_bytes(b"caf\xe9.img"));
    dos_image(&plain);
    dos_image(&odd);
    let expected = list(&[OsStr::new("-l"), plain.as_os_str()]);
    assert_eq!(expected.status.code(), Some(0));
    assert!(
        expected.stdout.starts_with(b"loop"),
        "{:?}",
        String::from_utf8_lossy(&expected.stdout)
    );
    let got = list(&[OsStr::new("-l"), odd.as_os_str()]);
    assert_eq!(
        got.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&without_loop_numbers(&got.stdout)),
        String::from_utf8_lossy(&without_loop_numbers(&expected.stdout))
    );
}

#[test]
fn non_utf8_delimiter_is_listed_as_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("disk.img");
    dos_image(&img);
    let delimiter = OsString::from_vec(b"-\xe9".to_vec());
    let out = list(&[
        OsStr::new("-l"),
        OsStr::new("-p"),
        &delimiter,
        img.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        without_loop_numbers(&out.stdout),
        b"loopN-\xe91 : 0 2048 /dev/loopN 2048\n".to_vec()
    );
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

#[test]
fn existing_loop_of_a_non_utf8_image_is_found() {
    if !is_root() {
        host::skip(
            "existing_loop_of_a_non_utf8_image_is_found",
            "not running as root (it binds a loop device)",
        );
        return;
    }
    let Some(losetup) = ["/usr/sbin/losetup", "/sbin/losetup"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        host::skip("existing_loop_of_a_non_utf8_image_is_found", "no losetup");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let odd = dir.path().join(OsStr::from_bytes(b"caf\xe9.img"));
    dos_image(&odd);
    let attached = Command::new(losetup)
        .args([OsStr::new("-f"), OsStr::new("--show"), odd.as_os_str()])
        .output()
        .expect("losetup");
    assert!(attached.status.success(), "{attached:?}");
    let device = String::from_utf8_lossy(&attached.stdout).trim().to_string();
    let out = list(&[OsStr::new("-l"), odd.as_os_str()]);
    let _ = Command::new(losetup).args(["-d", &device]).status();
    let name = device.trim_start_matches("/dev/");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{name}p1 : 0 2048 {device} 2048\n")
    );
}

#[test]
fn missing_non_utf8_path_is_reported_as_given() {
    let out = list(&[
        OsStr::new("-l"),
        OsStr::from_bytes(b"/nonexistent/caf\xe9.img"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, b"failed to stat() /nonexistent/caf\xe9.img\n");
}
