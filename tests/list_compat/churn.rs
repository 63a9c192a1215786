//! Another process taking and releasing loop devices while the comparisons run.
//!
//! With `KPARTX_TEST_LOOP_CHURN=1` each test starts a thread that attaches a scratch file to
//! the first free loop device and detaches it again (`losetup -f --show FILE`, `losetup -d
//! DEV`), as fast as it can, until the test ends. The comparisons must pass all the same: the
//! loop number the reference and ours get then differs from run to run, which the harness
//! handles by retrying and then comparing modulo loop numbers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crate::harness::attached_loops;

/// The environment variable that turns the churner on.
pub const CHURN_VAR: &str = "KPARTX_TEST_LOOP_CHURN";

/// A running churner; [`Churn::finish`] stops it.
pub struct Churn {
    stop: Arc<AtomicBool>,
    cycles: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    losetup: PathBuf,
    file: PathBuf,
    started: Instant,
    _dir: tempfile::TempDir,
}

impl Churn {
    /// Starts a churner when `KPARTX_TEST_LOOP_CHURN=1`.
    pub fn from_env(losetup: &Path) -> Option<Churn> {
        if std::env::var(CHURN_VAR).as_deref() != Ok("1") {
            return None;
        }
        // Its own directory with its own prefix: the tests reap loops by backing-file
        // directory and must never see the churner's as theirs.
        let dir = tempfile::Builder::new()
            .prefix("kpartx-churn-")
            .tempdir()
            .expect("churn tempdir");
        let file = dir
            .path()
            .canonicalize()
            .expect("churn dir")
            .join("churn.img");
        std::fs::File::create(&file)
            .and_then(|f| f.set_len(1024 * 1024))
            .expect("churn image");
        let stop = Arc::new(AtomicBool::new(false));
        let cycles = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, cycles, failures) = (stop.clone(), cycles.clone(), failures.clone());
            let (losetup, file) = (losetup.to_path_buf(), file.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match attach(&losetup, &file) {
                        Some(dev) => {
                            detach(&losetup, &dev);
                            cycles.fetch_add(1, Ordering::Relaxed);
                        }
                        None => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        };
        eprintln!(
            "loop churn: attaching and detaching {} in a loop",
            file.display()
        );
        Some(Churn {
            stop,
            cycles,
            failures,
            thread: Some(thread),
            losetup: losetup.to_path_buf(),
            file,
            started: Instant::now(),
            _dir: dir,
        })
    }

    /// Stops the churner; an error when it never managed a cycle (then nothing was tested).
    pub fn finish(mut self) -> Result<String, String> {
        self.stop_and_clean();
        let cycles = self.cycles.load(Ordering::Relaxed);
        let failures = self.failures.load(Ordering::Relaxed);
        let summary = format!(
            "loop churn: {cycles} attach/detach cycles ({failures} failed attaches) in {:.1?}",
            self.started.elapsed()
        );
        if cycles == 0 {
            Err(format!("{summary}: the churner never attached a loop"))
        } else {
            Ok(summary)
        }
    }

    fn stop_and_clean(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let file = self.file.to_string_lossy().into_owned();
        for (dev, backing) in attached_loops() {
            if backing == file {
                detach(&self.losetup, &dev);
            }
        }
    }
}

impl Drop for Churn {
    /// A failing test must not leave the churner running or its loop attached.
    fn drop(&mut self) {
        self.stop_and_clean();
    }
}

/// `losetup -f --show FILE`: the loop device it got.
fn attach(losetup: &Path, file: &Path) -> Option<String> {
    let out = Command::new(losetup)
        .args(["-f", "--show"])
        .arg(file)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let dev = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && dev.starts_with("/dev/loop")).then_some(dev)
}

fn detach(losetup: &Path, dev: &str) {
    let _ = Command::new(losetup)
        .arg("-d")
        .arg(dev)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
