//! When a cookie will not be answered: the decision to stop waiting for udev once its
//! database shows every event processed, although the cookie's semaphore did not move.
//!
//! The cookie is completed by `dmsetup udevcomplete`, run by udevd for each event. That
//! cannot happen when udevd lives in another System V IPC namespace (a container that shares
//! the host's `/dev` and `/run/udev` but not its IPC), nor when udevd has no rule that runs
//! it. udev then still processes the events (makes the nodes, writes its database), and the
//! waiter, which sees those, need not wait for a semaphore nobody will touch.
//!
//! How long it waits after the evidence is complete depends on what it knows:
//!
//! | what the waiter knows ([`Reach`]) | waits after the evidence, semaphore unchanged |
//! |---|---|
//! | udevd runs in another IPC namespace | 0 |
//! | udevd (in our mount namespace) has no rule that completes cookies | 0 |
//! | udevd cannot be seen (another PID namespace), semaphore never moved | [`UNSEEN_GRACE`] |
//! | otherwise (the cookie should have come, or it moved and stalled) | [`STALL_GRACE`] |
//!
//! The grace covers the programs udev runs for an event after writing its database, the
//! cookie's completion last among them.

use std::fmt;
use std::time::{Duration, Instant};

/// How long a waiter that cannot see udevd gives a cookie that never moved, after udev
/// processed every event.
pub const UNSEEN_GRACE: Duration = Duration::from_millis(500);

/// How long a waiter gives a cookie that should be completed, after udev processed every event.
pub const STALL_GRACE: Duration = Duration::from_secs(2);

/// What is known about udevd's ability to complete this process's cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// udevd (this PID) runs in another IPC namespace: the cookie does not exist there.
    ForeignIpc {
        /// udevd's process ID.
        pid: u32,
    },
    /// udevd reads the same rules as this process, and none completes cookies.
    NoCompletingRule,
    /// udevd is not visible from here (another PID namespace, as in a container).
    Unseen,
    /// udevd shares this IPC namespace and has a rule that completes cookies.
    Expected,
}

impl Reach {
    /// How long to wait, once udev processed every event, for a semaphore that has not moved
    /// since; `moved` tells whether it moved at all during the wait.
    pub fn grace(&self, moved: bool) -> Duration {
        match self {
            Reach::ForeignIpc { .. } | Reach::NoCompletingRule => Duration::ZERO,
            Reach::Unseen if !moved => UNSEEN_GRACE,
            Reach::Unseen | Reach::Expected => STALL_GRACE,
        }
    }

    /// The advice that goes with it.
    pub fn advice(&self) -> &'static str {
        match self {
            Reach::NoCompletingRule => {
                "install the device-mapper udev rules (95-dm-notify.rules), or set DM_DISABLE_UDEV=1"
            }
            _ => {
                "run kpartx in udevd's IPC namespace (for a container: --ipc=host), or set \
                 DM_DISABLE_UDEV=1"
            }
        }
    }
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reach::ForeignIpc { pid } => write!(
                f,
                "udevd (pid {pid}) runs in another IPC namespace, where this cookie does not exist"
            ),
            Reach::NoCompletingRule => f.write_str(
                "udevd has no rule that completes device-mapper cookies ('dmsetup udevcomplete')",
            ),
            Reach::Unseen => f.write_str(
                "udevd is not visible from here (another PID namespace, as in a container), \
                 so most likely runs in another IPC namespace",
            ),
            Reach::Expected => f.write_str("the cookie's completion did not come"),
        }
    }
}

/// Watches one wait: decides when the evidence in udev's database ends it.
#[derive(Debug, Default)]
pub struct Judge {
    /// Since when the evidence has been complete with the semaphore unchanged, and its value.
    complete_since: Option<(Instant, u32)>,
    moved: bool,
    reach: Option<Reach>,
}

impl Judge {
    /// Takes one observation at `now`: the semaphore's `value`, whether udev's database shows
    /// every event `processed`, and (asked for once, lazily) what is known about udevd.
    /// Returns why the wait should end, when it should.
    pub fn observe(
        &mut self,
        now: Instant,
        value: u32,
        processed: bool,
        probe: impl FnOnce() -> Reach,
    ) -> Option<Reach> {
        if let Some((_, then)) = self.complete_since
            && then != value
        {
            self.moved = true;
            self.complete_since = None;
        }
        if !processed {
            self.complete_since = None;
            return None;
        }
        let (since, _) = *self.complete_since.get_or_insert((now, value));
        let reach = self.reach.get_or_insert_with(probe);
        (now.duration_since(since) >= reach.grace(self.moved)).then(|| reach.clone())
    }

    /// Records that the semaphore moved (udev completed some events).
    pub fn saw_progress(&mut self) {
        self.moved = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn a_foreign_namespace_ends_the_wait_as_soon_as_the_evidence_is_complete() {
        let t = Instant::now();
        let mut judge = Judge::default();
        assert_eq!(judge.observe(at(t, 0), 5, false, || unreachable!()), None);
        let got = judge.observe(at(t, 200), 5, true, || Reach::ForeignIpc { pid: 7 });
        assert_eq!(got, Some(Reach::ForeignIpc { pid: 7 }));
    }

    #[test]
    fn the_probe_runs_once() {
        let t = Instant::now();
        let mut judge = Judge::default();
        let mut probes = 0;
        for ms in [0, 200, 400, 600] {
            judge.observe(at(t, ms), 3, true, || {
                probes += 1;
                Reach::Unseen
            });
        }
        assert_eq!(probes, 1);
    }

    #[test]
    fn an_unseen_udevd_gets_a_short_grace_when_nothing_ever_moved() {
        let t = Instant::now();
        let mut judge = Judge::default();
        assert_eq!(judge.observe(at(t, 0), 4, true, || Reach::Unseen), None);
        assert_eq!(judge.observe(at(t, 400), 4, true, || Reach::Unseen), None);
        assert_eq!(
            judge.observe(at(t, 500), 4, true, || Reach::Unseen),
            Some(Reach::Unseen)
        );
    }

    #[test]
    fn a_moving_semaphore_restarts_the_grace_and_lengthens_it() {
        let t = Instant::now();
        let mut judge = Judge::default();
        assert_eq!(judge.observe(at(t, 0), 4, true, || Reach::Unseen), None);
        // udev completed one event: the cookie works, give it the long grace.
        assert_eq!(judge.observe(at(t, 400), 3, true, || Reach::Unseen), None);
        assert_eq!(judge.observe(at(t, 1000), 3, true, || Reach::Unseen), None);
        assert_eq!(judge.observe(at(t, 2300), 3, true, || Reach::Unseen), None);
        assert_eq!(
            judge.observe(at(t, 2400), 3, true, || Reach::Unseen),
            Some(Reach::Unseen)
        );
    }

    #[test]
    fn incomplete_evidence_never_ends_the_wait() {
        let t = Instant::now();
        let mut judge = Judge::default();
        for s in 0..100 {
            let now = t + Duration::from_secs(s);
            assert_eq!(
                judge.observe(now, 4, false, || Reach::NoCompletingRule),
                None
            );
        }
    }

    #[test]
    fn evidence_that_goes_away_restarts_the_grace() {
        let t = Instant::now();
        let mut judge = Judge::default();
        assert_eq!(judge.observe(at(t, 0), 2, true, || Reach::Expected), None);
        assert_eq!(
            judge.observe(at(t, 1900), 2, false, || Reach::Expected),
            None
        );
        assert_eq!(
            judge.observe(at(t, 2100), 2, true, || Reach::Expected),
            None
        );
        assert_eq!(
            judge.observe(at(t, 4100), 2, true, || Reach::Expected),
            Some(Reach::Expected)
        );
    }

    #[test]
    fn progress_seen_by_the_waiter_counts_as_movement() {
        let t = Instant::now();
        let mut judge = Judge::default();
        judge.saw_progress();
        assert_eq!(judge.observe(at(t, 0), 1, true, || Reach::Unseen), None);
        assert_eq!(judge.observe(at(t, 600), 1, true, || Reach::Unseen), None);
    }
}
