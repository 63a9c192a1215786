//! One step of a plan in words, as a dry run plans it or as helper mode did it: the one place
//! that words a step (the CLI's `-v` lines are the reference's words, in `cli/maps.rs`).

use crate::dm::types::DisplayName;
use crate::engine::outcome::{Record, StepResult};
use crate::plan::Step;

/// How a step is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tense {
    /// As a dry run plans it: `would create …`.
    Planned,
    /// As it was carried out: `created …`.
    Done,
}

/// The words for `record`: what the step does (or did), and for a failed step what failed.
pub fn step_text(record: &Record, tense: Tense) -> String {
    let done = tense == Tense::Done;
    let dev = match &record.result {
        StepResult::Mapped(dev) if done => format!(" ({dev})"),
        _ => String::new(),
    };
    match (&record.step, &record.result) {
        (step, StepResult::Failed(err)) if done => format!("{}: {err}", step_name(step)),
        (Step::Create(s), _) if done => format!(
            "created {}{dev}: 0 {} linear {}",
            s.display,
            s.size,
            s.params()
        ),
        (Step::Create(s), _) => format!(
            "would create {} (uuid {}): 0 {} linear {}",
            s.display,
            s.uuid,
            s.size,
            s.params()
        ),
        (Step::Reload(s), _) => format!(
            "{} {}{dev}: 0 {} linear {}",
            if done { "reloaded" } else { "would reload" },
            s.display,
            s.size,
            s.params()
        ),
        (Step::Keep { spec, dev }, _) => format!(
            "{} {} ({dev}): 0 {} linear {} (already live)",
            if done { "kept" } else { "would keep" },
            spec.display,
            spec.size,
            spec.params()
        ),
        (Step::RenameReload { from, spec }, _) if done => format!(
            "renamed {} to {}{dev}: 0 {} linear {}",
            from.unmangled(),
            spec.display,
            spec.size,
            spec.params()
        ),
        (Step::RenameReload { from, spec }, _) => format!(
            "would rename {} to {} and reload: 0 {} linear {}",
            from.unmangled(),
            spec.display,
            spec.size,
            spec.params()
        ),
        (Step::Remove { display, .. }, _) if done => format!("removed {display}"),
        (Step::Remove { display, .. }, _) => format!("would remove {display}"),
        (Step::Skip { display, reason }, _) if done => format!("left {display}: {reason}"),
        (Step::Skip { display, reason }, _) => format!("would skip {display}: {reason}"),
    }
}

/// The name a step is about (the map's name as the user gave it).
pub fn step_name(step: &Step) -> &DisplayName {
    match step {
        Step::Create(s)
        | Step::Reload(s)
        | Step::Keep { spec: s, .. }
        | Step::RenameReload { spec: s, .. } => &s.display,
        Step::Remove { display, .. } | Step::Skip { display, .. } => display,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DevNum;
    use crate::dm::model::MapSpec;
    use crate::dm::types::{MapName, MapUuid, Sectors};
    use crate::dm::{OpError, Stage};
    use crate::plan::SkipReason;

    fn spec() -> MapSpec {
        MapSpec {
            number: 1,
            name: MapName::new("mpatha-part1"),
            display: DisplayName::new("mpatha-part1"),
            uuid: MapUuid::new("part1-mpath-3600"),
            size: Sectors(1000),
            parent: DevNum::new(254, 0),
            start: Sectors(2048),
            read_only: false,
        }
    }

    fn record(step: Step, result: StepResult) -> Record {
        Record {
            step,
            counted: true,
            result,
        }
    }

    #[test]
    fn each_step_in_both_tenses() {
        let dev = StepResult::Mapped(DevNum::new(253, 4));
        let cases = [
            (
                record(Step::Create(spec()), dev.clone()),
                "would create mpatha-part1 (uuid part1-mpath-3600): 0 1000 linear 254:0 2048",
                "created mpatha-part1 (253:4): 0 1000 linear 254:0 2048",
            ),
            (
                record(Step::Reload(spec()), dev.clone()),
                "would reload mpatha-part1: 0 1000 linear 254:0 2048",
                "reloaded mpatha-part1 (253:4): 0 1000 linear 254:0 2048",
            ),
            (
                record(
                    Step::Keep {
                        spec: spec(),
                        dev: DevNum::new(253, 4),
                    },
                    dev.clone(),
                ),
                "would keep mpatha-part1 (253:4): 0 1000 linear 254:0 2048 (already live)",
                "kept mpatha-part1 (253:4): 0 1000 linear 254:0 2048 (already live)",
            ),
            (
                record(
                    Step::RenameReload {
                        from: MapName::new("mpatha1"),
                        spec: spec(),
                    },
                    dev,
                ),
                "would rename mpatha1 to mpatha-part1 and reload: 0 1000 linear 254:0 2048",
                "renamed mpatha1 to mpatha-part1 (253:4): 0 1000 linear 254:0 2048",
            ),
            (
                record(
                    Step::Remove {
                        name: MapName::new("mpatha-part3"),
                        display: DisplayName::new("mpatha-part3"),
                        flush: true,
                    },
                    StepResult::Removed,
                ),
                "would remove mpatha-part3",
                "removed mpatha-part3",
            ),
            (
                record(
                    Step::Skip {
                        display: DisplayName::new("mpatha-part2"),
                        reason: SkipReason::InUse { open_count: 1 },
                    },
                    StepResult::Skipped,
                ),
                "would skip mpatha-part2: in use (open count 1), not removed",
                "left mpatha-part2: in use (open count 1), not removed",
            ),
        ];
        for (record, planned, done) in cases {
            assert_eq!(step_text(&record, Tense::Planned), planned);
            assert_eq!(step_text(&record, Tense::Done), done);
        }
    }

    #[test]
    fn a_failed_step_says_what_failed() {
        let failed = record(
            Step::Create(spec()),
            StepResult::Failed(OpError::new(Stage::Load, "Device or resource busy")),
        );
        assert_eq!(
            step_text(&failed, Tense::Done),
            "mpatha-part1: Device or resource busy"
        );
    }
}
