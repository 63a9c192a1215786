//! libdevmapper's udev synchronisation protocol, with a bounded wait.
//!
//! A cookie is a SysV semaphore with key `0x0D4D << 16 | base`. The ioctl carries
//! `flags << 16 | base` in `event_nr`; the kernel copies it into the uevent as `DM_COOKIE`,
//! and udev's `95-dm-notify.rules` runs `dmsetup udevcomplete`, which decrements the
//! semaphore. The waiter waits for zero. Unlike libdevmapper the wait here has a deadline, and
//! the semaphore is always removed (on success, error, timeout and unwinding alike).
//!
//! When udev cannot complete the cookie (it runs in another IPC namespace, or has no rule that
//! does), the wait also watches what udev visibly did ([`Witness`]) and ends once that shows
//! every event processed ([`super::unanswered`]), instead of running into its deadline.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::unanswered::{Judge, Reach};

/// Upper 16 bits of a cookie's key (`DM_COOKIE_MAGIC`).
pub const COOKIE_MAGIC: u32 = 0x0D4D;

/// udev flags sent with a cookie (upper 16 bits of `event_nr`).
pub mod flags {
    /// No `/dev/mapper` symlink rules.
    pub const DISABLE_DM_RULES: u16 = 0x0001;
    /// No subsystem (LVM, multipath) rules.
    pub const DISABLE_SUBSYSTEM_RULES: u16 = 0x0002;
    /// The tool will not create nodes itself; udev owns them.
    pub const DISABLE_LIBRARY_FALLBACK: u16 = 0x0020;
    /// This event is a genuine one from the tool, not a spurious/watch event.
    pub const PRIMARY_SOURCE: u16 = 0x0040;
    /// Multipath's "reload" flag, set when an existing partition map's table is reloaded.
    pub const SUBSYSTEM_FLAG0: u16 = 0x0100;
}

/// How udev takes part in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdevMode {
    /// udev runs: send a cookie and wait (at most this long) until it has processed the event.
    Wait(Duration),
    /// udev runs but `-n` was given: send the flags only, do not wait.
    FlagsOnly,
    /// udev is not running, or `DM_DISABLE_UDEV` is set: manage `/dev/mapper` nodes ourselves.
    NoUdev,
}

impl UdevMode {
    /// Decides the mode from the environment: `DM_DISABLE_UDEV`, whether udevd's control
    /// socket exists, whether SysV semaphores work, and the `-s`/`-n` choice.
    pub fn detect(sync: bool, timeout: Duration) -> UdevMode {
        if std::env::var_os("DM_DISABLE_UDEV").is_some() || !udev_running() {
            UdevMode::NoUdev
        } else if !sync || !semaphores_available() {
            UdevMode::FlagsOnly
        } else {
            UdevMode::Wait(timeout)
        }
    }
}

/// Whether udevd is running (its control socket exists).
pub fn udev_running() -> bool {
    Path::new("/run/udev/control").exists()
}

fn semaphores_available() -> bool {
    // SAFETY: an all-zero seminfo is a valid buffer for SEM_INFO to fill.
    let mut info: libc::seminfo = unsafe { std::mem::zeroed() };
    // SAFETY: SEM_INFO writes into `info`, which outlives the call.
    let rc = unsafe { libc::semctl(0, 0, libc::SEM_INFO, &mut info as *mut libc::seminfo) };
    rc >= 0 && info.semmni > 0 && info.semmsl > 0
}

/// The value to put in `event_nr` when no one waits: flags only, base 0.
pub fn flags_only(flags: u16) -> u32 {
    u32::from(flags | self::flags::PRIMARY_SOURCE) << 16
}

/// How often a waiter re-checks whether udev is still making progress.
const POLL_SLICE: Duration = Duration::from_millis(200);

/// The udev transaction of one run: every operation of the run carries the same cookie, so
/// a run owns at most one semaphore (and a killed run can leave at most one behind; `dmsetup
/// udevcomplete_all` or `ipcrm -S KEY` clears it).
///
/// The semaphore counts like libdevmapper's: it starts at 1 (the waiter's own count), every
/// operation adds 1 before its ioctl, udev's `dmsetup udevcomplete` subtracts 1 per event,
/// and the waiter subtracts its own 1 and waits for zero.
#[derive(Debug)]
pub struct Cookie {
    semid: libc::c_int,
    base: u16,
}

/// What a waiter can see of udev besides the semaphore.
pub trait Witness {
    /// Whether udev visibly processed every event of the transaction (its database).
    fn processed(&self) -> bool;
    /// What is known about udevd's ability to complete the cookie (asked once, lazily).
    fn reach(&self) -> Reach;
}

/// A witness that sees nothing: the wait ends only when the cookie is completed or runs out.
pub struct Blind;

impl Witness for Blind {
    fn processed(&self) -> bool {
        false
    }
    fn reach(&self) -> Reach {
        Reach::Expected
    }
}

/// How a wait that did not fail ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// udev completed the cookie.
    Completed,
    /// udev processed every event (so the witness says) but did not complete the cookie.
    Unanswered {
        /// Events whose completion never came.
        pending: u32,
        /// Why it will not come.
        reach: Reach,
    },
}

/// Why a wait for udev failed.
#[derive(Debug)]
pub enum WaitError {
    /// udev made no progress for this long; `pending` events were still outstanding.
    TimedOut {
        /// How long the wait saw no progress.
        waited: Duration,
        /// Events udev had not completed.
        pending: u32,
    },
    /// A semaphore operation failed.
    Io(io::Error),
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::TimedOut { waited, pending } => write!(
                f,
                "udev completed none of {pending} outstanding event(s) for {}s",
                waited.as_secs_f64()
            ),
            WaitError::Io(e) => write!(
                f,
                "waiting for udev failed: {}",
                crate::sys_text::strerror(e)
            ),
        }
    }
}

impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Io(e) => Some(e),
            WaitError::TimedOut { .. } => None,
        }
    }
}

impl Cookie {
    /// Creates the run's semaphore with the waiter's count of 1.
    pub fn create() -> io::Result<Cookie> {
        for _ in 0..16 {
            let base = random_base()?;
            let key = ((COOKIE_MAGIC << 16) | u32::from(base)) as libc::key_t;
            // SAFETY: plain system call with integer arguments.
            let semid = unsafe { libc::semget(key, 1, 0o600 | libc::IPC_CREAT | libc::IPC_EXCL) };
            if semid < 0 {
                let err = io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EEXIST) {
                    continue;
                }
                return Err(err);
            }
            let cookie = Cookie { semid, base };
            // SAFETY: SETVAL takes an int value; `semid` is ours.
            if unsafe { libc::semctl(semid, 0, libc::SETVAL, 1) } < 0 {
                return Err(io::Error::last_os_error());
            }
            return Ok(cookie);
        }
        Err(io::Error::other("no free udev cookie found"))
    }

    /// The `event_nr` value that carries this cookie and `flags` to udev.
    pub fn event_nr(&self, flags: u16) -> u32 {
        (u32::from(flags | self::flags::PRIMARY_SOURCE) << 16) | u32::from(self.base)
    }

    /// The cookie as `dmsetup udevcookies` shows it.
    pub fn key(&self) -> u32 {
        (COOKIE_MAGIC << 16) | u32::from(self.base)
    }

    /// Counts one more operation whose event udev will complete; call before its ioctl.
    pub fn begin_operation(&self) -> io::Result<()> {
        self.adjust(1, false)
    }

    /// Takes an operation's count back when no uevent will come (the ioctl failed, or the
    /// kernel did not generate an event), so the wait cannot hang.
    pub fn complete_without_event(&self) {
        let _ = self.adjust(-1, true);
    }

    /// Waits until udev has completed every operation of the run. The wait ends with
    /// [`WaitError::TimedOut`] once udev has completed none of the outstanding events for
    /// `timeout`: a long but moving udev queue (hundreds of maps) is waited for, a stuck one
    /// is not. The total wait is bounded by `timeout` times the number of operations. It ends
    /// early, with [`Waited::Unanswered`], when `witness` shows every event processed and the
    /// semaphore does not move ([`Judge`]).
    ///
    /// The wait consumes the cookie (its semaphore is removed when it returns): taking the
    /// waiter's count away twice would take an operation's count instead, so a transaction is
    /// waited for exactly once, and the next operations start a new one.
    pub fn wait(self, timeout: Duration, witness: &dyn Witness) -> Result<Waited, WaitError> {
        self.adjust(-1, true).map_err(WaitError::Io)?;
        let mut pending = self.value().map_err(WaitError::Io)?;
        let mut last_progress = Instant::now();
        let mut judge = Judge::default();
        loop {
            let deadline = last_progress + timeout;
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitError::TimedOut {
                    waited: timeout,
                    pending,
                });
            }
            match self.wait_zero((deadline - now).min(POLL_SLICE)) {
                Ok(()) => return Ok(Waited::Completed),
                Err(e) if e.raw_os_error() == Some(libc::EIDRM) => return Ok(Waited::Completed),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) => {}
                Err(e) => return Err(WaitError::Io(e)),
            }
            let now_pending = self.value().map_err(WaitError::Io)?;
            if now_pending == 0 {
                return Ok(Waited::Completed);
            }
            if now_pending < pending {
                last_progress = Instant::now();
                judge.saw_progress();
            }
            pending = now_pending;
            if let Some(reach) = judge.observe(Instant::now(), pending, witness.processed(), || {
                witness.reach()
            }) {
                return Ok(Waited::Unanswered { pending, reach });
            }
        }
    }

    /// The semaphore's current value: events still outstanding (plus 1 before the wait).
    fn value(&self) -> io::Result<u32> {
        // SAFETY: GETVAL on our own semaphore; no buffer involved.
        let v = unsafe { libc::semctl(self.semid, 0, libc::GETVAL) };
        if v < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(v as u32)
    }

    fn adjust(&self, delta: libc::c_short, nowait: bool) -> io::Result<()> {
        let mut op = libc::sembuf {
            sem_num: 0,
            sem_op: delta,
            sem_flg: if nowait {
                libc::IPC_NOWAIT as libc::c_short
            } else {
                0
            },
        };
        // SAFETY: one valid sembuf for our own semaphore.
        if unsafe { libc::semop(self.semid, &mut op, 1) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn wait_zero(&self, left: Duration) -> io::Result<()> {
        let mut op = libc::sembuf {
            sem_num: 0,
            sem_op: 0,
            sem_flg: 0,
        };
        let ts = libc::timespec {
            tv_sec: left.as_secs() as libc::time_t,
            tv_nsec: left.subsec_nanos() as libc::c_long,
        };
        // SAFETY: semtimedop with one valid sembuf and a valid timespec, both outliving the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_semtimedop,
                self.semid,
                &mut op as *mut libc::sembuf,
                1usize,
                &ts as *const libc::timespec,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Cookie {
    fn drop(&mut self) {
        // SAFETY: removing our own semaphore; failure (already removed) is harmless.
        unsafe { libc::semctl(self.semid, 0, libc::IPC_RMID) };
    }
}

fn random_base() -> io::Result<u16> {
    loop {
        let mut buf = [0u8; 2];
        // SAFETY: getrandom fills at most buf.len() bytes of our buffer.
        let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let base = u16::from_ne_bytes(buf);
        if n == 2 && base != 0 {
            return Ok(base);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_nr_layout_matches_libdevmapper() {
        assert_eq!(flags_only(flags::DISABLE_LIBRARY_FALLBACK), 0x0060_0000);
        let cookie = Cookie::create().unwrap();
        let nr = cookie.event_nr(flags::SUBSYSTEM_FLAG0);
        assert_eq!(nr >> 16, 0x0140);
        assert_eq!(nr & 0xffff, cookie.key() & 0xffff);
        assert_eq!(cookie.key() >> 16, 0x0D4D);
    }

    #[test]
    fn many_operations_share_one_semaphore() {
        let cookie = Cookie::create().unwrap();
        for _ in 0..100 {
            cookie.begin_operation().unwrap();
        }
        assert_eq!(cookie.value().unwrap(), 101);
        // What `dmsetup udevcomplete` does, once per event.
        for _ in 0..100 {
            cookie.complete_without_event();
        }
        cookie.wait(Duration::from_secs(5), &Blind).unwrap();
    }

    #[test]
    fn wait_is_bounded_when_udev_never_completes() {
        let cookie = Cookie::create().unwrap();
        cookie.begin_operation().unwrap();
        let start = Instant::now();
        let result = cookie.wait(Duration::from_millis(300), &Blind);
        assert!(matches!(
            result,
            Err(WaitError::TimedOut { pending: 1, .. })
        ));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn progress_extends_the_wait_but_not_for_ever() {
        let cookie = Cookie::create().unwrap();
        for _ in 0..5 {
            cookie.begin_operation().unwrap();
        }
        let start = Instant::now();
        let key = cookie.key();
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..4 {
                    std::thread::sleep(Duration::from_millis(150));
                    udevcomplete(key);
                }
            });
            let result = cookie.wait(Duration::from_millis(300), &Blind);
            assert!(matches!(
                result,
                Err(WaitError::TimedOut { pending: 1, .. })
            ));
        });
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(800), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
    }

    /// What `dmsetup udevcomplete` does for one event: finds the semaphore by its key and
    /// takes 1 from it.
    fn udevcomplete(key: u32) {
        // SAFETY: plain lookup without IPC_CREAT.
        let semid = unsafe { libc::semget(key as libc::key_t, 1, 0) };
        assert!(semid >= 0, "no semaphore for cookie {key:#x}");
        let mut op = libc::sembuf {
            sem_num: 0,
            sem_op: -1,
            sem_flg: libc::IPC_NOWAIT as libc::c_short,
        };
        // SAFETY: one valid sembuf for a semaphore that exists.
        unsafe { libc::semop(semid, &mut op, 1) };
    }

    #[test]
    fn a_waited_transaction_is_gone_and_the_next_starts_afresh() {
        let first = Cookie::create().unwrap();
        first.begin_operation().unwrap();
        let key = first.key();
        udevcomplete(key);
        first.wait(Duration::from_secs(5), &Blind).unwrap();
        // SAFETY: plain lookup without IPC_CREAT.
        assert!(unsafe { libc::semget(key as libc::key_t, 1, 0) } < 0);
        let second = Cookie::create().unwrap();
        second.begin_operation().unwrap();
        udevcomplete(second.key());
        second.wait(Duration::from_secs(5), &Blind).unwrap();
    }

    /// A witness that sees every event processed, with udevd's reach as given.
    struct SeesAll(Reach);

    impl Witness for SeesAll {
        fn processed(&self) -> bool {
            true
        }
        fn reach(&self) -> Reach {
            self.0.clone()
        }
    }

    #[test]
    fn a_cookie_udev_cannot_reach_ends_the_wait_once_everything_is_processed() {
        let cookie = Cookie::create().unwrap();
        for _ in 0..4 {
            cookie.begin_operation().unwrap();
        }
        let key = cookie.key() as libc::key_t;
        let start = Instant::now();
        let witness = SeesAll(Reach::ForeignIpc { pid: 1 });
        let got = cookie.wait(Duration::from_secs(30), &witness).unwrap();
        assert_eq!(
            got,
            Waited::Unanswered {
                pending: 4,
                reach: Reach::ForeignIpc { pid: 1 }
            }
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        // SAFETY: plain lookup without IPC_CREAT.
        assert!(unsafe { libc::semget(key, 1, 0) } < 0, "semaphore left");
    }

    #[test]
    fn a_completed_cookie_is_not_unanswered_even_when_the_evidence_is_there() {
        let cookie = Cookie::create().unwrap();
        cookie.begin_operation().unwrap();
        udevcomplete(cookie.key());
        let witness = SeesAll(Reach::ForeignIpc { pid: 1 });
        let got = cookie.wait(Duration::from_secs(5), &witness).unwrap();
        assert_eq!(got, Waited::Completed);
    }

    #[test]
    fn semaphore_is_removed_on_drop() {
        let cookie = Cookie::create().unwrap();
        let key = cookie.key() as libc::key_t;
        drop(cookie);
        // SAFETY: plain lookup without IPC_CREAT.
        assert!(unsafe { libc::semget(key, 1, 0) } < 0);
    }
}
