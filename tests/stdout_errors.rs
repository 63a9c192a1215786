//! The binary never panics when stdout cannot be written: a full device gives `kpartx: write
//! error: …` and exit status 1, a pipe without reader ends it by SIGPIPE.
//!
//! `-l` of an image file binds no loop device, so none of these needs root.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Output, Stdio};

use kpartx::testkit::dos::one_partition_image as dos_image;
use kpartx::testkit::host::{self, assert_no_panic};

const KPARTX: &str = env!("CARGO_BIN_EXE_kpartx");

fn run_with_stdout(args: &[&OsStr], stdout: Stdio) -> Output {
    host::run_with_stdout(KPARTX, args, stdout)
}

/// Runs with stdout on /dev/full: exit 1 and one `write error` line, no panic.
fn assert_write_error(args: &[&OsStr]) {
    let full = File::options()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let out = run_with_stdout(args, Stdio::from(full));
    assert_no_panic(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(
        stderr
            .matches("kpartx: write error: No space left on device\n")
            .count(),
        1,
        "{args:?}: {stderr}"
    );
}

/// Runs with stdout on a pipe whose read end is already closed: SIGPIPE (or exit 1), no panic.
fn assert_closed_pipe(args: &[&OsStr]) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = run_with_stdout(args, Stdio::from(writer));
    assert_no_panic(&out);
    assert!(
        out.status.signal() == Some(libc::SIGPIPE) || out.status.code() == Some(1),
        "{args:?}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn full_stdout_is_a_write_error() {
    assert_write_error(&[OsStr::new("--version")]);
    assert_write_error(&[OsStr::new("--help")]);
    // Argument errors print the usage on stdout too.
    assert_write_error(&[OsStr::new("-x"), OsStr::new("img")]);
}

#[test]
fn closed_pipe_ends_by_sigpipe() {
    assert_closed_pipe(&[OsStr::new("--version")]);
    assert_closed_pipe(&[OsStr::new("--help")]);
}

#[test]
fn listing_into_full_or_closed_stdout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("disk.img");
    dos_image(&img);
    assert_write_error(&[OsStr::new("-l"), img.as_os_str()]);
    assert_closed_pipe(&[OsStr::new("-l"), img.as_os_str()]);
    // -l of an image binds no loop: none may be left bound to it, whatever ended the run.
    let real = fs::canonicalize(&img).expect("realpath");
    let leaked: Vec<_> = fs::read_dir("/sys/block")
        .expect("sysfs")
        .flatten()
        .filter(|e| {
            fs::read(e.path().join("loop/backing_file"))
                .is_ok_and(|b| b.strip_suffix(b"\n") == Some(real.as_os_str().as_bytes()))
        })
        .map(|e| e.file_name())
        .collect();
    assert!(leaked.is_empty(), "leaked {leaked:?}");
}
