//! `kpartx -l` of an image file binds no loop device, not even while it is blocked or killed,
//! and keeps one it did not create; the loop `-a` binds is not auto-clear; an unprivileged
//! user lists an image like root.
//!
//! The `-l` tests need nothing special. Those that bind a loop themselves need root and
//! `/dev/loop-control`; without them they skip through `testkit::host::skip` (a failure where
//! CI requires every test to run). Other processes may attach loop devices at the same time:
//! nothing here assumes a loop number, loops are recognised by their backing file (a fresh
//! image per test).

use std::fs;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use kpartx::device::loopdev::{self, AttachOptions};
use kpartx::testkit::host::{is_root, skip};
use kpartx::testkit::{dos, gpt};

/// Ours.
const KPARTX: &str = env!("CARGO_BIN_EXE_kpartx");
/// Longest we wait for the kernel to bind or unbind a loop, or for a child to get going.
const WAIT: Duration = Duration::from_secs(10);
/// GPT entries (and partitions) in the test image: kpartx lists at most 256 slices, and
/// their listing is about twice the size of a one-page pipe.
const PARTS: u64 = 256;
const SECTOR: u64 = 512;
/// Image size in sectors (8 MiB).
const SECTORS: u64 = 16384;
/// Size of each partition in sectors, the first one starting at 2048.
const PART_SECTORS: u64 = 8;

/// Why the tests cannot run here, if they cannot.
fn unsupported() -> Option<&'static str> {
    if !is_root() {
        return Some("not running as root (loop devices are needed)");
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("/dev/loop-control is missing");
    }
    None
}

macro_rules! require_loops {
    ($name:expr) => {
        if let Some(why) = unsupported() {
            skip($name, why);
            return;
        }
    };
}

/// A GPT image (protective MBR, both headers, `PARTS` partitions) in its own directory,
/// readable by everybody (for the unprivileged test).
struct Image {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Image {
    fn new() -> Image {
        let dir = tempfile::Builder::new()
            .prefix("kpartx-loop-")
            .tempdir_in(std::env::temp_dir())
            .expect("temporary directory");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod dir");
        let path = dir.path().join("disk.img");
        fs::write(&path, gpt_image()).expect("write image");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod image");
        let path = fs::canonicalize(&path).expect("realpath");
        Image { _dir: dir, path }
    }

    /// Loop devices currently bound to this image.
    fn loops(&self) -> Vec<String> {
        loopdev::bound_to(&self.path)
    }

    /// Waits (bounded) until `done` holds for the loops bound to the image; returns them.
    fn wait_loops(&self, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let start = Instant::now();
        loop {
            let loops = self.loops();
            if done(&loops) {
                return loops;
            }
            assert!(
                start.elapsed() < WAIT,
                "{what}: still {loops:?} bound to {} after {WAIT:?}",
                self.path.display()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_unbound(&self, what: &str) {
        self.wait_loops(what, |l| l.is_empty());
    }
}

impl Drop for Image {
    /// Best effort: never leave a loop bound to the image behind, whatever failed.
    fn drop(&mut self) {
        for name in self.loops() {
            let _ = loopdev::detach(&Path::new("/dev").join(name), || {});
        }
    }
}

fn gpt_image() -> Vec<u8> {
    let mut img = vec![0u8; (SECTORS * SECTOR) as usize];
    let last = SECTORS - 1;
    img[..512].copy_from_slice(&dos::sector(&[dos::entry(0, 0xEE, 1, last as u32)]));
    // Entries: Linux filesystem type, unique GUIDs, consecutive small partitions.
    let linux = gpt::guid("0fc63daf-8483-4772-8e79-3d69d8477de4");
    let mut entries = vec![0u8; (PARTS * 128) as usize];
    for i in 0..PARTS {
        let e = &mut entries[(i * 128) as usize..((i + 1) * 128) as usize];
        e[0..16].copy_from_slice(&linux);
        e[16..24].copy_from_slice(&(i + 1).to_le_bytes());
        e[24..32].copy_from_slice(&0x6b70_6172_7478_u64.to_le_bytes());
        let first = 2048 + i * PART_SECTORS;
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&(first + PART_SECTORS - 1).to_le_bytes());
    }
    let entry_sectors = PARTS * 128 / SECTOR;
    let entries_crc = crc32fast::hash(&entries);
    let mut header = |my: u64, alternate: u64, entry_lba: u64| {
        let h = gpt::Header {
            header_size: 92,
            my_lba: my,
            alternate_lba: alternate,
            first_usable: 2 + entry_sectors,
            last_usable: last - entry_sectors - 1,
            disk_guid: *b"kpartx-loop-test",
            entry_lba,
            num_entries: PARTS as u32,
            entry_size: 128,
            entries_crc,
        }
        .sealed(SECTOR as usize);
        let at = (my * SECTOR) as usize;
        img[at..at + h.len()].copy_from_slice(&h);
        let at = (entry_lba * SECTOR) as usize;
        img[at..at + entries.len()].copy_from_slice(&entries);
    };
    header(1, last, 2);
    header(last, 1, last - entry_sectors);
    img
}

fn kpartx(args: &[&str], image: &Path) -> Output {
    Command::new(KPARTX)
        .args(args)
        .arg(image)
        .output()
        .expect("run kpartx")
}

fn sysfs_flag(loop_name: &str, file: &str) -> String {
    fs::read_to_string(format!("/sys/block/{loop_name}/{file}"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Kills the child (if still running) and reaps it whatever happens to the test.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn list_leaves_no_loop_bound_to_the_image() {
    let image = Image::new();
    let out = kpartx(&["-l"], &image.path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), PARTS as usize, "{stdout}");
    image.wait_unbound("after kpartx -l");
}

#[test]
fn list_binds_no_loop_even_while_blocked() {
    let image = Image::new();
    // With stdout a one-page pipe that nobody reads and a listing larger than that, kpartx -l
    // blocks in the write: the moment the old implementation held its loop.
    let (mut reader, writer) = io::pipe().expect("pipe");
    // SAFETY: F_SETPIPE_SZ on a pipe descriptor we own.
    let size = unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(size > 0, "F_SETPIPE_SZ: {}", io::Error::last_os_error());
    let listing = kpartx(&["-l"], &image.path);
    assert!(listing.status.success());
    assert!(listing.stdout.len() > size as usize);
    let child = Command::new(KPARTX)
        .arg("-l")
        .arg(&image.path)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kpartx -l");
    let mut child = Reaper(child);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(image.loops().is_empty(), "{:?}", image.loops());
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reap");
    let mut got = Vec::new();
    reader.read_to_end(&mut got).expect("read pipe");
    assert!(image.loops().is_empty());
}

#[test]
fn two_hundred_lists_are_identical_and_bind_nothing() {
    let image = Image::new();
    let first = kpartx(&["-l"], &image.path);
    assert!(first.status.success());
    let names = |out: &[u8]| -> Vec<String> {
        // The loop number may change between rounds (other processes attach loops).
        String::from_utf8_lossy(out)
            .lines()
            .map(|l| l.replace(|c: char| c.is_ascii_digit(), "#"))
            .collect()
    };
    for round in 0..200 {
        let out = kpartx(&["-l"], &image.path);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "round {round}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(names(&out.stdout), names(&first.stdout), "round {round}");
        assert!(
            image.loops().is_empty(),
            "round {round}: {:?}",
            image.loops()
        );
    }
}

#[test]
fn map_attach_does_not_autoclear() {
    require_loops!("map_attach_does_not_autoclear");
    let image = Image::new();
    let opts = AttachOptions {
        read_only: false,
        block_size: 0,
    };
    let attached = loopdev::attach(&image.path, opts).expect("attach");
    let path = attached.path.clone();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("loop name")
        .to_string();
    assert!(!attached.read_only);
    drop(attached);
    // `-a` relies on the loop staying bound between runs, with no opener.
    thread::sleep(Duration::from_millis(100));
    assert!(image.loops().contains(&name), "{name} vanished");
    assert_eq!(sysfs_flag(&name, "loop/autoclear"), "0");
    loopdev::detach(&path, || {}).expect("detach");
    image.wait_unbound("after detach");
}

#[test]
fn list_keeps_a_loop_it_did_not_create() {
    require_loops!("list_keeps_a_loop_it_did_not_create");
    let image = Image::new();
    let opts = AttachOptions {
        read_only: true,
        block_size: 0,
    };
    let attached = loopdev::attach(&image.path, opts).expect("attach");
    let path = attached.path.clone();
    drop(attached);
    let out = kpartx(&["-lv"], &image.path);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains(&format!(" {} ", path.display())),
        "listing is not of {}: {first}",
        path.display()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("loop deleted"), "{stderr}");
    let name = path.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(image.loops().contains(&name.to_string()));
    loopdev::detach(&path, || {}).expect("detach");
    image.wait_unbound("after detach");
}

/// Runs `kpartx -l` on the image as user and group 65534, without supplementary groups.
fn list_unprivileged(image: &Path) -> Option<Output> {
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).is_file())?;
    let out = Command::new(setpriv)
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            KPARTX,
            "-l",
        ])
        .arg(image)
        .output()
        .expect("run setpriv");
    Some(out)
}

#[test]
fn unprivileged_list_reads_the_image_like_root() {
    require_loops!("unprivileged_list_reads_the_image_like_root");
    let image = Image::new();
    let Some(out) = list_unprivileged(&image.path) else {
        skip("unprivileged_list_reads_the_image_like_root", "no setpriv");
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(out.stdout.len(), kpartx(&["-l"], &image.path).stdout.len());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        PARTS as usize
    );
    assert!(image.loops().is_empty());

    // An image the user cannot read: the file and the cause are named.
    fs::set_permissions(&image.path, fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = list_unprivileged(&image.path).expect("setpriv");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "kpartx: {}: cannot read: Permission denied\n",
            image.path.display()
        )
    );
}
