//! `kpartx -l` against the reference binary, byte for byte.
//!
//! Two tests share this file:
//!
//! * `list_matches_reference`: a fixed catalogue of disk images built with `sfdisk`, `sgdisk`,
//!   `parted` and by hand, listed by the reference (`/usr/sbin/kpartx`) and by ours. Standard
//!   output and exit status must be identical. Our `--json` listing is checked against our text
//!   listing too.
//! * `differential_random_images`: pseudo-random images from a fixed seed (valid tables of every
//!   format, then mutated), compared the same way.
//!
//! Differences that src/ documents as deliberate are reported as `KNOWN DIFFERENCE` on stderr
//! and do not fail: the Solaris VTOC layout (catalogue), and in the random images a GPT
//! `header_size` outside 92..=512 or an entry array past the end, a DOS EBR chain that reaches
//! block 2^32 (the reference's 32-bit `getblock` wraps), 32-bit overflow of Apple map entries,
//! and DASD sizes below the start (saturating instead of wrapping); see `hardening`. A
//! reference that crashes and leaves its loop device behind is noted and cleaned up.
//!
//! Both need root, `/dev/loop-control`, the reference binary and the table tools; without them
//! they print a `SKIP` line on stderr and pass. Image files go to a temporary directory; both
//! implementations attach a loop device for `-l` and detach it again, and the tests check that
//! none is left behind.
//!
//! The loop device number appears in the output, so the cases run strictly one after the
//! other (one mutex for the whole binary). When something else on the machine grabs a loop
//! device between the two runs, the outputs name different loops; such a case is retried.
//!
//! Environment knobs for the differential test: `KPARTX_DIFF_SEED` (decimal or `0x…`, the seed
//! of the first case; case i uses seed + i), `KPARTX_DIFF_CASES` (default 150) and
//! `KPARTX_DIFF_SECONDS` (time budget, default 50). A mismatch prints the case's seed; rerun
//! with `KPARTX_DIFF_SEED=<seed> KPARTX_DIFF_CASES=1` to reproduce it. Mismatching images are
//! also kept under `target/tmp/list-differential/`. `KPARTX_COMPAT_VERBOSE=1` prints every
//! matching case's output too.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// The reference implementation.
const REFERENCE: &str = "/usr/sbin/kpartx";
/// Ours.
const OURS: &str = env!("CARGO_BIN_EXE_kpartx");
/// Longest a single `kpartx -l` may run (the reference can loop forever on some DASD labels).
const RUN_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts per case when the two runs landed on different loop devices.
const ATTEMPTS: usize = 3;
/// Serialises every case in this binary: loop numbers must not move between the two runs.
static SERIAL: Mutex<()> = Mutex::new(());

const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------

/// Absolute paths of the external tools.
struct Tools {
    sfdisk: PathBuf,
    sgdisk: PathBuf,
    parted: PathBuf,
    losetup: PathBuf,
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The tools, or why the tests cannot run here.
fn environment() -> Result<Tools, String> {
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

fn skip(test: &str, why: &str) {
    eprintln!("SKIP {test}: {why}");
}

// ---------------------------------------------------------------------------------------------
// Running kpartx
// ---------------------------------------------------------------------------------------------

/// What one kpartx run did.
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: ExitStatus,
    timed_out: bool,
}

impl Outcome {
    fn status_text(&self) -> String {
        if self.timed_out {
            return "killed after timeout".into();
        }
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => "unknown status".into(),
        }
    }

    fn same_as(&self, other: &Outcome) -> bool {
        self.stdout == other.stdout
            && self.status.code() == other.status.code()
            && self.status.signal() == other.status.signal()
            && !self.timed_out
            && !other.timed_out
    }
}

fn run(bin: &str, args: &[OsString]) -> Outcome {
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
fn attached_loops() -> BTreeMap<String, String> {
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
fn loops_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    attached_loops()
        .into_iter()
        .filter(|(_, backing)| backing.starts_with(&prefix))
        .map(|(dev, _)| dev)
        .collect()
}

/// Detaches loops left behind under `dir`; returns their names.
fn reap_loops(losetup: &Path, dir: &Path) -> Vec<String> {
    let leaked = loops_under(dir);
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
/// `text` with every loop device number replaced by `N` (`loop3p1` → `loopNp1`): which free
/// loop a run gets depends on every other process using loop devices on the machine, and is
/// not what these comparisons test.
fn without_loop_numbers(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(b"loop") && text.get(i + 4).is_some_and(u8::is_ascii_digit) {
            out.extend_from_slice(b"loopN");
            i += 4;
            while text.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

fn loop_names(text: &[u8]) -> BTreeSet<String> {
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
enum Verdict {
    Same(Outcome),
    Differ {
        reference: Outcome,
        ours: Outcome,
    },
    /// The reference did not finish in time (so there is nothing to compare).
    ReferenceHung,
}

/// Everything a comparison needs besides the arguments.
struct Bench<'a> {
    tools: &'a Tools,
    dir: &'a Path,
    /// Problems that are not output differences (loop devices ours left behind).
    problems: Vec<String>,
    /// Things worth reporting that are not our failures (the reference crashing, …).
    notes: Vec<String>,
    retries: usize,
}

impl Bench<'_> {
    fn compare(&mut self, label: &str, args: &[OsString]) -> Verdict {
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

fn show_args(args: &[OsString]) -> String {
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
fn render_diff(reference: &Outcome, ours: &Outcome) -> String {
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
fn stderr_summary(stderr: &[u8]) -> String {
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

// ---------------------------------------------------------------------------------------------
// The --json listing against the text listing
// ---------------------------------------------------------------------------------------------

/// One line of the text listing.
struct TextLine {
    name: String,
    size: u64,
    device: String,
    start: u64,
}

fn parse_text(stdout: &[u8]) -> Result<Vec<TextLine>, String> {
    let text = String::from_utf8(stdout.to_vec()).map_err(|e| format!("stdout not UTF-8: {e}"))?;
    text.lines()
        .map(|line| {
            let (name, rest) = line
                .split_once(" : 0 ")
                .ok_or_else(|| format!("unexpected line {line:?}"))?;
            let mut words: Vec<&str> = rest.split(' ').collect();
            let bad = || format!("unexpected line {line:?}");
            let start = words.pop().ok_or_else(bad)?.parse().map_err(|_| bad())?;
            if words.len() < 2 {
                return Err(bad());
            }
            let size = words.remove(0).parse().map_err(|_| bad())?;
            Ok(TextLine {
                name: name.to_string(),
                size,
                device: words.join(" "),
                start,
            })
        })
        .collect()
}

/// Runs ours with `--json` and checks it describes the same partitions as `text`.
fn check_json(args: &[OsString], text: &[u8], losetup: &Path, dir: &Path) -> Result<(), String> {
    let mut json_args = vec![OsString::from("--json")];
    json_args.extend_from_slice(args);
    let out = run(OURS, &json_args);
    if !reap_loops(losetup, dir).is_empty() {
        return Err("ours --json left a loop device attached".into());
    }
    if out.status.code() != Some(0) {
        return Err(format!("ours --json: {}", out.status_text()));
    }
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "--json output is not valid JSON ({e}): {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    let lines = parse_text(text)?;
    let parts = value["partitions"]
        .as_array()
        .ok_or("--json has no `partitions` array")?;
    if parts.len() != lines.len() {
        return Err(format!(
            "--json lists {} partitions, the text listing {}",
            parts.len(),
            lines.len()
        ));
    }
    let device = value["device"].as_str().ok_or("--json has no `device`")?;
    let by_number: BTreeMap<u64, &serde_json::Value> = parts
        .iter()
        .filter_map(|p| Some((p["number"].as_u64()?, p)))
        .collect();
    if by_number.len() != parts.len() {
        return Err("--json partitions lack unique numbers".into());
    }
    for (index, p) in parts.iter().enumerate() {
        let field = |k: &str| p[k].as_u64().ok_or_else(|| format!("--json `{k}` in {p}"));
        let (number, start, size) = (field("number")?, field("start")?, field("size")?);
        let name = p["name"].as_str().ok_or("--json partition without name")?;
        if !name.ends_with(&number.to_string()) {
            return Err(format!(
                "--json name {name} does not end in its number {number}"
            ));
        }
        // The two runs may have used different loop devices (other processes use loops too):
        // then the line in the same place must have the same name but for the loop number
        // (by name alone, `-p ''` makes loop0 + 12 and loop01 + 2 look alike).
        let unlooped = |t: &str| without_loop_numbers(t.as_bytes());
        let alike: Vec<&TextLine> = lines
            .iter()
            .filter(|l| unlooped(&l.name) == unlooped(name))
            .collect();
        let line = lines
            .iter()
            .find(|l| l.name == name)
            .or_else(|| match alike.as_slice() {
                [only] => Some(*only),
                _ => lines
                    .get(index)
                    .filter(|l| unlooped(&l.name) == unlooped(name)),
            })
            .ok_or_else(|| format!("--json has {name}, the text listing does not"))?;
        if line.size != size {
            return Err(format!(
                "{name}: size {size} in --json, {} in text",
                line.size
            ));
        }
        match p["container"].as_u64() {
            None => {
                if unlooped(&line.device) != unlooped(device) || line.start != start {
                    return Err(format!(
                        "{name}: --json {device} {start}, text {} {}",
                        line.device, line.start
                    ));
                }
            }
            Some(container) => {
                // Stacked on its container: `/dev/dm-K` and an offset relative to the
                // container's start. (K is the reference's legacy ordinal; nested and mutual
                // containment make it hard to predict, and the text itself is compared with
                // the reference byte for byte anyway.) A container that is not listed (a
                // slice cut to size 0) cannot be checked further.
                if !line.device.starts_with("/dev/dm-") {
                    return Err(format!(
                        "{name}: contained in #{container} but listed on {}",
                        line.device
                    ));
                }
                if let Some(outer) = by_number.get(&container) {
                    let outer_start = outer["start"].as_u64().unwrap_or_default();
                    if line.start != start.wrapping_sub(outer_start) {
                        return Err(format!(
                            "{name}: --json start {start} in #{container} (at {outer_start}), \
                             text {} {}",
                            line.device, line.start
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Building images with the tools
// ---------------------------------------------------------------------------------------------

/// An image file and how it was made.
struct Img<'a> {
    tools: &'a Tools,
    path: PathBuf,
    recipe: Vec<String>,
}

/// One comparison of the catalogue.
struct Case {
    name: String,
    recipe: Vec<String>,
    args: Vec<OsString>,
    /// Why the outputs may differ (a documented, deliberate difference).
    known: Option<&'static str>,
}

fn tool(cmd: &Path, args: &[OsString], stdin: Option<&str>) {
    let mut child = Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cmd.display()));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes()).expect("write tool stdin");
    }
    let out = child.wait_with_output().expect("wait for tool");
    assert!(
        out.status.success(),
        "{} {} failed: {}\n{}",
        cmd.display(),
        show_args(args),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

impl<'a> Img<'a> {
    fn new(tools: &'a Tools, dir: &Path, name: &str, size: u64) -> Img<'a> {
        let path = dir.join(name);
        File::create(&path)
            .and_then(|f| f.set_len(size))
            .expect("create image");
        Img {
            tools,
            path,
            recipe: vec![format!("truncate -s {size} IMG")],
        }
    }

    fn args(&self, args: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = args.iter().map(OsString::from).collect();
        v.push(self.path.clone().into());
        v
    }

    fn sfdisk(&mut self, script: &str) -> &mut Self {
        tool(&self.tools.sfdisk, &self.args(&["-q"]), Some(script));
        self.recipe
            .push(format!("sfdisk -q IMG <<'EOF'\n{}EOF", script));
        self
    }

    fn sgdisk(&mut self, args: &[&str]) -> &mut Self {
        tool(&self.tools.sgdisk, &self.args(args), None);
        self.recipe.push(format!("sgdisk {} IMG", args.join(" ")));
        self
    }

    fn parted(&mut self, args: &[&str]) -> &mut Self {
        let mut full = vec![OsString::from("-s"), self.path.clone().into()];
        full.extend(args.iter().map(OsString::from));
        tool(&self.tools.parted, &full, None);
        self.recipe
            .push(format!("parted -s IMG {}", args.join(" ")));
        self
    }

    fn write(&mut self, offset: u64, bytes: &[u8], what: &str) -> &mut Self {
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .expect("open image");
        f.write_all_at(bytes, offset).expect("write image");
        self.recipe
            .push(format!("write {} bytes at {offset}: {what}", bytes.len()));
        self
    }

    fn resize(&mut self, size: u64) -> &mut Self {
        fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .and_then(|f| f.set_len(size))
            .expect("resize image");
        self.recipe.push(format!("truncate -s {size} IMG"));
        self
    }

    fn size(&self) -> u64 {
        fs::metadata(&self.path).expect("stat image").len()
    }

    fn case(&self, name: &str, opts: &[&str]) -> Case {
        let mut args: Vec<OsString> = opts.iter().map(OsString::from).collect();
        args.push(self.path.clone().into());
        Case {
            name: name.into(),
            recipe: self.recipe.clone(),
            args,
            known: None,
        }
    }
}

fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}
fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// A 16-byte DOS partition entry.
fn dos_entry(boot: u8, kind: u8, start: u32, count: u32) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[0] = boot;
    e[4] = kind;
    e[8..12].copy_from_slice(&le32(start));
    e[12..16].copy_from_slice(&le32(count));
    e
}

/// A 512-byte MBR/EBR sector with these entries and the 55AA signature.
fn dos_sector(entries: &[[u8; 16]]) -> Vec<u8> {
    let mut s = vec![0u8; 512];
    for (i, e) in entries.iter().enumerate() {
        s[0x1BE + 16 * i..0x1BE + 16 * (i + 1)].copy_from_slice(e);
    }
    s[510] = 0x55;
    s[511] = 0xAA;
    s
}

/// A BSD disklabel (magic, npartitions, entries of (size, offset, fstype)).
fn bsd_label(npartitions: u16, parts: &[(u32, u32, u8)]) -> Vec<u8> {
    let mut l = vec![0u8; 148 + 16 * parts.len().max(1)];
    l[0..4].copy_from_slice(&le32(0x8256_4557));
    l[132..136].copy_from_slice(&le32(0x8256_4557));
    l[138..140].copy_from_slice(&le16(npartitions));
    for (i, &(size, offset, fstype)) in parts.iter().enumerate() {
        let at = 148 + 16 * i;
        l[at..at + 4].copy_from_slice(&le32(size));
        l[at + 4..at + 8].copy_from_slice(&le32(offset));
        l[at + 12] = fstype;
    }
    l
}

/// A Sun label with a valid checksum. Entries are (start cylinder, sectors).
fn sun_label(ntrks: u16, nsect: u16, parts: &[(u32, u32)]) -> Vec<u8> {
    let mut l = vec![0u8; 512];
    l[0..12].copy_from_slice(b"kpartx test\0");
    l[436..438].copy_from_slice(&ntrks.to_be_bytes());
    l[438..440].copy_from_slice(&nsect.to_be_bytes());
    for (i, &(cyl, n)) in parts.iter().enumerate().take(8) {
        let at = 444 + 8 * i;
        l[at..at + 4].copy_from_slice(&cyl.to_be_bytes());
        l[at + 4..at + 8].copy_from_slice(&n.to_be_bytes());
    }
    l[508..510].copy_from_slice(&0xDABEu16.to_be_bytes());
    let csum = (0..255).fold(0u16, |x, i| {
        x ^ u16::from_be_bytes([l[2 * i], l[2 * i + 1]])
    });
    l[510..512].copy_from_slice(&csum.to_be_bytes());
    l
}

/// Deterministic filler bytes.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    v
}

/// The fixed catalogue.
fn catalogue(tools: &Tools, dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |case: Case| cases.push(case);

    // --- msdos ---
    let mut dos3 = Img::new(tools, dir, "dos3.img", 64 * MIB);
    dos3.sfdisk("label: dos\nlabel-id: 0x4b504152\n,16M,83\n,16M,83\n,16M,82\n");
    add(dos3.case("msdos, 3 primaries", &["-l"]));
    add(dos3.case("msdos, default action (no -l)", &[]));
    add(dos3.case("msdos, -v -l", &["-v", "-l"]));
    add(dos3.case("msdos, -l after the device", &["-l"]).reorder());
    add(dos3
        .case("msdos, two positionals", &["-l"])
        .with_extra("whole"));
    add(dos3.case("msdos, -t gpt", &["-l", "-t", "gpt"]));

    let mut ext = Img::new(tools, dir, "dos-ext.img", 64 * MIB);
    ext.sfdisk("label: dos\nlabel-id: 0x4b504153\n,8M,83\n,,E\n,8M,83\n,8M,83\n,8M,83\n");
    add(ext.case("msdos, extended with 3 logicals", &["-l"]));
    add(ext.case("msdos extended, -p -part", &["-l", "-p", "-part"]));
    add(ext.case("msdos extended, -p ''", &["-l", "-p", ""]));
    add(ext.case("msdos extended, -p with slash", &["-l", "-p", "/x"]));
    add(ext.case("msdos extended, -t dos", &["-l", "-t", "dos"]));
    add(ext.case("msdos extended, -t nonsense", &["-l", "-t", "nonsense"]));

    let mut order = Img::new(tools, dir, "dos-order.img", 64 * MIB);
    order.sfdisk(
        "label: dos\nlabel-id: 0x4b504154\nstart=2048,size=8192,type=83\n\
         start=20480,size=100000,type=f\nstart=80000,size=4096,type=83\n\
         start=30000,size=4096,type=83\nstart=50000,size=2048,type=7\n",
    );
    add(order.case("msdos, logicals out of disk order with gaps", &["-l"]));

    // Hand-built EBR chains.
    let mut chain = Img::new(tools, dir, "dos-chain.img", 32 * MIB);
    chain
        .write(
            0,
            &dos_sector(&[
                dos_entry(0x80, 0x83, 2048, 2048),
                dos_entry(0, 0x85, 8192, 40000),
                dos_entry(0, 0x05, 50000, 10000),
            ]),
            "MBR: 83 at 2048, 85 at 8192, 05 at 50000",
        )
        .write(
            8192 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 63, 1000), dos_entry(0, 0x05, 4000, 2000)]),
            "EBR 1 at 8192: data + link to +4000",
        )
        .write(
            12192 * 512,
            &dos_sector(&[dos_entry(0, 0, 0, 0), dos_entry(0, 0x0f, 9000, 2000)]),
            "EBR 2 at 12192: empty data entry + link to +9000",
        )
        .write(
            17192 * 512,
            &dos_sector(&[dos_entry(0, 0x05, 2000, 100), dos_entry(0, 0x82, 10, 500)]),
            "EBR 3 at 17192: link first (+2000), data second",
        )
        .write(
            10192 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 1, 99)]),
            "EBR 4 at 10192: data only, end of chain",
        )
        .write(
            50000 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 16, 512)]),
            "EBR of the second extended at 50000",
        );
    add(chain.case(
        "msdos, hand-built EBR chain (empty entry, link first, 2 extended)",
        &["-l"],
    ));

    let mut cycle = Img::new(tools, dir, "dos-cycle.img", 16 * MIB);
    cycle
        .write(
            0,
            &dos_sector(&[dos_entry(0, 0x0f, 2048, 20000)]),
            "MBR: 0f at 2048",
        )
        .write(
            2048 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 63, 100), dos_entry(0, 0x05, 1000, 500)]),
            "EBR at 2048: link to +1000",
        )
        .write(
            3048 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 63, 100), dos_entry(0, 0x05, 0, 500)]),
            "EBR at 3048: data entry + a zero-start link back (not a link)",
        );
    add(cycle.case("msdos, EBR link with start 0", &["-l"]));
    let mut cycle2 = Img::new(tools, dir, "dos-cycle2.img", 16 * MIB);
    cycle2
        .write(
            0,
            &dos_sector(&[dos_entry(0, 0x05, 2048, 20000)]),
            "MBR: 05 at 2048",
        )
        .write(
            2048 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 63, 100), dos_entry(0, 0x05, 1000, 500)]),
            "EBR A at 2048: link to +1000",
        )
        .write(
            3048 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 63, 100), dos_entry(0, 0x05, 0, 0)]),
            "EBR B at 3048: no link",
        )
        .write(
            3048 * 512 + 0x1BE + 16,
            &dos_entry(0, 0x85, 1, 7)[..],
            "EBR B entry 2: link to +1 (an EBR at 2049 linking back)",
        )
        .write(
            2049 * 512,
            &dos_sector(&[dos_entry(0, 0x83, 5, 5), dos_entry(0, 0x05, 1000, 5)]),
            "EBR C at 2049: link back to B (cycle)",
        );
    add(cycle2.case("msdos, cyclic EBR chain (256-slice cap)", &["-l"]));

    let mut past = Img::new(tools, dir, "dos-past-end.img", 64 * MIB);
    past.sfdisk("label: dos\nlabel-id: 0x4b504155\n,16M,83\n,,E\n,8M,83\n,,83\n")
        .resize(24 * MIB);
    add(past.case("msdos, partitions past the end of the image", &["-l"]));

    // --- gpt ---
    let mut gpt2 = Img::new(tools, dir, "gpt2.img", 64 * MIB);
    gpt2.sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M"]);
    add(gpt2.case("gpt, 2 partitions", &["-l"]));
    add(gpt2.case("gpt, -t dos", &["-l", "-t", "dos"]));
    add(gpt2.case("gpt, -t gpt", &["-l", "-t", "gpt"]));
    add(gpt2.case("gpt, -g", &["-l", "-g"]));

    let mut full = Img::new(tools, dir, "gpt128.img", 16 * MIB);
    let mut args: Vec<String> = vec!["-a".into(), "1".into()];
    for i in 0..128u64 {
        let start = 2048 + 8 * i;
        args.push("-n".into());
        args.push(format!("{}:{}:{}", i + 1, start, start + 7));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    full.sgdisk(&args);
    add(full.case("gpt, all 128 entries used", &["-l"]));

    let mut gaps = Img::new(tools, dir, "gpt-gaps.img", 64 * MIB);
    gaps.sgdisk(&["-n", "3:2048:+4M", "-n", "7:0:+4M"]);
    add(gaps.case("gpt, entries 3 and 7 only", &["-l"]));

    let mut bad1 = Img::new(tools, dir, "gpt-bad-primary.img", 64 * MIB);
    bad1.sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M"]).write(
        512,
        &[0xA5; 512],
        "LBA 1 = A5 bytes",
    );
    add(bad1.case("gpt, corrupted primary header", &["-l"]));

    let mut bad2 = Img::new(tools, dir, "gpt-bad-backup.img", 64 * MIB);
    bad2.sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M"]);
    let last = bad2.size() - 512;
    bad2.write(last, &[0xA5; 512], "last LBA = A5 bytes");
    add(bad2.case("gpt, corrupted backup header", &["-l"]));

    let mut both = Img::new(tools, dir, "gpt-bad-both.img", 64 * MIB);
    both.sgdisk(&["-n", "1:2048:+8M"])
        .write(512, &[0; 512], "LBA 1 zeroed");
    let last = both.size() - 512;
    both.write(last, &[0; 512], "last LBA zeroed");
    add(both.case("gpt, both headers zeroed (PMBR left)", &["-l"]));

    let mut nopmbr = Img::new(tools, dir, "gpt-no-pmbr.img", 64 * MIB);
    nopmbr
        .sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M"])
        .write(0, &[0; 512], "LBA 0 zeroed");
    add(nopmbr.case("gpt, zeroed protective MBR", &["-l"]));
    add(nopmbr.case("gpt, zeroed protective MBR, -g", &["-l", "-g"]));

    let mut pmbr83 = Img::new(tools, dir, "gpt-pmbr-83.img", 64 * MIB);
    pmbr83.sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M"]).write(
        0x1BE + 4,
        &[0x83],
        "PMBR entry type EE -> 83",
    );
    add(pmbr83.case("gpt, PMBR type 83", &["-l"]));
    add(pmbr83.case("gpt, PMBR type 83, -g", &["-l", "-g"]));

    let mut grown = Img::new(tools, dir, "gpt-grown.img", 32 * MIB);
    grown
        .sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:0"])
        .resize(48 * MIB);
    add(grown.case("gpt, image grown after partitioning", &["-l"]));

    let mut shrunk = Img::new(tools, dir, "gpt-shrunk.img", 64 * MIB);
    shrunk
        .sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:0"])
        .resize(40 * MIB);
    add(shrunk.case(
        "gpt, image shrunk (backup lost, partition past the end)",
        &["-l"],
    ));

    let mut hybrid = Img::new(tools, dir, "gpt-hybrid.img", 64 * MIB);
    hybrid
        .sgdisk(&["-n", "1:2048:+8M", "-n", "2:0:+8M", "-n", "3:0:+8M"])
        .sgdisk(&["-h", "1:2"]);
    add(hybrid.case("gpt, hybrid MBR", &["-l"]));
    add(hybrid.case("gpt, hybrid MBR, -t dos", &["-l", "-t", "dos"]));

    let mut empty_gpt = Img::new(tools, dir, "gpt-empty.img", 16 * MIB);
    empty_gpt.sgdisk(&["-o"]);
    add(empty_gpt.case("gpt, no partitions", &["-l"]));

    // --- other labels made by parted ---
    let mut mac = Img::new(tools, dir, "mac.img", 32 * MIB);
    mac.parted(&[
        "mklabel", "mac", "mkpart", "one", "1MiB", "4MiB", "mkpart", "two", "4MiB", "12MiB",
    ]);
    add(mac.case("mac (parted)", &["-l"]));

    let mut sun = Img::new(tools, dir, "sun.img", 32 * MIB);
    sun.parted(&[
        "mklabel", "sun", "mkpart", "ext2", "1MiB", "4MiB", "mkpart", "ext2", "4MiB", "12MiB",
    ]);
    add(sun.case("sun (parted)", &["-l"]));

    let mut bsd = Img::new(tools, dir, "bsd.img", 32 * MIB);
    bsd.parted(&[
        "mklabel", "bsd", "mkpart", "ext2", "1MiB", "4MiB", "mkpart", "ext2", "4MiB", "12MiB",
    ]);
    add(bsd.case("bsd (parted)", &["-l"]));

    let mut msdos_parted = Img::new(tools, dir, "parted-msdos.img", 32 * MIB);
    msdos_parted.parted(&[
        "mklabel", "msdos", "mkpart", "primary", "1MiB", "4MiB", "mkpart", "extended", "4MiB",
        "30MiB", "mkpart", "logical", "5MiB", "10MiB", "mkpart", "logical", "11MiB", "20MiB",
    ]);
    add(msdos_parted.case("msdos with logicals (parted)", &["-l"]));

    // --- hand-built labels ---
    let mut bsd1 = Img::new(tools, dir, "bsd-block1.img", 16 * MIB);
    bsd1.write(
        512,
        &bsd_label(
            8,
            &[
                (4096, 2048, 7),
                (8192, 6144, 7),
                (32768, 0, 8),
                (1024, 8192, 1),
                (0, 0, 0),
                (2048, 5000, 7),
                (100, 100, 0),
            ],
        ),
        "BSD label at block 1: a, b, whole-disk c, d inside b, f overlapping a/b, g unused",
    );
    add(bsd1.case(
        "bsd, hand-built at block 1 with nesting and overlap",
        &["-l"],
    ));

    let mut sun2 = Img::new(tools, dir, "sun-hand.img", 16 * MIB);
    sun2.write(
        0,
        &sun_label(
            16,
            63,
            &[
                (2, 2016),
                (0, 0),
                (0, 32256),
                (4, 4032),
                (6, 100),
                (0, 0),
                (1, 3000),
                (30, 1),
            ],
        ),
        "Sun label: 16 heads, 63 sectors, whole-disk slice 3, nested and overlapping slices",
    );
    add(sun2.case("sun, hand-built with nesting and overlap", &["-l"]));
    let mut sunbad = Img::new(tools, dir, "sun-badsum.img", 16 * MIB);
    let mut label = sun_label(16, 63, &[(2, 2016)]);
    label[200] ^= 1;
    sunbad.write(0, &label, "Sun label with a wrong checksum");
    add(sunbad.case("sun, bad checksum", &["-l"]));

    let mut uw = Img::new(tools, dir, "unixware.img", 16 * MIB);
    let mut label = vec![0u8; 512];
    label[4..8].copy_from_slice(&le32(0xCA5E_600D));
    label[156..160].copy_from_slice(&le32(0x600D_DEEE));
    for (k, (tag, start, count)) in [
        (5u16, 0u32, 32768u32),
        (2, 2048, 4096),
        (0, 9, 9),
        (4, 8192, 100),
    ]
    .into_iter()
    .enumerate()
    {
        let at = 216 + 12 * k;
        label[at..at + 2].copy_from_slice(&le16(tag));
        label[at + 4..at + 8].copy_from_slice(&le32(start));
        label[at + 8..at + 12].copy_from_slice(&le32(count));
    }
    uw.write(29 * 512, &label, "UnixWare label at block 29");
    add(uw.case("unixware, hand-built", &["-l"]));

    let mut ps3 = Img::new(tools, dir, "ps3.img", 16 * MIB);
    let mut label = vec![0u8; 1536];
    label[16..24].copy_from_slice(&0x0FAC_E0FFu64.to_be_bytes());
    label[24..32].copy_from_slice(&0xDEAD_FACEu64.to_be_bytes());
    for (k, (start, size)) in [
        (8u64, 1000u64),
        (0, 5),
        (2048, 0),
        (4096, 8192),
        (1 << 40, 7),
    ]
    .into_iter()
    .enumerate()
    {
        let at = 0x30 + 144 * k;
        label[at..at + 8].copy_from_slice(&start.to_be_bytes());
        label[at + 8..at + 16].copy_from_slice(&size.to_be_bytes());
    }
    ps3.write(0, &label, "PS3 label");
    add(ps3.case("ps3, hand-built", &["-l"]));

    let mut lnx1 = Img::new(tools, dir, "dasd-lnx1.img", 64 * MIB);
    lnx1.write(
        1024,
        &[0xC9, 0xD7, 0xD3, 0xF1, 0xD3, 0xD5, 0xE7, 0xF1],
        "DASD label block 2: IPL1 key + LNX1",
    );
    add(lnx1.case("dasd LNX1", &["-l"]));
    let mut lnx1f = Img::new(tools, dir, "dasd-lnx1-f2.img", 64 * MIB);
    let mut label = vec![0u8; 92];
    label[4..8].copy_from_slice(&[0xD3, 0xD5, 0xE7, 0xF1]);
    label[83] = 0xF2;
    label[84..92].copy_from_slice(&50_000u64.to_le_bytes());
    lnx1f.write(
        1024,
        &label,
        "LNX1 with ldl_version F2, formatted_blocks 50000",
    );
    add(lnx1f.case("dasd LNX1 with formatted_blocks", &["-l"]));
    let mut cms = Img::new(tools, dir, "dasd-cms1.img", 64 * MIB);
    let mut label = vec![0u8; 64];
    label[4..8].copy_from_slice(&[0xC3, 0xD4, 0xE2, 0xF1]);
    label[16..20].copy_from_slice(&le32(1024));
    label[32..36].copy_from_slice(&le32(20_000));
    cms.write(1024, &label, "CMS1, block size 1024, 20000 blocks");
    add(cms.case("dasd CMS1", &["-l"]));
    let mut vol1 = Img::new(tools, dir, "dasd-vol1.img", 64 * MIB);
    let mut label = vec![0u8; 512];
    label[4..8].copy_from_slice(&[0xE5, 0xD6, 0xD3, 0xF1]);
    label[19] = 2; // VTOC at cylinder 0, head 0, record 2: DSCBs from block 3
    vol1.write(1024, &label, "VOL1 label, VTOC at CCHHB 0/0/2");
    for (n, (fmt, lo, hi)) in [
        (0xF4u8, (0u16, 0u16), (0u16, 0u16)),
        (0xF1, (1, 0), (2, 14)),
        (0xF8, (3, 0), (3, 5)),
        (0xF5, (0, 0), (0, 0)),
        (0xF1, (4, 1), (5, 0)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut d = vec![0u8; 512];
        d[44] = fmt;
        d[107..109].copy_from_slice(&le16(lo.0));
        d[109..111].copy_from_slice(&le16(lo.1));
        d[111..113].copy_from_slice(&le16(hi.0));
        d[113..115].copy_from_slice(&le16(hi.1));
        vol1.write((3 + n as u64) * 512, &d, &format!("DSCB format {fmt:#x}"));
    }
    add(vol1.case("dasd VOL1 with format 1/8 DSCBs", &["-l"]));

    // Solaris: we read the real (ILP32) on-disk VTOC, the reference only the x86_64 overlay.
    let mut sol = Img::new(tools, dir, "solaris-ilp32.img", 16 * MIB);
    let mut vtoc = vec![0u8; 512];
    vtoc[12..16].copy_from_slice(&le32(0x600D_DEEE));
    vtoc[16..20].copy_from_slice(&le32(1));
    vtoc[30..32].copy_from_slice(&le16(8));
    for (k, (start, size)) in [(2048u32, 4096u32), (0, 0), (0, 32768), (8192, 1000)]
        .into_iter()
        .enumerate()
    {
        let at = 72 + 12 * k;
        vtoc[at..at + 2].copy_from_slice(&le16(2));
        vtoc[at + 4..at + 8].copy_from_slice(&le32(start));
        vtoc[at + 8..at + 12].copy_from_slice(&le32(size));
    }
    sol.write(512, &vtoc, "Solaris VTOC, ILP32 layout, at block 1");
    let mut c = sol.case("solaris, real on-disk (ILP32) VTOC", &["-l"]);
    c.known = Some("Solaris layout: we read the ILP32 VTOC, the x86_64 reference does not");
    add(c);
    let mut sol64 = Img::new(tools, dir, "solaris-lp64.img", 16 * MIB);
    let mut vtoc = vec![0u8; 512];
    vtoc[24..32].copy_from_slice(&0x600D_DEEEu64.to_le_bytes());
    vtoc[32..40].copy_from_slice(&1u64.to_le_bytes());
    for (k, (start, size)) in [(2048i32, 4096i64), (0, 0), (0, 32768)]
        .into_iter()
        .enumerate()
    {
        let at = 136 + 16 * k;
        vtoc[at + 4..at + 8].copy_from_slice(&start.to_le_bytes());
        vtoc[at + 8..at + 16].copy_from_slice(&size.to_le_bytes());
    }
    sol64.write(
        512,
        &vtoc,
        "Solaris VTOC, x86_64 overlay layout, at block 1",
    );
    let mut c = sol64.case("solaris, x86_64-overlay VTOC", &["-l"]);
    c.known = Some("Solaris layout: the x86_64 overlay is deliberately not emulated");
    add(c);

    // --- no table, garbage, tiny ---
    let empty = Img::new(tools, dir, "zero.img", 16 * MIB);
    add(empty.case("all-zero image", &["-l"]));
    let mut garbage = Img::new(tools, dir, "garbage.img", 4 * MIB);
    garbage.write(
        0,
        &noise(0x5EED, MIB as usize),
        "1 MiB of xorshift noise, seed 0x5EED",
    );
    add(garbage.case("random garbage", &["-l"]));
    let mut garbage55 = Img::new(tools, dir, "garbage55.img", 4 * MIB);
    let mut g = noise(0x5EEE, 64 * 1024);
    g[510] = 0x55;
    g[511] = 0xAA;
    garbage55.write(0, &g, "64 KiB of noise (seed 0x5EEE) with 55AA at 510");
    add(garbage55.case("random garbage with 55AA", &["-l"]));
    let mut tiny = Img::new(tools, dir, "tiny100.img", 0);
    tiny.write(0, &noise(7, 100), "100 bytes of noise");
    add(tiny.case("100-byte file", &["-l"]));
    let mut t512 = Img::new(tools, dir, "tiny512.img", 0);
    t512.write(
        0,
        &dos_sector(&[dos_entry(0, 0x83, 1, 100)]),
        "one MBR sector, partition past the end",
    );
    add(t512.case("512-byte file with an MBR", &["-l"]));
    let t1m = Img::new(tools, dir, "zero1m.img", MIB);
    add(t1m.case("1 MiB of zeroes", &["-l"]));
    let mut odd = Img::new(tools, dir, "odd-size.img", 8 * MIB + 300);
    odd.sfdisk("label: dos\nlabel-id: 0x4b504156\n,4M,83\n,,83\n");
    add(odd.case(
        "msdos on an image whose size is not a multiple of 512",
        &["-l"],
    ));

    let mut fat = Img::new(tools, dir, "fat.img", 8 * MIB);
    let mut boot = vec![0u8; 512];
    boot[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
    boot[3..11].copy_from_slice(b"MSDOS5.0");
    boot[11..13].copy_from_slice(&le16(512));
    boot[13] = 4;
    boot[14..16].copy_from_slice(&le16(4));
    boot[16] = 2;
    boot[17..19].copy_from_slice(&le16(512));
    boot[19..21].copy_from_slice(&le16(16384));
    boot[21] = 0xF8;
    boot[54..62].copy_from_slice(b"FAT16   ");
    let code = noise(0xFA7, 448);
    boot[62..510].copy_from_slice(&code);
    boot[510] = 0x55;
    boot[511] = 0xAA;
    fat.write(
        0,
        &boot,
        "FAT16-like boot sector, noise boot code (seed 0xFA7), 55AA",
    );
    add(fat.case("FAT-like boot sector", &["-l"]));

    // --- paths ---
    let spaced = dir.join("dir with space");
    fs::create_dir_all(&spaced).expect("mkdir");
    let mut sp = Img::new(tools, &spaced, "my disk.img", 32 * MIB);
    sp.sfdisk("label: dos\nlabel-id: 0x4b504157\n,8M,83\n,8M,83\n");
    add(sp.case("image path with spaces", &["-l"]));
    add(Case {
        name: "missing file".into(),
        recipe: vec!["(no such file)".into()],
        args: vec!["-l".into(), dir.join("does-not-exist.img").into()],
        known: None,
    });
    add(Case {
        name: "a directory".into(),
        recipe: vec!["mkdir".into()],
        args: vec!["-l".into(), spaced.clone().into()],
        known: None,
    });

    cases
}

impl Case {
    /// Moves the options after the device (GNU getopt permutes).
    fn reorder(mut self) -> Case {
        let dev = self.args.pop().expect("device");
        self.args.insert(0, dev);
        self
    }

    /// Adds a second positional (ignored by kpartx).
    fn with_extra(mut self, extra: &str) -> Case {
        self.args.push(extra.into());
        self
    }
}

// ---------------------------------------------------------------------------------------------
// The catalogue test
// ---------------------------------------------------------------------------------------------

#[test]
fn list_matches_reference() {
    let tools = match environment() {
        Ok(t) => t,
        Err(why) => return skip("list_matches_reference", &why),
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().canonicalize().expect("canonical tempdir");
    let before = attached_loops();
    let cases = catalogue(&tools, &dir);
    let mut bench = Bench {
        tools: &tools,
        dir: &dir,
        problems: Vec::new(),
        notes: Vec::new(),
        retries: 0,
    };
    let mut failures = Vec::new();
    let mut known = Vec::new();
    let mut json_checked = 0;
    let mut matched = 0;
    let verbose = std::env::var_os("KPARTX_COMPAT_VERBOSE").is_some();
    for case in &cases {
        match bench.compare(&case.name, &case.args) {
            Verdict::Same(ours) => {
                matched += 1;
                if verbose {
                    eprintln!(
                        "== {} (kpartx {}): {}\n{}",
                        case.name,
                        show_args(&case.args),
                        ours.status_text(),
                        String::from_utf8_lossy(&ours.stdout)
                    );
                }
                if let Some(why) = case.known {
                    eprintln!(
                        "note: `{}` is marked as a known difference ({why}) but matched",
                        case.name
                    );
                }
                if ours.status.code() == Some(0) {
                    json_checked += 1;
                    if let Err(e) = check_json(&case.args, &ours.stdout, &tools.losetup, &dir) {
                        failures.push(format!(
                            "--json of `{}` ({}): {e}",
                            case.name,
                            show_args(&case.args)
                        ));
                    }
                }
            }
            Verdict::Differ { reference, ours } => {
                let text = format!(
                    "`{}`: kpartx {}\n    recipe:\n      {}\n{}",
                    case.name,
                    show_args(&case.args),
                    case.recipe.join("\n      "),
                    render_diff(&reference, &ours)
                );
                match case.known {
                    Some(why) => known.push(format!("{text}    known difference: {why}\n")),
                    None => failures.push(text),
                }
            }
            Verdict::ReferenceHung => failures.push(format!(
                "`{}`: the reference did not finish within {RUN_TIMEOUT:?}",
                case.name
            )),
        }
    }
    let after = attached_loops();
    failures.extend(bench.problems.iter().cloned());
    for note in &bench.notes {
        eprintln!("note: {note}");
    }
    let leftovers: Vec<_> = after
        .keys()
        .filter(|dev| !before.contains_key(*dev))
        .cloned()
        .collect();
    for dev in &leftovers {
        if after[dev].starts_with(&*dir.to_string_lossy()) {
            failures.push(format!("{dev} is still attached after the test"));
        }
    }
    for k in &known {
        eprintln!("KNOWN DIFFERENCE {k}");
    }
    eprintln!(
        "list_matches_reference: {} cases, {} matched, {} known differences, {} failures, \
         {json_checked} --json checks, {} retries for loop-number races, {:.1?}",
        cases.len(),
        matched,
        known.len(),
        failures.len(),
        bench.retries,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the reference:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Pseudo-random images
// ---------------------------------------------------------------------------------------------

/// SplitMix64: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// A sector number, mostly inside a disk of `sectors`, sometimes just past it or wild.
    fn lba(&mut self, sectors: u64) -> u64 {
        match self.below(20) {
            0 => sectors + self.below(64),
            1 => self.below(u64::from(u32::MAX)),
            2 => 0,
            _ => self.below(sectors),
        }
    }
}

/// A sparse disk image kept in memory, in 512-byte sectors.
#[derive(Clone)]
struct Sparse {
    size: u64,
    sectors: BTreeMap<u64, Vec<u8>>,
}

impl Sparse {
    fn new(size: u64) -> Sparse {
        Sparse {
            size,
            sectors: BTreeMap::new(),
        }
    }

    fn load(path: &Path) -> Sparse {
        let data = fs::read(path).expect("read image");
        let mut img = Sparse::new(data.len() as u64);
        for (n, chunk) in data.chunks(512).enumerate() {
            if chunk.iter().any(|&b| b != 0) {
                let mut s = chunk.to_vec();
                s.resize(512, 0);
                img.sectors.insert(n as u64, s);
            }
        }
        img
    }

    /// Writes `bytes` at `offset`, dropping whatever falls past the end.
    fn write(&mut self, offset: u64, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let Some(pos) = offset.checked_add(i as u64) else {
                return;
            };
            if pos >= self.size {
                return;
            }
            self.sectors
                .entry(pos / 512)
                .or_insert_with(|| vec![0; 512])[(pos % 512) as usize] = b;
        }
    }

    /// Reads `len` bytes at `offset`; zeroes where nothing was written or past the end.
    fn read(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        let end = offset.saturating_add(len as u64);
        for (&n, data) in self.sectors.range(offset / 512..end.div_ceil(512)) {
            for (j, &b) in data.iter().enumerate() {
                let pos = n * 512 + j as u64;
                if pos >= offset && pos < end && pos < self.size {
                    out[(pos - offset) as usize] = b;
                }
            }
        }
        out
    }

    fn save(&self, path: &Path) {
        let f = File::create(path).expect("create image");
        f.set_len(self.size).expect("size image");
        for (&n, data) in &self.sectors {
            let len = (self.size - n * 512).min(512) as usize;
            f.write_all_at(&data[..len], n * 512).expect("write image");
        }
    }

    fn last_lba(&self) -> u64 {
        (self.size / 512).saturating_sub(1)
    }

    /// Flips `count` random bits in random written sectors among the first `within` sectors
    /// (or anywhere when none are written there).
    fn flip(&mut self, rng: &mut Rng, count: u64, within: u64) -> Vec<String> {
        let mut notes = Vec::new();
        let written: Vec<u64> = self
            .sectors
            .keys()
            .copied()
            .filter(|&n| n < within)
            .collect();
        for _ in 0..count {
            let sector = if written.is_empty() {
                rng.below(within.min(self.size / 512).max(1))
            } else {
                rng.pick(&written)
            };
            let pos = sector * 512 + rng.below(512);
            let old = self.read(pos, 1)[0];
            let new = old ^ (1 << rng.below(8));
            self.write(pos, &[new]);
            notes.push(format!("byte {pos}: {old:#04x}->{new:#04x}"));
        }
        notes
    }
}

fn get_le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn get_le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Recomputes the entry-array and header CRCs of the GPT header at `lba` (when it has the
/// signature and the sizes are sane enough to compute them).
fn gpt_fix_crcs(img: &mut Sparse, lba: u64) {
    let Some(at) = lba.checked_mul(512) else {
        return;
    };
    let mut h = img.read(at, 512);
    if &h[0..8] != b"EFI PART" {
        return;
    }
    let len = u64::from(get_le32(&h, 80)) * u64::from(get_le32(&h, 84));
    if let Some(entries_at) = get_le64(&h, 72).checked_mul(512)
        && len > 0
        && len <= 16 * MIB
    {
        let crc = crc32fast::hash(&img.read(entries_at, len as usize));
        h[88..92].copy_from_slice(&crc.to_le_bytes());
    }
    let hs = get_le32(&h, 12) as usize;
    if hs <= 512 {
        h[16..20].fill(0);
        let crc = crc32fast::hash(&h[..hs]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
    }
    img.write(at, &h);
}

/// Fields of a generated GPT header.
struct GptHeader {
    header_size: u32,
    my_lba: u64,
    alternate_lba: u64,
    first_usable: u64,
    last_usable: u64,
    guid: [u8; 16],
    entry_lba: u64,
    num_entries: u32,
    entry_size: u32,
}

impl GptHeader {
    fn bytes(&self) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&self.header_size.to_le_bytes());
        h[24..32].copy_from_slice(&self.my_lba.to_le_bytes());
        h[32..40].copy_from_slice(&self.alternate_lba.to_le_bytes());
        h[40..48].copy_from_slice(&self.first_usable.to_le_bytes());
        h[48..56].copy_from_slice(&self.last_usable.to_le_bytes());
        h[56..72].copy_from_slice(&self.guid);
        h[72..80].copy_from_slice(&self.entry_lba.to_le_bytes());
        h[80..84].copy_from_slice(&self.num_entries.to_le_bytes());
        h[84..88].copy_from_slice(&self.entry_size.to_le_bytes());
        h
    }
}

/// One generated image and how it came about.
struct Generated {
    family: &'static str,
    notes: Vec<String>,
    image: Sparse,
    options: Vec<&'static str>,
}

/// Valid images made by the tools, mutated by the `flip` family.
struct Bases {
    images: Vec<(&'static str, Sparse)>,
}

fn bases(tools: &Tools, dir: &Path) -> Bases {
    let mut images = Vec::new();
    let mut dos = Img::new(tools, dir, "base-dos.img", 8 * MIB);
    dos.sfdisk(
        "label: dos\nlabel-id: 0x4b504160\nstart=2048,size=2048,type=83\n\
         start=4096,size=12288,type=5\nstart=4160,size=2000,type=83\n\
         start=8192,size=1000,type=82\nstart=6300,size=1500,type=83\n",
    );
    images.push(("msdos+logicals (sfdisk)", Sparse::load(&dos.path)));
    let mut gpt = Img::new(tools, dir, "base-gpt.img", 4 * MIB);
    gpt.sgdisk(&[
        "-U",
        "4B504152-5458-4B50-4152-545800000001",
        "-n",
        "1:2048:+512K",
        "-n",
        "2:0:+512K",
        "-n",
        "4:0:+512K",
    ]);
    images.push(("gpt (sgdisk)", Sparse::load(&gpt.path)));
    let mut hybrid = Img::new(tools, dir, "base-hybrid.img", 4 * MIB);
    hybrid
        .sgdisk(&[
            "-U",
            "4B504152-5458-4B50-4152-545800000002",
            "-n",
            "1:2048:+512K",
            "-n",
            "2:0:+512K",
        ])
        .sgdisk(&["-h", "1:2"]);
    images.push(("hybrid gpt (sgdisk)", Sparse::load(&hybrid.path)));
    for label in ["bsd", "sun", "mac"] {
        let mut img = Img::new(tools, dir, &format!("base-{label}.img"), 8 * MIB);
        let fs_or_name = if label == "mac" { "p" } else { "ext2" };
        img.parted(&[
            "mklabel", label, "mkpart", fs_or_name, "1MiB", "2MiB", "mkpart", fs_or_name, "2MiB",
            "5MiB",
        ]);
        let name = match label {
            "bsd" => "bsd (parted)",
            "sun" => "sun (parted)",
            _ => "mac (parted)",
        };
        images.push((name, Sparse::load(&img.path)));
    }
    for (_, img) in &images {
        assert!(!img.sectors.is_empty());
    }
    Bases { images }
}

fn disk_size(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => MIB,
        1 => 2 * MIB + 512 * rng.below(100),
        2 => 3 * MIB + rng.below(1024),
        3 => 8 * MIB,
        _ => 4 * MIB,
    }
}

fn gen_dos(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let mut notes = Vec::new();
    let mut mbr = vec![0u8; 512];
    let mut extended = Vec::new();
    for i in 0..4 {
        if rng.chance(20) {
            continue;
        }
        let kind = match rng.below(12) {
            0..=3 => 0x83,
            4 | 5 => rng.pick(&[0x05u8, 0x0f, 0x85]),
            6 => 0,
            7 if rng.chance(20) => 0xEE,
            8 => 0x82,
            _ => rng.below(256) as u8,
        };
        let start = rng.lba(sectors) as u32;
        let count = match rng.below(8) {
            0 => 0,
            1 => rng.next() as u32,
            _ => rng.range(1, sectors / 2) as u32,
        };
        mbr[0x1BE + 16 * i..0x1BE + 16 * (i + 1)].copy_from_slice(&dos_entry(
            rng.pick(&[0u8, 0x80]),
            kind,
            start,
            count,
        ));
        notes.push(format!(
            "primary {}: type {kind:#04x} start {start} count {count}",
            i + 1
        ));
        if matches!(kind, 0x05 | 0x0f | 0x85) {
            extended.push(u64::from(start));
        }
    }
    if !rng.chance(5) {
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
    } else {
        notes.push("no 55AA in the MBR".into());
    }
    img.write(0, &mbr);
    for base in extended {
        let n = rng.below(9);
        let mut positions: Vec<u64> = vec![base];
        for _ in 1..n {
            positions.push(if rng.chance(85) {
                base + rng.range(1, (sectors.saturating_sub(base)).max(2))
            } else {
                rng.lba(sectors)
            });
        }
        for j in 0..positions.len() {
            let cur = positions[j];
            let mut entries = Vec::new();
            let wild = rng.below(256) as u8;
            let data_kind = rng.pick(&[0x83u8, 0x83, 0x07, 0x82, 0, wild]);
            let data = dos_entry(
                0,
                data_kind,
                if rng.chance(90) {
                    rng.range(1, 63) as u32
                } else {
                    rng.next() as u32
                },
                rng.range(0, 4000) as u32,
            );
            let link = match positions.get(j + 1) {
                Some(&next) if rng.chance(90) => {
                    let kind = rng.pick(&[0x05u8, 0x05, 0x0f, 0x85, 0x83, 0]);
                    let target = if rng.chance(10) {
                        rng.pick(&positions)
                    } else {
                        next
                    };
                    let count = if rng.chance(10) {
                        0
                    } else {
                        rng.range(1, 5000)
                    };
                    dos_entry(0, kind, target.wrapping_sub(base) as u32, count as u32)
                }
                _ if rng.chance(20) => dos_entry(0, rng.pick(&[0x05u8, 0x83]), 0, 0),
                _ => [0u8; 16],
            };
            if rng.chance(15) {
                entries.push(link);
                entries.push(data);
            } else {
                entries.push(data);
                entries.push(link);
            }
            if rng.chance(5) {
                entries.push(dos_entry(0, 0x83, 1, 1));
            }
            let mut sector = dos_sector(&entries);
            if rng.chance(4) {
                sector[511] = 0;
            }
            img.write(cur * 512, &sector);
            notes.push(format!(
                "EBR at {cur}: {}",
                entries
                    .iter()
                    .map(|e| format!("[{:#04x} {} {}]", e[4], get_le32(e, 8), get_le32(e, 12)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }
    Generated {
        family: "dos",
        notes,
        image: img,
        options: vec!["-l"],
    }
}

fn random_guid(rng: &mut Rng) -> [u8; 16] {
    let mut g = [0u8; 16];
    rng.fill(&mut g);
    g
}

fn gen_gpt(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let last = img.last_lba();
    let mut notes = Vec::new();
    // Protective MBR.
    let pmbr = rng.below(10);
    let mut entries_mbr = vec![dos_entry(0, 0xEE, 1, (sectors - 1) as u32)];
    match pmbr {
        0 => {
            entries_mbr[0][4] = 0x83;
            notes.push("PMBR type 83".into());
        }
        1 => {
            entries_mbr = vec![dos_entry(0x80, 0x0c, 2048, 1000), entries_mbr[0]];
            notes.push("hybrid MBR".into());
        }
        2 => notes.push("no PMBR".into()),
        _ => {}
    }
    if pmbr != 2 {
        img.write(0, &dos_sector(&entries_mbr));
    }
    // Entry array.
    let num_entries = match rng.below(10) {
        0 => rng.range(1, 8) as u32,
        1 => rng.range(129, 300) as u32,
        2 => rng.range(1, 2000) as u32,
        3 if rng.chance(30) => 0,
        _ => 128,
    };
    let used = rng.range(0, u64::from(num_entries).min(300));
    let entry_lba = if rng.chance(90) { 2 } else { rng.lba(sectors) };
    let first_usable = 2 + u64::from(num_entries).div_ceil(4);
    let mut array = vec![0u8; num_entries as usize * 128];
    let mut described = Vec::new();
    for i in 0..used as usize {
        if rng.chance(30) {
            continue;
        }
        let e = &mut array[i * 128..(i + 1) * 128];
        let t = if rng.chance(5) {
            [0u8; 16]
        } else {
            random_guid(rng)
        };
        e[0..16].copy_from_slice(&t);
        e[16..32].copy_from_slice(&random_guid(rng));
        let start = if rng.chance(80) {
            rng.range(first_usable.min(last), last)
        } else {
            rng.lba(sectors)
        };
        let end = match rng.below(10) {
            0 => start.wrapping_sub(rng.range(1, 10)),
            1 => rng.lba(sectors),
            2 => start,
            _ => start + rng.below(sectors / 8),
        };
        e[32..40].copy_from_slice(&start.to_le_bytes());
        e[40..48].copy_from_slice(&end.to_le_bytes());
        described.push(format!("{}:{start}-{end}", i + 1));
    }
    notes.push(format!(
        "entries at LBA {entry_lba}, {num_entries} of them, used {}",
        described.join(" ")
    ));
    img.write(entry_lba * 512, &array);
    let primary = GptHeader {
        header_size: if rng.chance(5) {
            rng.pick(&[0u32, 20, 91, 96, 512, 513])
        } else {
            92
        },
        my_lba: if rng.chance(3) { rng.lba(sectors) } else { 1 },
        alternate_lba: if rng.chance(10) {
            rng.lba(sectors)
        } else {
            last
        },
        first_usable,
        last_usable: last.saturating_sub(first_usable - 1),
        guid: random_guid(rng),
        entry_lba,
        num_entries,
        entry_size: if rng.chance(3) { 256 } else { 128 },
    };
    notes.push(format!(
        "primary: header_size {} my_lba {} alternate {} entry_size {}",
        primary.header_size, primary.my_lba, primary.alternate_lba, primary.entry_size
    ));
    img.write(512, &primary.bytes());
    gpt_fix_crcs(&mut img, 1);
    // Backup.
    if rng.chance(70) {
        let backup_entries = last.saturating_sub(u64::from(num_entries).div_ceil(4));
        let mut backup = GptHeader {
            my_lba: last,
            alternate_lba: 1,
            entry_lba: backup_entries,
            ..primary
        };
        backup.header_size = 92;
        backup.entry_size = 128;
        let mut barray = array.clone();
        match rng.below(8) {
            0 => {
                backup.num_entries = backup.num_entries.wrapping_add(1);
                barray.extend_from_slice(&[0; 128]);
                notes.push("backup: one more entry".into());
            }
            1 => {
                backup.first_usable += 1;
                backup.last_usable -= 1;
                notes.push("backup: usable range differs".into());
            }
            2 => {
                backup.guid = random_guid(rng);
                notes.push("backup: other disk GUID".into());
            }
            3 if !barray.is_empty() => {
                let e = &mut barray[..128];
                e[0..16].copy_from_slice(&random_guid(rng));
                e[32..40].copy_from_slice(&100u64.to_le_bytes());
                e[40..48].copy_from_slice(&199u64.to_le_bytes());
                notes.push("backup: entry 1 = 100..199".into());
            }
            4 => {
                backup.alternate_lba = 2;
                notes.push("backup: alternate_lba 2".into());
            }
            _ => {}
        }
        let at = if rng.chance(90) {
            last
        } else {
            rng.lba(sectors)
        };
        backup.my_lba = at;
        img.write(backup.entry_lba * 512, &barray);
        img.write(at * 512, &backup.bytes());
        gpt_fix_crcs(&mut img, at);
        notes.push(format!("backup header at {at}"));
    } else {
        notes.push("no backup header".into());
    }
    match rng.below(10) {
        0 => {
            img.write(512 + 100, &[0xFF]);
            notes.push("primary corrupted after the CRCs".into());
        }
        1 => {
            img.write(last * 512 + 8, &[0xFF]);
            notes.push("backup corrupted after the CRCs".into());
        }
        2 => {
            img.write(entry_lba * 512 + 200, &[0x5A]);
            notes.push("entry array corrupted".into());
        }
        _ => {}
    }
    Generated {
        family: "gpt",
        notes,
        image: img,
        options: if rng.chance(25) {
            vec!["-l", "-g"]
        } else {
            vec!["-l"]
        },
    }
}

fn gen_bsd(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let n = rng.range(0, 16) as usize;
    let npartitions = if rng.chance(10) {
        rng.below(65536) as u16
    } else {
        rng.range(n as u64, 16) as u16
    };
    let mut parts = Vec::new();
    for _ in 0..n {
        let wild = rng.below(256) as u8;
        let fstype = rng.pick(&[0u8, 7, 7, 1, 8, wild]);
        let (size, offset) = match rng.below(6) {
            0 => (sectors, 0),
            1 => (0, rng.lba(sectors)),
            _ => {
                let off = rng.below(sectors);
                (rng.range(1, (sectors - off).max(1)), off)
            }
        };
        parts.push((size as u32, offset as u32, fstype));
    }
    let at = if rng.chance(75) { 512 } else { 64 };
    img.write(at, &bsd_label(npartitions, &parts));
    Generated {
        family: "bsd",
        notes: vec![format!(
            "BSD label at {at}, npartitions {npartitions}, (size, offset, fstype) {parts:?}"
        )],
        image: img,
        options: vec!["-l"],
    }
}

fn gen_sun(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let (ntrks, nsect) = if rng.chance(10) {
        (rng.below(65536) as u16, rng.below(65536) as u16)
    } else {
        (rng.range(1, 16) as u16, rng.range(1, 63) as u16)
    };
    let per_cyl = (u64::from(ntrks) * u64::from(nsect)).max(1);
    let mut parts = Vec::new();
    for _ in 0..8 {
        let part = match rng.below(5) {
            0 => (0, 0),
            1 => (0, sectors as u32),
            _ => {
                let cyl = rng.below(sectors / per_cyl + 2);
                (cyl as u32, rng.range(1, sectors / 2) as u32)
            }
        };
        parts.push(part);
    }
    let mut label = sun_label(ntrks, nsect, &parts);
    let mut notes = vec![format!(
        "Sun label ntrks {ntrks} nsect {nsect} (cyl, sectors) {parts:?}"
    )];
    if rng.chance(10) {
        label[300] ^= 0x10;
        notes.push("checksum broken".into());
    }
    img.write(0, &label);
    Generated {
        family: "sun",
        notes,
        image: img,
        options: vec!["-l"],
    }
}

fn gen_mac(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let bs: u16 = rng.pick(&[512, 512, 1024, 2048, 4096, 256, 0]);
    let mut block0 = vec![0u8; 512];
    block0[0..2].copy_from_slice(&0x4552u16.to_be_bytes());
    block0[2..4].copy_from_slice(&bs.to_be_bytes());
    img.write(0, &block0);
    let scale = (u64::from(bs) / 512).max(1);
    let room = if bs == 0 {
        0
    } else {
        (img.size / u64::from(bs)).saturating_sub(1).min(300)
    };
    let n = rng.range(0, room.min(40));
    let map_count = match rng.below(5) {
        0 => rng.range(0, 300) as u32,
        1 => n as u32 + 1,
        _ => n as u32,
    };
    let mut described = Vec::new();
    for k in 1..=n {
        let mut e = vec![0u8; 64];
        e[0..2].copy_from_slice(&0x504Du16.to_be_bytes());
        e[4..8].copy_from_slice(&map_count.to_be_bytes());
        let start = rng.below(sectors / scale + 4) as u32;
        let count = if rng.chance(5) {
            rng.next() as u32
        } else {
            rng.below(sectors / scale) as u32
        };
        e[8..12].copy_from_slice(&start.to_be_bytes());
        e[12..16].copy_from_slice(&count.to_be_bytes());
        e[16..20].copy_from_slice(b"part");
        e[48..57].copy_from_slice(b"Apple_HFS");
        if rng.chance(3) {
            e[0] = 0;
        }
        img.write(k * u64::from(bs), &e);
        described.push(format!("{k}:{start}+{count}"));
    }
    Generated {
        family: "mac",
        notes: vec![format!(
            "mac bs {bs}, map_count {map_count}, entries {}",
            described.join(" ")
        )],
        image: img,
        options: vec!["-l"],
    }
}

fn gen_misc(rng: &mut Rng) -> Generated {
    let mut img = Sparse::new(disk_size(rng));
    let sectors = img.size / 512;
    let notes;
    let family;
    match rng.below(4) {
        0 => {
            family = "ps3";
            let mut label = vec![0u8; 1536];
            label[16..24].copy_from_slice(&0x0FAC_E0FFu64.to_be_bytes());
            label[24..32].copy_from_slice(&0xDEAD_FACEu64.to_be_bytes());
            let mut parts = Vec::new();
            for k in 0..8 {
                let (start, size) = match rng.below(5) {
                    0 => (0, rng.below(100)),
                    1 => (rng.next(), rng.next()),
                    _ => (rng.below(sectors), rng.below(sectors)),
                };
                let at = 0x30 + 144 * k;
                label[at..at + 8].copy_from_slice(&start.to_be_bytes());
                label[at + 8..at + 16].copy_from_slice(&size.to_be_bytes());
                parts.push((start, size));
            }
            img.write(0, &label);
            notes = vec![format!("PS3 (start, size) {parts:?}")];
        }
        1 => {
            family = "unixware";
            let mut label = vec![0u8; 512];
            label[4..8].copy_from_slice(&le32(0xCA5E_600D));
            label[156..160].copy_from_slice(&le32(0x600D_DEEE));
            let mut parts = Vec::new();
            for k in 0..16 {
                let wild = rng.below(65536) as u16;
                let tag = rng.pick(&[0u16, 0, 2, 5, wild]);
                let start = rng.lba(sectors) as u32;
                let count = rng.below(sectors) as u32;
                let at = 216 + 12 * k;
                label[at..at + 2].copy_from_slice(&le16(tag));
                label[at + 4..at + 8].copy_from_slice(&le32(start));
                label[at + 8..at + 12].copy_from_slice(&le32(count));
                parts.push((tag, start, count));
            }
            img.write(29 * 512, &label);
            notes = vec![format!("UnixWare (tag, start, count) {parts:?}")];
        }
        2 => {
            family = "dasd";
            let mut label = vec![0u8; 512];
            let kind = rng.below(3);
            match kind {
                0 => {
                    label[4..8].copy_from_slice(&[0xD3, 0xD5, 0xE7, 0xF1]);
                    if rng.chance(50) {
                        label[83] = 0xF2;
                        label[84..92].copy_from_slice(&rng.range(3, sectors * 2).to_le_bytes());
                    }
                }
                1 => {
                    label[4..8].copy_from_slice(&[0xC3, 0xD4, 0xE2, 0xF1]);
                    let bs = rng.pick(&[512u32, 1024, 2048, 4096]);
                    label[16..20].copy_from_slice(&le32(bs));
                    let blocks = rng.range(8, sectors * 512 / u64::from(bs)) as u32;
                    label[32..36].copy_from_slice(&le32(blocks));
                    if rng.chance(30) {
                        label[56..60].copy_from_slice(&le32(rng.range(1, 4) as u32));
                    }
                }
                _ => {
                    label[4..8].copy_from_slice(&[0xE5, 0xD6, 0xD3, 0xF1]);
                    label[19] = rng.range(0, 5) as u8;
                    let first = 3 + u64::from(label[19]);
                    for n in 0..rng.below(12) {
                        let mut d = vec![0u8; 512];
                        d[44] = rng.pick(&[0xF1u8, 0xF8, 0xF4, 0xF5, 0xF7, 0xF9]);
                        for at in [107, 111] {
                            d[at..at + 2].copy_from_slice(&le16(rng.below(3) as u16));
                            d[at + 2..at + 4].copy_from_slice(&le16(rng.below(15) as u16));
                        }
                        img.write((first + n) * 512, &d);
                    }
                }
            }
            img.write(1024, &label);
            notes = vec![format!("DASD label kind {kind} (0 LNX1, 1 CMS1, 2 VOL1)")];
        }
        _ => {
            family = "garbage";
            let mut head = vec![0u8; 512 * rng.range(1, 40) as usize];
            rng.fill(&mut head);
            if rng.chance(50) {
                head[510] = 0x55;
                head[511] = 0xAA;
            }
            img.write(0, &head);
            notes = vec![format!("{} bytes of noise", head.len())];
        }
    }
    Generated {
        family,
        notes,
        image: img,
        options: vec!["-l"],
    }
}

fn gen_flip(rng: &mut Rng, bases: &Bases) -> Generated {
    let (name, base) = &bases.images[rng.below(bases.images.len() as u64) as usize];
    let mut img = base.clone();
    let count = rng.range(1, 6);
    let within = if rng.chance(70) { 4 } else { 64 };
    let mut notes = vec![format!("base {name}")];
    notes.extend(img.flip(rng, count, within));
    if name.contains("gpt") && rng.chance(60) {
        gpt_fix_crcs(&mut img, 1);
        let last = img.last_lba();
        gpt_fix_crcs(&mut img, last);
        notes.push("GPT CRCs recomputed".into());
    }
    Generated {
        family: "flip",
        notes,
        image: img,
        options: if rng.chance(15) {
            vec!["-l", "-g"]
        } else {
            vec!["-l"]
        },
    }
}

fn generate(seed: u64, bases: &Bases) -> Generated {
    let mut rng = Rng::new(seed);
    let mut g = match rng.below(16) {
        0..=2 => gen_dos(&mut rng),
        3..=6 => gen_gpt(&mut rng),
        7 | 8 => gen_bsd(&mut rng),
        9 => gen_sun(&mut rng),
        10 => gen_mac(&mut rng),
        11 | 12 => gen_misc(&mut rng),
        _ => gen_flip(&mut rng, bases),
    };
    if g.family != "flip" && rng.chance(20) {
        let count = rng.range(1, 3);
        let flips = g.image.flip(&mut rng, count, 4);
        g.notes.push(format!("then flipped {}", flips.join(", ")));
    }
    g
}

/// Documented deliberate differences an image triggers, if any (then a mismatch is expected).
fn hardening(img: &Sparse) -> Vec<String> {
    let mut found = Vec::new();
    let sectors = img.size / 512;
    let mut header_lbas = vec![1, img.last_lba()];
    let primary = img.read(512, 512);
    if &primary[0..8] == b"EFI PART" {
        header_lbas.push(get_le64(&primary, 32));
    }
    for lba in header_lbas {
        let Some(at) = lba.checked_mul(512).filter(|&a| a < img.size) else {
            continue;
        };
        let h = img.read(at, 512);
        if &h[0..8] != b"EFI PART" {
            continue;
        }
        let hs = get_le32(&h, 12);
        if !(92..=512).contains(&hs) {
            found.push(format!(
                "GPT header at {lba}: header_size {hs} outside 92..=512"
            ));
        }
        let num = u64::from(get_le32(&h, 80));
        let end = get_le64(&h, 72)
            .checked_mul(512)
            .and_then(|s| s.checked_add(num * 128));
        if num > 1 << 20 || end.is_none_or(|e| e > sectors * 512) {
            found.push(format!(
                "GPT header at {lba}: entry array not inside the device"
            ));
        }
    }
    // DOS: the reference reads EBRs with a 32-bit block number, so a chain that links beyond
    // 2^32 sectors wraps around to the start of the disk (dos.rs: "the reference's 32-bit wrap
    // above 2 TiB is not reproduced").
    if let Some(here) = dos_chain_wraps(img) {
        found.push(format!("DOS: EBR chain reaches block {here} (>= 2^32)"));
    }
    // Mac: 32-bit products in the reference.
    let b0 = img.read(0, 512);
    if b0[0..2] == [0x45, 0x52] {
        let bs = u64::from(u16::from_be_bytes([b0[2], b0[3]]));
        let scale = bs / 512;
        for k in 1..=256u64 {
            let e = img.read(k * bs, 16);
            if e[0..2] != [0x50, 0x4D] || bs == 0 {
                break;
            }
            let start = u64::from(u32::from_be_bytes(e[8..12].try_into().expect("4")));
            let count = u64::from(u32::from_be_bytes(e[12..16].try_into().expect("4")));
            if start * scale > u64::from(u32::MAX) || count * scale > u64::from(u32::MAX) {
                found.push("mac: 32-bit start/size overflow".into());
                break;
            }
        }
    }
    // DASD: saturating instead of wrapping arithmetic.
    let label = img.read(1024, 512);
    match label[4..8] {
        [0xC3, 0xD4, 0xE2, 0xF1] => {
            let w = |n: usize| u64::from(get_le32(&label, 4 * n));
            let scale = w(4) / 512;
            let (offset, blocks) = match w(14) {
                0 => (3, w(8)),
                r => (r, w(8).wrapping_sub(1)),
            };
            if blocks * scale < offset * scale {
                found.push("dasd CMS1: size below start".into());
            }
        }
        [0xD3, 0xD5, 0xE7, 0xF1] if label[83] == 0xF2 && get_le64(&label, 84) < 3 => {
            found.push("dasd LNX1: formatted size below start".into());
        }
        _ => {}
    }
    found
}

/// Follows the EBR chains the way the reference does (64-bit block numbers, 32-bit reads) and
/// returns the first block number that does not fit in 32 bits, if any.
fn dos_chain_wraps(img: &Sparse) -> Option<u64> {
    let signed = |b: &[u8]| b[510] == 0x55 && b[511] == 0xAA;
    let extended = |kind: u8| matches!(kind, 0x05 | 0x0f | 0x85);
    let mbr = img.read(0, 512);
    if !signed(&mbr) || (0..4).any(|i| mbr[0x1BE + 16 * i + 4] == 0xEE) {
        return None;
    }
    for i in 0..4 {
        let e = &mbr[0x1BE + 16 * i..0x1BE + 16 * (i + 1)];
        if !extended(e[4]) {
            continue;
        }
        let base = u64::from(get_le32(e, 8));
        let mut next = Some(base);
        for _ in 0..1000 {
            let Some(here) = next.take() else { break };
            if here > u64::from(u32::MAX) {
                return Some(here);
            }
            let ebr = img.read(here * 512, 512);
            if !signed(&ebr) {
                break;
            }
            for slot in 0..2 {
                let e = &ebr[0x1BE + 16 * slot..0x1BE + 16 * (slot + 1)];
                let (start, count) = (get_le32(e, 8), get_le32(e, 12));
                if extended(e[4]) && start != 0 && count != 0 && next.is_none() {
                    next = Some(base + u64::from(start));
                }
            }
        }
    }
    None
}

/// A `u64` from the environment (decimal or `0x` hex).
fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

#[test]
fn differential_random_images() {
    let tools = match environment() {
        Ok(t) => t,
        Err(why) => return skip("differential_random_images", &why),
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let seed = env_u64("KPARTX_DIFF_SEED").unwrap_or(0x6B70_6172_7478_0000);
    let cases = env_u64("KPARTX_DIFF_CASES").unwrap_or(150);
    let budget = Duration::from_secs(env_u64("KPARTX_DIFF_SECONDS").unwrap_or(50));
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().canonicalize().expect("canonical tempdir");
    let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("list-differential");
    let bases = bases(&tools, &dir);
    let mut bench = Bench {
        tools: &tools,
        dir: &dir,
        problems: Vec::new(),
        notes: Vec::new(),
        retries: 0,
    };
    let mut failures = Vec::new();
    let mut known = 0;
    let mut hung = 0;
    let mut ran = 0;
    let mut families: BTreeMap<&str, usize> = BTreeMap::new();
    let mut listed = 0;
    for i in 0..cases {
        if started.elapsed() > budget {
            eprintln!("differential: time budget used up after {ran} cases");
            break;
        }
        let case_seed = seed.wrapping_add(i);
        let g = generate(case_seed, &bases);
        ran += 1;
        *families.entry(g.family).or_default() += 1;
        let path = dir.join("case.img");
        g.image.save(&path);
        let mut args: Vec<OsString> = g.options.iter().map(OsString::from).collect();
        args.push(path.clone().into());
        let label = format!("seed {case_seed:#x}");
        match bench.compare(&label, &args) {
            Verdict::Same(ours) => {
                if !ours.stdout.is_empty() {
                    listed += 1;
                }
                if ours.status.code() == Some(0)
                    && let Err(e) = check_json(&args, &ours.stdout, &tools.losetup, &dir)
                {
                    failures.push(format!(
                        "seed {case_seed:#x} ({}): --json: {e}\n    notes: {}",
                        g.family,
                        g.notes.join("; ")
                    ));
                }
            }
            Verdict::ReferenceHung => {
                hung += 1;
                eprintln!(
                    "differential: seed {case_seed:#x} ({}): the reference hung; not compared",
                    g.family
                );
            }
            Verdict::Differ { reference, ours } => {
                let why = hardening(&g.image);
                let _ = fs::create_dir_all(&keep);
                let kept = keep.join(format!("{case_seed:#x}.img"));
                let _ = fs::copy(&path, &kept);
                let text = format!(
                    "seed {case_seed:#x} (family {}): kpartx {}\n    reproduce: \
                     KPARTX_DIFF_SEED={case_seed:#x} KPARTX_DIFF_CASES=1 cargo test --test \
                     list_compat differential\n    image kept at {}\n    notes: {}\n{}",
                    g.family,
                    g.options.join(" "),
                    kept.display(),
                    g.notes.join("\n           "),
                    render_diff(&reference, &ours)
                );
                if why.is_empty() {
                    failures.push(text);
                } else {
                    known += 1;
                    eprintln!(
                        "KNOWN DIFFERENCE (documented hardening: {}) {text}",
                        why.join("; ")
                    );
                }
            }
        }
    }
    failures.extend(bench.problems.iter().cloned());
    for note in &bench.notes {
        eprintln!("note: {note}");
    }
    eprintln!(
        "differential_random_images: {ran} cases ({families:?}), {listed} with partitions, \
         {} failures, {known} known differences, {hung} reference hangs, {} notes, {} loop retries, \
         {:.1?}",
        failures.len(),
        bench.notes.len(),
        bench.retries,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {ran} random images differ from the reference:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
