//! Running both implementations and comparing their `-l` output.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use kpartx::testkit::host::{find_tool, is_root, without_loop_numbers};

/// The reference implementation.
pub const REFERENCE: &str = "/usr/sbin/kpartx";
/// Ours.
pub const OURS: &str = env!("CARGO_BIN_EXE_kpartx");
/// Longest a single `kpartx -l` may run (the reference can loop forever on some DASD labels).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts per case when the two runs landed on different loop devices.
const ATTEMPTS: usize = 3;
/// Serialises every case in this binary: loop numbers must not move between the two runs.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub const MIB: u64 = 1024 * 1024;

/// Absolute paths of the external tools.
pub struct Tools {
    pub sfdisk: PathBuf,
    pub sgdisk: PathBuf,
    pub parted: PathBuf,
    pub losetup: PathBuf,
}

/// The tools, or why the tests cannot run here.
pub fn environment() -> Result<Tools, String> {
    if !is_root() {
        return Err("not running as root (loop devices are needed)".into());
    }
    if !Path::new(REFERENCE).is_file() {
        return Err(format!("reference binary {REFERENCE} is missing"));
    }
    if !Path::new("/dev/loop-control").exists() {
        return Err("/dev/loop-control is missing".into());
    }
    let tool = |name: &str| find_tool(name).ok_or_else(|| format!("`{name}` is not installed"));
    Ok(Tools {
        sfdisk: tool("sfdisk")?,
        sgdisk: tool("sgdisk")?,
        parted: tool("parted")?,
        losetup: tool("losetup")?,
    })
}

pub fn skip(test: &str, why: &str) {
    kpartx::testkit::host::skip(test, why);
}

/// What one kpartx run did.
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: ExitStatus,
    pub timed_out: bool,
}

impl Outcome {
    pub fn status_text(&self) -> String {
        if self.timed_out {
            return "killed after timeout".into();
        }
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => "unknown status".into(),
        }
    }

    pub fn same_as(&self, other: &Outcome) -> bool {
        self.stdout == other.stdout
            && self.status.code() == other.status.code()
            && self.status.signal() == other.status.signal()
            && !self.timed_out
            && !other.timed_out
    }
}

pub fn run(bin: &str, args: &[OsString]) -> Outcome {
    let mut child = Command::new(bin)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait for killed kpartx");
            }
            Ok(None) => thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("waiting for {bin}: {e}"),
        }
    };
    Outcome {
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
        status,
        timed_out,
    }
}

/// Attached loop devices and their backing files, from sysfs.
pub fn attached_loops() -> BTreeMap<String, String> {
    let mut loops = BTreeMap::new();
    let Ok(dir) = fs::read_dir("/sys/block") else {
        return loops;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        if let Ok(backing) = fs::read_to_string(entry.path().join("loop/backing_file")) {
            loops.insert(
                format!("/dev/{name}"),
                backing.trim_end_matches('\n').into(),
            );
        }
    }
    loops
}

/// Loop devices backed by a file under `dir`.
pub fn loops_under(dir: &Path) -> Vec<String> {
    // With the separator: `/tmp/.tmpAB` must not claim `/tmp/.tmpABC/x.img`.
    let prefix = format!("{}/", dir.to_string_lossy());
    attached_loops()
        .into_iter()
        .filter(|(_, backing)| backing.starts_with(&prefix))
        .map(|(dev, _)| dev)
        .collect()
}

/// How long a loop may stay bound to a test image after the run that used it has exited.
/// Both implementations let go of their loop while another process may still have it open
/// (udev probing it, `losetup -f` scanning, the churner): ours attached it auto-clearing, the
/// reference's `LOOP_CLR_FD` turns into auto-clear when the loop is busy. The kernel unbinds
/// it when that other process closes it, a few milliseconds later. A loop still bound after
/// this long is a leak.
const UNBIND_GRACE: Duration = Duration::from_secs(2);

/// Detaches loops left behind under `dir` (still bound [`UNBIND_GRACE`] after the run);
/// returns their names.
pub fn reap_loops(losetup: &Path, dir: &Path) -> Vec<String> {
    let deadline = Instant::now() + UNBIND_GRACE;
    let mut leaked = loops_under(dir);
    while !leaked.is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
        leaked = loops_under(dir);
    }
    for dev in &leaked {
        let _ = Command::new(losetup)
            .arg("-d")
            .arg(dev)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    leaked
}

/// The loop device names (`loopN`) an output mentions.
pub fn loop_names(text: &[u8]) -> BTreeSet<String> {
    let text = String::from_utf8_lossy(text);
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("loop") {
        let start = i + pos;
        let mut end = start + 4;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        if end > start + 4 {
            names.insert(text[start..end].to_string());
        }
        i = end;
    }
    names
}

/// How a comparison ended.
pub enum Verdict {
    Same(Outcome),
    Differ {
        reference: Outcome,
        ours: Outcome,
    },
    /// The reference did not finish in time (so there is nothing to compare).
    ReferenceHung,
}

/// Everything a comparison needs besides the arguments.
pub struct Bench<'a> {
    pub tools: &'a Tools,
    pub dir: &'a Path,
    /// Problems that are not output differences (loop devices ours left behind).
    pub problems: Vec<String>,
    /// Things worth reporting that are not our failures (the reference crashing, …).
    pub notes: Vec<String>,
    pub retries: usize,
}

impl<'a> Bench<'a> {
    /// A bench with nothing reported yet.
    pub fn new(tools: &'a Tools, dir: &'a Path) -> Self {
        Bench {
            tools,
            dir,
            problems: Vec::new(),
            notes: Vec::new(),
            retries: 0,
        }
    }

    pub fn compare(&mut self, label: &str, args: &[OsString]) -> Verdict {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reference = run(REFERENCE, args);
            let leaked = reap_loops(&self.tools.losetup, self.dir);
            if !leaked.is_empty() {
                // Not ours to fix (it happens when the reference crashes), but it must not
                // disturb the next case.
                self.notes.push(format!(
                    "{label}: the reference left {} attached ({}); detached it",
                    leaked.join(", "),
                    reference.status_text()
                ));
            }
            if reference.timed_out {
                return Verdict::ReferenceHung;
            }
            let ours = run(OURS, args);
            let leaked = reap_loops(&self.tools.losetup, self.dir);
            if !leaked.is_empty() {
                self.problems
                    .push(format!("{label}: ours left {} attached", leaked.join(", ")));
            }
            if reference.same_as(&ours) {
                return Verdict::Same(ours);
            }
            // One side could not get a loop device at all: another process took the free loop
            // between its LOOP_CTL_GET_FREE and its LOOP_SET_FD (the reference does not try
            // another one). Nothing was compared; run the case again.
            let (r_lost, o_lost) = (lost_loop_race(&reference), lost_loop_race(&ours));
            if r_lost != o_lost && attempt < ATTEMPTS {
                self.notes.push(format!(
                    "{label}: {} could not set up a loop device ({}); ran the case again",
                    if r_lost { "the reference" } else { "ours" },
                    stderr_summary(if r_lost {
                        &reference.stderr
                    } else {
                        &ours.stderr
                    })
                ));
                self.retries += 1;
                thread::sleep(Duration::from_millis(50));
                continue;
            }
            let (a, b) = (loop_names(&reference.stdout), loop_names(&ours.stdout));
            if !a.is_empty() && !b.is_empty() && a != b {
                if attempt < ATTEMPTS {
                    self.retries += 1;
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
                // Other processes kept taking loop devices between the two runs: compare
                // what does not depend on the loop number.
                if without_loop_numbers(&reference.stdout) == without_loop_numbers(&ours.stdout)
                    && reference.status.code() == ours.status.code()
                {
                    return Verdict::Same(ours);
                }
            }
            return Verdict::Differ { reference, ours };
        }
    }
}

/// Whether a run failed because it could not bind a loop device (both print the reference's
/// `can't set up loop`).
fn lost_loop_race(run: &Outcome) -> bool {
    run.status.code() == Some(1)
        && run.stdout.is_empty()
        && String::from_utf8_lossy(&run.stderr).contains("can't set up loop")
}

pub fn show_args(args: &[OsString]) -> String {
    args.iter()
        .map(|a| {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(' ') {
                format!("'{a}'")
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Both outputs side by side, with the differing lines marked.
pub fn render_diff(reference: &Outcome, ours: &Outcome) -> String {
    let r = String::from_utf8_lossy(&reference.stdout);
    let o = String::from_utf8_lossy(&ours.stdout);
    let rl: Vec<&str> = r.lines().collect();
    let ol: Vec<&str> = o.lines().collect();
    let mut text = format!(
        "    status: reference {}, ours {}\n    stdout (`-` reference only, `+` ours only):\n",
        reference.status_text(),
        ours.status_text()
    );
    for i in 0..rl.len().max(ol.len()) {
        match (rl.get(i), ol.get(i)) {
            (Some(a), Some(b)) if a == b => text.push_str(&format!("       {a}\n")),
            (a, b) => {
                if let Some(a) = a {
                    text.push_str(&format!("     - {a}\n"));
                }
                if let Some(b) = b {
                    text.push_str(&format!("     + {b}\n"));
                }
            }
        }
    }
    if r.len() != rl.iter().map(|l| l.len() + 1).sum::<usize>()
        || o.len() != ol.iter().map(|l| l.len() + 1).sum::<usize>()
    {
        text.push_str(&format!(
            "    raw stdout: reference {:?}\n                ours      {:?}\n",
            r, o
        ));
    }
    text.push_str(&format!(
        "    reference stderr: {}\n    ours stderr: {}\n",
        stderr_summary(&reference.stderr),
        stderr_summary(&ours.stderr)
    ));
    text
}

/// Stderr without libdevmapper's complaints about the missing kernel driver.
pub fn stderr_summary(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            !(l.contains("/dev/mapper/control")
                || l.starts_with("Failure to communicate with kernel")
                || l.starts_with("Check that device-mapper")
                || l.starts_with("Incompatible libdevmapper"))
        })
        .take(8)
        .collect();
    if lines.is_empty() {
        "(nothing else)".into()
    } else {
        format!("{lines:?}")
    }
}
