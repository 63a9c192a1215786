//! Facts about the machine the host tests run on, and output normalisation.

use std::path::PathBuf;

/// Whether the process runs with effective uid 0 (loop devices need it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The variable that says every test must really run: where it is `1` (CI, which runs as
/// root with loop devices and the reference installed), [`skip`] fails instead of skipping.
pub const REQUIRE_ALL: &str = "KPARTX_TEST_REQUIRE_ALL";

/// The one way a test skips itself because the machine lacks something (root, loop devices,
/// the reference binary): a `SKIP test: why` line on stderr, or, where [`REQUIRE_ALL`] is
/// set, a failure, so that a CI run cannot pass by skipping.
pub fn skip(test: &str, why: &str) {
    if std::env::var_os(REQUIRE_ALL).is_some_and(|v| v == "1") {
        panic!("{test} cannot run here ({why}), and {REQUIRE_ALL}=1 requires it to");
    }
    eprintln!("SKIP {test}: {why}");
}

/// `name` found in `PATH` or in the usual sbin/bin directories.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// `text` with every loop device number replaced by `N` (`loop3p1` → `loopNp1`): which free
/// loop a run gets depends on every other process using loop devices on the machine.
pub fn without_loop_numbers(text: &[u8]) -> Vec<u8> {
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

/// Runs the binary `kpartx` with `args`, stdin empty, stdout going to `stdout`, stderr captured.
pub fn run_with_stdout(
    kpartx: &str,
    args: &[&std::ffi::OsStr],
    stdout: std::process::Stdio,
) -> std::process::Output {
    std::process::Command::new(kpartx)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run kpartx")
}

/// Fails when the run panicked (a `panicked` line, or Rust's exit status 101).
pub fn assert_no_panic(out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_ne!(out.status.code(), Some(101), "stderr: {stderr}");
}

#[cfg(test)]
mod tests {
    use super::without_loop_numbers;

    #[test]
    fn loop_numbers_become_n() {
        assert_eq!(
            without_loop_numbers(b"loop12p1 : 0 8 /dev/loop12 2048\nloopy"),
            b"loopNp1 : 0 8 /dev/loopN 2048\nloopy"
        );
    }
}
