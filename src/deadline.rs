//! A run's one budget for riding out maps that are open for a moment, and the one loop that
//! spends it.
//!
//! udev's probes (blkid after a resume, a close after write) keep a partition map open for a
//! moment, and a run that must remove such a map waits for it to be closed, but only until
//! one [`Deadline`], set once per run from `--busy-timeout` (or the policy's `busy_timeout`)
//! and passed down to everything that waits on an open map: the look-and-plan loop of `-d`,
//! `-u` and the helper, and the removal's EBUSY from the kernel. Both go through
//! [`ride_out`], so a run waits at most its budget plus one [`BUSY_POLL`], however many maps
//! and removals it has.

use std::time::{Duration, Instant};

/// How often an open map is looked at (or a removal tried) again.
pub const BUSY_POLL: Duration = Duration::from_millis(200);

/// The instant after which nothing is waited for any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline `budget` from now.
    pub fn after(budget: Duration) -> Deadline {
        Deadline(Instant::now() + budget)
    }

    /// A deadline that has passed: one try, no wait.
    pub fn now() -> Deadline {
        Deadline(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.0
    }

    fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

/// One try of something an open map can stand in the way of.
#[derive(Debug)]
pub enum Attempt<T> {
    /// Nothing stood in the way (or it failed for another reason): this is the result.
    Done(T),
    /// An open map stood in the way: the result if no more time is left.
    Busy(T),
}

/// Tries `attempt` until it is not [`Attempt::Busy`] or `deadline` has passed, pausing
/// [`BUSY_POLL`] (at most until the deadline) between tries; returns the last result. The one
/// busy-retry loop of the program.
pub fn ride_out<T>(deadline: Deadline, mut attempt: impl FnMut() -> Attempt<T>) -> T {
    loop {
        match attempt() {
            Attempt::Done(result) => return result,
            Attempt::Busy(result) if deadline.passed() => return result,
            Attempt::Busy(_) => std::thread::sleep(BUSY_POLL.min(deadline.left())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_done_attempt_is_not_repeated() {
        let mut tries = 0;
        let got = ride_out(Deadline::after(Duration::from_secs(60)), || {
            tries += 1;
            Attempt::Done(7)
        });
        assert_eq!((got, tries), (7, 1));
    }

    #[test]
    fn a_busy_attempt_is_repeated_until_it_is_done() {
        let mut tries = 0;
        let got = ride_out(Deadline::after(Duration::from_secs(60)), || {
            tries += 1;
            if tries < 3 {
                Attempt::Busy(tries)
            } else {
                Attempt::Done(tries)
            }
        });
        assert_eq!(got, 3);
    }

    #[test]
    fn the_deadline_bounds_the_wait_and_the_last_result_is_kept() {
        let start = Instant::now();
        let mut tries = 0;
        let got = ride_out(Deadline::after(Duration::from_millis(500)), || {
            tries += 1;
            Attempt::Busy(tries)
        });
        let took = start.elapsed();
        assert_eq!(got, tries);
        assert!(tries >= 2, "{tries}");
        assert!(took >= Duration::from_millis(500), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn a_passed_deadline_allows_one_try() {
        let mut tries = 0;
        ride_out(Deadline::now(), || {
            tries += 1;
            Attempt::Busy(())
        });
        assert_eq!(tries, 1);
    }
}
