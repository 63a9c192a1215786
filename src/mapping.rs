//! The core both front ends share: read the parent's table, plan against the live maps,
//! execute. Reporting is left to the caller (reference-style text for the CLI, log records for
//! the udev helper).

use std::ffi::OsStr;

use crate::apply::{self, StepResult};
use crate::device::blockdev::BlockDevice;
use crate::dm::kernel::Kernel;
use crate::naming::{self, Naming};
use crate::plan::{self, AddInput, ParentInfo, Plan, Step, WhenBusy};
use crate::probe::{self, Found};
use crate::table::TypeFilter;
use crate::target::{self, Parent, Resolved};

/// How partitions are to be mapped.
#[derive(Debug, Clone)]
pub struct MapRequest<'a> {
    /// Delimiter between parent name and number (`None`: the default rule).
    pub delimiter: Option<&'a OsStr>,
    /// Create read-only maps.
    pub read_only: bool,
    /// Accept a GPT with an invalid protective MBR.
    pub force_gpt: bool,
    /// Which table readers to try.
    pub filter: &'a TypeFilter,
    /// Also remove maps of partitions that are gone (`-u`).
    pub update: bool,
}

/// A plan and what became of each of its steps.
#[derive(Debug, Clone, Default)]
pub struct Executed {
    /// What was planned.
    pub plan: Plan,
    /// One result per step.
    pub results: Vec<StepResult>,
}

impl Executed {
    /// How many maps now exist for the parent's partitions.
    pub fn mapped(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r, StepResult::Mapped(_)))
            .count()
    }
}

/// Outcome of [`map_partitions`].
#[derive(Debug)]
pub enum MapOutcome {
    /// No reader recognised a table: nothing was done.
    NoTable(Found),
    /// The plan ran.
    Done(Found, Executed),
    /// The device could not be read or the maps could not be listed.
    Failed(String),
}

/// Reads the parent's table and creates, reloads (and with `update`, removes) its maps.
pub fn map_partitions(kernel: &Kernel, resolved: &Resolved, req: &MapRequest<'_>) -> MapOutcome {
    let parent = &resolved.parent;
    let found = match BlockDevice::open(parent.path.as_ref()) {
        Ok(disk) => probe::read_table(&disk, parent, req.force_gpt, req.filter),
        Err(e) => {
            let path = parent.path.display();
            return MapOutcome::Failed(format!("{path}: {}", target::strerror(&e)));
        }
    };
    let Some(table) = &found.table else {
        return MapOutcome::NoTable(found);
    };
    let existing = match kernel.snapshot() {
        Ok(maps) => maps,
        Err(e) => return MapOutcome::Failed(e),
    };
    let naming = Naming::from_os(&parent.name, req.delimiter);
    let info = parent_info(parent, true);
    let image_ro = resolved.image.as_ref().is_some_and(|i| i.device.read_only);
    let input = AddInput {
        parent: &info,
        naming: &naming,
        slices: &table.slices,
        device_sectors: found.size_sectors,
        existing: &existing,
        read_only: req.read_only || image_ro,
    };
    let plan = plan::plan_add(&input, req.update);
    tracing::debug!(parent = %parent.path.display(), steps = plan.steps.len(), "planned partition maps");
    let results = apply::execute(&plan, kernel);
    MapOutcome::Done(found, Executed { plan, results })
}

/// Removes the parent's partition maps (`-d`, or a hotplug teardown). With `flush` false,
/// outstanding I/O is not flushed first (the parent may be gone).
pub fn unmap_partitions(
    kernel: &Kernel,
    info: &ParentInfo,
    flush: bool,
    when_busy: WhenBusy,
) -> Result<Executed, String> {
    let existing = kernel.snapshot()?;
    let mut plan = plan::plan_delete(info, &existing, when_busy);
    for step in &mut plan.steps {
        if let Step::Remove { flush: f, .. } = step {
            *f = flush;
        }
    }
    tracing::debug!(dev = %info.dev, steps = plan.steps.len(), "planned partition map removal");
    let results = apply::execute(&plan, kernel);
    Ok(Executed { plan, results })
}

/// The planner's view of a parent. Without `check_ownership` (`-d -f`), a parent that has no
/// DM UUID of its own removes maps without looking at their UUIDs.
pub fn parent_info(parent: &Parent, check_ownership: bool) -> ParentInfo {
    let ownership_uuid =
        (check_ownership || parent.dm_uuid.is_some()).then(|| parent.ownership_uuid());
    ParentInfo {
        dev: parent.dev,
        ownership_uuid,
        dm_name: parent
            .is_dm
            .then(|| {
                parent
                    .name
                    .to_str()
                    .and_then(|n| naming::to_dm_name(n).ok())
            })
            .flatten(),
    }
}
