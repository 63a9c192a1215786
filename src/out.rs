//! Standard output that never panics.
//!
//! Every line kpartx prints on stdout goes through [`print()`] or [`print_bytes`]. A write error
//! (a full disk, EIO, …) is reported once on stderr as `kpartx: write error: <reason>`, further
//! output is dropped, and [`finish`] turns the run's status into [`Exit::Failed`], as the
//! reference does. A pipe without reader ends the process by SIGPIPE instead, like a C tool
//! (see [`defer_sigpipe`]).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SigSet, Signal};

use crate::device::DevNum;
use crate::exit::Exit;
use crate::sys_text::strerror;
use tracing::Level;

/// Set once a write to stdout failed.
static FAILED: AtomicBool = AtomicBool::new(false);
/// Set when stdout is a pipe without reader (EPIPE).
static BROKEN_PIPE: AtomicBool = AtomicBool::new(false);

/// Restores SIGPIPE's default action (the Rust runtime ignores it) and holds the signal back
/// until [`finish`]: a pipe without reader then ends the process by SIGPIPE like a C tool, but
/// only once the run has cleaned up after itself (loop devices detached, locks released,
/// device-mapper operations complete). Call it first thing in `main`, before any thread exists.
pub fn defer_sigpipe() {
    // SAFETY: SIG_DFL installs no handler; nothing else in the process handles SIGPIPE, and
    // this runs at the start of main before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Cannot fail for a valid signal; at worst SIGPIPE stays deliverable at once.
    let _ = sigpipe().thread_block();
}

fn sigpipe() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    set
}

/// Writes `text` on stdout (see the module documentation for errors).
pub fn print(text: &str) {
    print_bytes(text.as_bytes());
}

/// Writes raw bytes on stdout (names and paths need not be UTF-8).
pub fn print_bytes(bytes: &[u8]) {
    if FAILED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = io::stdout().lock().write_all(bytes) {
        failed(&e);
    }
}

/// Flushes stdout and returns the exit status: `status`, or [`Exit::Failed`] when anything
/// could not be written. This is the one place that decides it. When stdout's pipe lost its
/// reader, the SIGPIPE held back by [`defer_sigpipe`] is delivered here and ends the process;
/// a SIGPIPE raised by anything else (a socket) stays blocked and is discarded at exit.
pub fn finish(status: Exit) -> Exit {
    if !FAILED.load(Ordering::Relaxed)
        && let Err(e) = io::stdout().lock().flush()
    {
        failed(&e);
    }
    if BROKEN_PIPE.load(Ordering::Relaxed) {
        let _ = sigpipe().thread_unblock();
    }
    if FAILED.load(Ordering::Relaxed) {
        Exit::Failed
    } else {
        status
    }
}

fn failed(e: &io::Error) {
    // A broken pipe is reported by the SIGPIPE that [`finish`] lets through, not in words.
    if e.raw_os_error() == Some(libc::EPIPE) {
        BROKEN_PIPE.store(true, Ordering::Relaxed);
    }
    if !FAILED.swap(true, Ordering::Relaxed) && e.raw_os_error() != Some(libc::EPIPE) {
        // Nothing sensible is left to do when stderr fails too.
        let _ = writeln!(io::stderr(), "kpartx: write error: {}", strerror(e));
    }
}

/// An error as the user reads it: its own message and, with `verbose`, every cause below it
/// that adds something (`…: caused by: …`). The one place that decides how much of an
/// error's chain is shown.
///
/// The crate's errors keep their underlying error as [`source()`](std::error::Error::source)
/// and most also tell it in their message, in plain words: an `io::Error` as its errno's text
/// ([`strerror`]: `Permission denied`, not `Permission denied (os error 13)`), a
/// `devicemapper` error as [`dm::plain_cause`](crate::dm::plain_cause). A cause already told,
/// in its own words or in those plain words, is not repeated: each cause is shown once.
/// (Rather than an error telling its source in its message or returning it from `source()`,
/// never both: the messages without `-v` are the reference's words and stay so, and no
/// error drops its source.)
pub fn render_error(err: &dyn std::error::Error, verbose: bool) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause.filter(|_| verbose) {
        let more = e.to_string();
        let told = text.contains(&more) || plain_words(e).is_some_and(|w| text.contains(&w));
        if !told {
            text.push_str(": caused by: ");
            text.push_str(&more);
        }
        cause = e.source();
    }
    text
}

/// How an error that tells `cause` in plain words writes it, for the causes that are told so
/// (see [`render_error`]); `None` for any other cause.
fn plain_words(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(e) = cause.downcast_ref::<io::Error>() {
        return Some(strerror(e));
    }
    cause
        .downcast_ref::<devicemapper::DmError>()
        .map(crate::dm::plain_cause)
}

/// Where a front end writes its two streams and its log. [`Stdio`] is the process's standard
/// output and error, through this module's writers that never panic, and the log set up by
/// [`crate::logging`] (the journal, stderr); tests capture what a run printed and logged with
/// `Captured` (tests only). Both front ends write only through one of these, so their text,
/// JSON, messages and log lines can be checked without running the binary.
pub trait Printer {
    /// Writes `bytes` on standard output.
    fn out_bytes(&mut self, bytes: &[u8]);
    /// Writes `text` on standard error.
    fn err(&mut self, text: &str);
    /// Writes `text` on standard output.
    fn out(&mut self, text: &str) {
        self.out_bytes(text.as_bytes());
    }
    /// Logs `text` at `level`, about device `dev` when given (helper mode's records).
    fn log(&mut self, level: Level, dev: Option<DevNum>, text: &str);
}

/// The process's standard output and error.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stdio;

impl Printer for Stdio {
    fn out_bytes(&mut self, bytes: &[u8]) {
        print_bytes(bytes);
    }

    fn err(&mut self, text: &str) {
        eprint(text);
    }

    fn log(&mut self, level: Level, dev: Option<DevNum>, text: &str) {
        macro_rules! emit {
            ($level:expr) => {
                match dev {
                    Some(dev) => tracing::event!($level, dev = %dev, "{text}"),
                    None => tracing::event!($level, "{text}"),
                }
            };
        }
        match level {
            Level::ERROR => emit!(Level::ERROR),
            Level::WARN => emit!(Level::WARN),
            Level::INFO => emit!(Level::INFO),
            Level::DEBUG => emit!(Level::DEBUG),
            Level::TRACE => emit!(Level::TRACE),
        }
    }
}

/// What a run printed, for tests.
#[cfg(any(test, feature = "testkit"))]
#[derive(Debug, Default, Clone)]
pub struct Captured {
    /// Everything written on standard output.
    pub stdout: Vec<u8>,
    /// Everything written on standard error.
    pub stderr: String,
    /// Every log record, as `LEVEL text`.
    pub log: Vec<String>,
}

#[cfg(any(test, feature = "testkit"))]
impl Captured {
    /// Standard output as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

#[cfg(any(test, feature = "testkit"))]
impl Printer for Captured {
    fn out_bytes(&mut self, bytes: &[u8]) {
        self.stdout.extend_from_slice(bytes);
    }

    fn err(&mut self, text: &str) {
        self.stderr.push_str(text);
    }

    fn log(&mut self, level: Level, _dev: Option<DevNum>, text: &str) {
        self.log.push(format!("{level} {text}"));
    }
}

/// `println!` onto a [`Printer`]'s standard output.
#[macro_export]
macro_rules! pout {
    ($p:expr, $($arg:tt)*) => {
        $p.out(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` onto a [`Printer`]'s standard error.
#[macro_export]
macro_rules! perr {
    ($p:expr, $($arg:tt)*) => {
        $p.err(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `println!` through [`out::print`](crate::out::print): never panics.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::print(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes `text` on stderr; a failure is ignored (there is nowhere left to report it), so a
/// closed or full stderr never ends the run early.
pub fn eprint(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// `eprintln!` through [`out::eprint`](crate::out::eprint): never panics.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::eprint(&format!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("cannot do it")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_chain_is_shown_with_verbose_only() {
        let err = Outer(std::io::Error::other("the disk is on fire"));
        assert_eq!(render_error(&err, false), "cannot do it");
        assert_eq!(
            render_error(&err, true),
            "cannot do it: caused by: the disk is on fire"
        );
    }

    /// Every error type of the crate that has a cause, with the cause's plain words: `-v`
    /// shows each cause exactly once, and the message without `-v` is the error's own.
    mod each_cause_once {
        use std::error::Error;
        use std::io;
        use std::path::PathBuf;

        use super::render_error;
        use crate::device::loopdev::AttachError;
        use crate::dm::cookie::WaitError;
        use crate::dm::kernel::{LookError, Looked, OpenError};
        use crate::dm::{OpError, Stage, plain_cause};
        use crate::engine::EngineError;
        use crate::resolve::ResolveError;

        const DENIED: &str = "Permission denied";
        const NXIO: &str = "No such device or address";

        fn os(errno: i32) -> io::Error {
            io::Error::from_raw_os_error(errno)
        }

        fn enxio() -> devicemapper::DmError {
            let errno = Box::new(nix::errno::Errno::ENXIO);
            devicemapper::DmError::Core(devicemapper::errors::Error::Ioctl(3, None, None, errno))
        }

        fn attach_error() -> AttachError {
            AttachError {
                context: Some("/dev/loop-control".into()),
                source: os(libc::EACCES),
            }
        }

        fn look_error() -> LookError {
            let err = enxio();
            LookError::new(
                Looked::Name(crate::dm::types::MapName::new("sda1")),
                plain_cause(&err),
                err,
            )
        }

        #[track_caller]
        fn once(err: &dyn Error, cause: &str) {
            assert!(err.source().is_some(), "{err} keeps its source");
            assert_eq!(render_error(err, false), err.to_string());
            let verbose = render_error(err, true);
            assert_eq!(verbose.matches(cause).count(), 1, "{verbose}");
        }

        #[test]
        fn resolve_errors() {
            let path = || PathBuf::from("/dev/nope");
            let stat = ResolveError::Stat(path(), os(libc::ENOENT));
            assert_eq!(render_error(&stat, false), "failed to stat() /dev/nope");
            once(&stat, "No such file or directory");
            once(&ResolveError::Realpath(path(), os(libc::EACCES)), DENIED);
            once(&ResolveError::ReadImage(path(), os(libc::EACCES)), DENIED);
            let loop_setup = ResolveError::LoopSetup {
                file: path(),
                error: attach_error(),
            };
            once(&loop_setup, DENIED);
            once(&loop_setup, "/dev/loop-control");
        }

        #[test]
        fn engine_errors() {
            once(
                &EngineError::Lock("/dev/sda".into(), os(libc::EACCES)),
                DENIED,
            );
            once(
                &EngineError::Read("/dev/sda".into(), os(libc::EIO)),
                "I/O error",
            );
            once(&EngineError::Look(look_error()), NXIO);
            let image = ResolveError::ReadImage("/srv/a.img".into(), os(libc::EACCES));
            once(&EngineError::Resolve(image), DENIED);
        }

        #[test]
        fn device_and_dm_errors() {
            once(&attach_error(), DENIED);
            once(&look_error(), NXIO);
            once(&OpenError::Control(os(libc::ENODEV)), "No such device");
            once(&OpenError::Versions(enxio()), NXIO);
            once(
                &OpError::io(Stage::Load, os(libc::EBUSY)),
                "Device or resource busy",
            );
            once(
                &OpError::io_in(Stage::Remove, "/dev/mapper/x", os(libc::EACCES)),
                DENIED,
            );
            once(&OpError::dm(Stage::Resume, enxio()), NXIO);
            once(&WaitError::Io(os(libc::EINVAL)), "Invalid argument");
        }

        #[test]
        fn a_cause_told_in_other_words_is_still_shown() {
            let verbose = render_error(&ResolveError::Stat("/x".into(), os(libc::ENOENT)), true);
            assert_eq!(
                verbose,
                "failed to stat() /x: caused by: No such file or directory (os error 2)"
            );
        }
    }
}
