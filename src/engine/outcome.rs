//! What a use case did: one record per planned step with its result, plus the udev wait and
//! the loop release. Whether something counts as a failure is decided here, once, for both
//! front ends.

use std::io;
use std::path::PathBuf;

use crate::device::DevNum;
use crate::dm::model::ExistingMap;
use crate::dm::{OpError, Settled};
use crate::plan::{SkipReason, Step};
use crate::probe::Found;
use crate::resolve::{ImageLoop, Parent};

/// What became of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    /// The map exists with this device number (create, reload, rename+reload).
    Mapped(DevNum),
    /// The map was removed.
    Removed,
    /// The plan said to leave it alone.
    Skipped,
    /// A dry run: the step was planned, not carried out.
    Planned,
    /// The operation failed.
    Failed(OpError),
}

/// A planned step and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What was planned.
    pub step: Step,
    /// Whether a failure of it counts (the contained-slice pass does not, as in the reference).
    pub counted: bool,
    /// What happened.
    pub result: StepResult,
}

impl Record {
    /// Whether this step failed: the operation failed, or the plan had to leave a map that it
    /// should have made or removed. Maps that were never this parent's partitions (not
    /// linear, not ours) are left alone without that being a failure.
    pub fn failed(&self) -> bool {
        match (&self.step, &self.result) {
            (_, StepResult::Failed(_)) => true,
            (Step::Skip { reason, .. }, _) => {
                !matches!(reason, SkipReason::NotLinear | SkipReason::NotOurs)
            }
            _ => false,
        }
    }
}

/// How releasing an image's loop device went.
#[derive(Debug)]
pub struct LoopRelease {
    /// The loop device.
    pub path: PathBuf,
    /// How often it was busy and retried.
    pub retries: u32,
    /// The final result.
    pub result: io::Result<()>,
}

/// Everything a map or unmap run did.
#[derive(Debug)]
pub struct Outcome {
    /// The parent device.
    pub parent: Parent,
    /// The image's loop device, when the argument was an image file.
    pub image: Option<ImageLoop>,
    /// What the table readers found (map runs only).
    pub found: Option<Found>,
    /// One record per step, in plan order.
    pub records: Vec<Record>,
    /// The device-mapper maps the plan was made against (for reports: UUID, device and table
    /// of the maps a step removes or leaves).
    pub before: Vec<ExistingMap>,
    /// How the wait for udev ended: not waited for, completed, unanswered but checked, or
    /// failed.
    pub udev: Result<Settled, OpError>,
    /// The release of a loop this run attached, or of the image's loop after `-d`.
    pub release: Option<LoopRelease>,
    /// Whether this was a dry run (every record is planned, nothing was changed).
    pub dry_run: bool,
    /// In a dry run: whether the real run would detach the image's loop.
    pub detach_planned: bool,
    /// The parent's multipath table has the legacy `no_partitions` feature and the request
    /// honours it: its partition table was not read.
    pub no_partitions_feature: bool,
}

impl Outcome {
    /// An outcome for `parent` in which nothing happened yet.
    pub fn new(parent: Parent) -> Outcome {
        Outcome {
            parent,
            image: None,
            found: None,
            records: Vec::new(),
            before: Vec::new(),
            udev: Ok(Settled::NotWaited),
            release: None,
            dry_run: false,
            detach_planned: false,
            no_partitions_feature: false,
        }
    }

    /// How many maps of the parent's partitions exist now (in a dry run: would exist).
    pub fn mapped(&self) -> usize {
        self.records
            .iter()
            .filter(|r| match r.result {
                StepResult::Mapped(_) => true,
                StepResult::Planned => matches!(
                    r.step,
                    Step::Create(_)
                        | Step::Reload(_)
                        | Step::Keep { .. }
                        | Step::RenameReload { .. }
                ),
                _ => false,
            })
            .count()
    }

    /// Failures that count towards the exit status: counted steps that failed, plus a udev
    /// wait that ran out.
    pub fn failures(&self) -> usize {
        let steps = self
            .records
            .iter()
            .filter(|r| r.counted && r.failed())
            .count();
        steps + usize::from(self.udev.is_err())
    }

    /// Whether a loop that had to be released is still bound.
    pub fn release_failed(&self) -> bool {
        self.release.as_ref().is_some_and(|r| r.result.is_err())
    }
}
