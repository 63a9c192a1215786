//! Carrying out a [`Plan`]: every step runs on its own worker so that the udev waits of many
//! partitions overlap instead of adding up. Results come back in plan order.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::dm::{MapOps, OpError};
use crate::naming::DevNum;
use crate::plan::{Plan, Step};

/// Most steps in flight at once.
pub const MAX_WORKERS: usize = 128;

/// What became of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    /// The map exists with this device number (create, reload, rename+reload).
    Mapped(DevNum),
    /// The map was removed.
    Removed,
    /// The plan said to leave it alone.
    Skipped,
    /// The operation failed.
    Failed(OpError),
}

/// Runs every step of `plan` against `ops`, at most `MAX_WORKERS` at a time.
pub fn execute(plan: &Plan, ops: &dyn MapOps) -> Vec<StepResult> {
    let steps = &plan.steps;
    let results: Mutex<Vec<Option<StepResult>>> = Mutex::new(vec![None; steps.len()]);
    let next = AtomicUsize::new(0);
    let workers = steps.len().clamp(1, MAX_WORKERS);
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(step) = steps.get(i) else { break };
                    let result = run_step(step, ops);
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or(StepResult::Skipped))
        .collect()
}

fn run_step(step: &Step, ops: &dyn MapOps) -> StepResult {
    let result = match step {
        Step::Create(spec) => ops.create(spec).map(StepResult::Mapped),
        Step::Reload(spec) => ops.reload(spec).map(StepResult::Mapped),
        Step::RenameReload { from, spec } => ops
            .rename(from, &spec.name)
            .and_then(|()| ops.reload(spec))
            .map(StepResult::Mapped),
        Step::Remove { name, flush, .. } => ops.remove(name, *flush).map(|()| StepResult::Removed),
        Step::Skip { .. } => Ok(StepResult::Skipped),
    };
    result.unwrap_or_else(StepResult::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dm::Stage;
    use crate::plan::{MapSpec, SkipReason};
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    /// Records calls; sleeps to show that steps overlap; fails maps named `bad*`.
    struct Fake {
        calls: Mutex<Vec<String>>,
        delay: Duration,
    }

    impl Fake {
        fn new(delay: Duration) -> Self {
            Fake {
                calls: Mutex::new(Vec::new()),
                delay,
            }
        }
        fn record(&self, call: String) -> Result<(), OpError> {
            thread::sleep(self.delay);
            let bad = call.contains("bad");
            self.calls.lock().unwrap().push(call);
            if bad {
                Err(OpError::new(Stage::Load, "Invalid argument"))
            } else {
                Ok(())
            }
        }
    }

    impl MapOps for Fake {
        fn create(&self, spec: &MapSpec) -> Result<DevNum, OpError> {
            self.record(format!("create {}", spec.name))?;
            Ok(DevNum::new(253, spec.number as u32))
        }
        fn reload(&self, spec: &MapSpec) -> Result<DevNum, OpError> {
            self.record(format!("reload {}", spec.name))?;
            Ok(DevNum::new(253, 100 + spec.number as u32))
        }
        fn rename(&self, from: &str, to: &str) -> Result<(), OpError> {
            self.record(format!("rename {from} {to}"))
        }
        fn remove(&self, name: &str, _flush: bool) -> Result<(), OpError> {
            self.record(format!("remove {name}"))
        }
    }

    fn spec(number: usize, name: &str) -> MapSpec {
        MapSpec {
            number,
            name: name.into(),
            display: name.into(),
            uuid: format!("part{number}-x"),
            size: 10,
            parent: DevNum::new(7, 0),
            start: 0,
            read_only: false,
        }
    }

    #[test]
    fn results_follow_plan_order() {
        let plan = Plan {
            steps: vec![
                Step::Create(spec(1, "p1")),
                Step::Create(spec(2, "bad2")),
                Step::RenameReload {
                    from: "old3".into(),
                    spec: spec(3, "p3"),
                },
                Step::Skip {
                    display: "p4".into(),
                    reason: SkipReason::NotOurs,
                },
                Step::Remove {
                    name: "p9".into(),
                    display: "p9".into(),
                    flush: true,
                },
            ],
            counted: vec![true; 5],
        };
        let fake = Fake::new(Duration::ZERO);
        let results = execute(&plan, &fake);
        assert_eq!(results[0], StepResult::Mapped(DevNum::new(253, 1)));
        assert!(matches!(results[1], StepResult::Failed(_)));
        assert_eq!(results[2], StepResult::Mapped(DevNum::new(253, 103)));
        assert_eq!(results[3], StepResult::Skipped);
        assert_eq!(results[4], StepResult::Removed);
        let calls: HashSet<String> = fake.calls.lock().unwrap().iter().cloned().collect();
        assert!(calls.contains("rename old3 p3") && calls.contains("reload p3"));
        assert!(!calls.iter().any(|c| c.contains("p4")));
    }

    #[test]
    fn steps_overlap() {
        let steps: Vec<Step> = (1..=32)
            .map(|n| Step::Create(spec(n, &format!("p{n}"))))
            .collect();
        let plan = Plan {
            counted: vec![true; steps.len()],
            steps,
        };
        let fake = Fake::new(Duration::from_millis(100));
        let start = Instant::now();
        let results = execute(&plan, &fake);
        assert!(results.iter().all(|r| matches!(r, StepResult::Mapped(_))));
        assert!(
            start.elapsed() < Duration::from_millis(1600),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn empty_plan_is_fine() {
        assert!(execute(&Plan::default(), &Fake::new(Duration::ZERO)).is_empty());
    }
}
