//! Carrying out a [`Plan`]: steps run one after another, in plan order, so that device
//! numbers are handed out in partition order as the reference does. No step waits for udev:
//! with a udev wait, every operation carries the run's one cookie and the caller waits once,
//! with [`MapOps::settle`], after releasing its locks; the udev round trips of all maps
//! overlap without a thread per map.

use super::outcome::{Record, StepResult};
use crate::deadline::Deadline;
use crate::dm::MapOps;
use crate::plan::{Plan, Step};

/// Runs every step of `plan` against `ops`, in order, removals riding out openers until
/// `deadline`; with `dry_run`, runs none and records each step as [`StepResult::Planned`].
pub fn run(plan: &Plan, ops: &dyn MapOps, dry_run: bool, deadline: Deadline) -> Vec<Record> {
    if !dry_run {
        return execute(plan, ops, deadline);
    }
    plan.entries
        .iter()
        .map(|e| Record {
            step: e.step.clone(),
            counted: e.counted,
            result: StepResult::Planned,
        })
        .collect()
}

/// Runs every step of `plan` against `ops`, in order.
pub fn execute(plan: &Plan, ops: &dyn MapOps, deadline: Deadline) -> Vec<Record> {
    plan.entries
        .iter()
        .map(|e| Record {
            step: e.step.clone(),
            counted: e.counted,
            result: run_step(&e.step, ops, deadline),
        })
        .collect()
}

fn run_step(step: &Step, ops: &dyn MapOps, deadline: Deadline) -> StepResult {
    let result = match step {
        Step::Create(spec) => ops.create(spec).map(StepResult::Mapped),
        Step::Reload(spec) => ops.reload(spec).map(StepResult::Mapped),
        Step::Keep { spec, dev } => ops.keep(spec, *dev).map(StepResult::Mapped),
        Step::RenameReload { from, spec } => ops
            .rename(from, &spec.name)
            .and_then(|()| ops.reload(spec))
            .map(StepResult::Mapped),
        Step::Remove { name, flush, .. } => ops
            .remove(name, *flush, deadline)
            .map(|()| StepResult::Removed),
        Step::Skip { .. } => Ok(StepResult::Skipped),
    };
    result.unwrap_or_else(StepResult::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DevNum;
    use crate::dm::model::MapSpec;
    use crate::dm::types::{DisplayName, MapName, MapUuid, Sectors};
    use crate::plan::{Planned, SkipReason};
    use crate::testkit::fake::{FakeSystem, disk};

    fn spec(number: usize, name: &str) -> MapSpec {
        MapSpec {
            number,
            name: MapName::new(name),
            display: DisplayName::new(name),
            uuid: MapUuid::new(format!("part{number}-x")),
            size: Sectors(10),
            parent: DevNum::new(7, 0),
            start: Sectors(0),
            read_only: false,
        }
    }

    fn plan(steps: Vec<Step>) -> Plan {
        Plan {
            entries: steps
                .into_iter()
                .map(|step| Planned {
                    step,
                    counted: true,
                })
                .collect(),
        }
    }

    #[test]
    fn results_follow_plan_order() {
        let mut fake = FakeSystem::new(vec![disk("/dev/loop0", DevNum::new(7, 0), None, None)]);
        fake.failing = vec!["bad2".into()];
        fake.add_map("old3", Some("part3-x"), Some("7:0 0"), 0);
        fake.add_map("p9", Some("part9-x"), Some("7:0 0"), 0);
        let records = execute(
            &plan(vec![
                Step::Create(spec(1, "p1")),
                Step::Create(spec(2, "bad2")),
                Step::RenameReload {
                    from: MapName::new("old3"),
                    spec: spec(3, "p3"),
                },
                Step::Skip {
                    display: DisplayName::new("p4"),
                    reason: SkipReason::NotOurs,
                },
                Step::Remove {
                    name: MapName::new("p9"),
                    display: DisplayName::new("p9"),
                    flush: true,
                },
            ]),
            &fake,
            Deadline::now(),
        );
        assert!(matches!(records[0].result, StepResult::Mapped(_)));
        assert!(matches!(records[1].result, StepResult::Failed(_)));
        assert!(matches!(records[2].result, StepResult::Mapped(_)));
        assert_eq!(records[3].result, StepResult::Skipped);
        assert!(!records[3].failed());
        assert_eq!(records[4].result, StepResult::Removed);
        assert_eq!(
            fake.events(),
            [
                "create p1 7:0 0",
                "rename old3 p3",
                "reload p3 7:0 0",
                "remove p9"
            ]
        );
    }

    #[test]
    fn a_dry_run_touches_nothing() {
        let fake = FakeSystem::new(Vec::new());
        fake.add_map("p9", Some("part9-x"), Some("7:0 0"), 0);
        let records = run(
            &plan(vec![
                Step::Create(spec(1, "p1")),
                Step::Remove {
                    name: MapName::new("p9"),
                    display: DisplayName::new("p9"),
                    flush: true,
                },
            ]),
            &fake,
            true,
            Deadline::now(),
        );
        assert!(records.iter().all(|r| r.result == StepResult::Planned));
        assert!(fake.events().is_empty());
        assert_eq!(fake.map_names(), ["p9"]);
    }

    #[test]
    fn empty_plan_is_fine() {
        let fake = FakeSystem::new(Vec::new());
        assert!(execute(&Plan::default(), &fake, Deadline::now()).is_empty());
        assert!(fake.events().is_empty());
    }
}
