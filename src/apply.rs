//! Carrying out a [`Plan`]: steps run one after another, in plan order, so that device
//! numbers are handed out in partition order as the reference does. No step waits for udev:
//! with a udev wait, every operation carries the run's one cookie and the caller waits once,
//! with [`MapOps::settle`], after releasing its locks; the udev round trips of all maps
//! overlap without a thread per map.

use crate::dm::{MapOps, OpError};
use crate::naming::DevNum;
use crate::plan::{Plan, Step};

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

/// Runs every step of `plan` against `ops`, in order.
pub fn execute(plan: &Plan, ops: &dyn MapOps) -> Vec<StepResult> {
    plan.steps.iter().map(|step| run_step(step, ops)).collect()
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
    use std::sync::Mutex;

    /// Records calls; fails maps named `bad*`.
    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<String>>,
    }

    impl Fake {
        fn record(&self, call: String) -> Result<(), OpError> {
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
        fn settle(&self) -> Result<(), OpError> {
            self.record("settle".into())
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
        let fake = Fake::default();
        let results = execute(&plan, &fake);
        assert_eq!(results[0], StepResult::Mapped(DevNum::new(253, 1)));
        assert!(matches!(results[1], StepResult::Failed(_)));
        assert_eq!(results[2], StepResult::Mapped(DevNum::new(253, 103)));
        assert_eq!(results[3], StepResult::Skipped);
        assert_eq!(results[4], StepResult::Removed);
        let calls = fake.calls.lock().unwrap();
        assert_eq!(
            *calls,
            [
                "create p1",
                "create bad2",
                "rename old3 p3",
                "reload p3",
                "remove p9"
            ]
        );
    }

    #[test]
    fn steps_run_in_plan_order_without_settling() {
        let steps: Vec<Step> = (1..=32)
            .map(|n| Step::Create(spec(n, &format!("p{n}"))))
            .collect();
        let plan = Plan {
            counted: vec![true; steps.len()],
            steps,
        };
        let fake = Fake::default();
        let results = execute(&plan, &fake);
        assert!(results.iter().all(|r| matches!(r, StepResult::Mapped(_))));
        let expected: Vec<String> = (1..=32).map(|n| format!("create p{n}")).collect();
        assert_eq!(*fake.calls.lock().unwrap(), expected);
    }

    #[test]
    fn empty_plan_is_fine() {
        assert!(execute(&Plan::default(), &Fake::default()).is_empty());
    }
}
