//! The use cases both front ends run: list (`-l`), map (`-a`, `-u`, the udev helper's add and
//! change) and unmap (`-d`, the helper's teardown). Each is one sequence — resolve the device,
//! lock it, read its table, plan against the live maps, carry the plan out, release the lock,
//! wait for udev — over a [`System`], which the real system ([`real::RealSystem`]) and the
//! tests' fake implement. What happened comes back as one [`Outcome`]; the CLI renders it as
//! the reference's text, the helper as log records, and [`Outcome::failures`] decides for both
//! what counts as a failure.

mod apply;
pub mod error;
pub mod outcome;
pub mod real;
pub mod survey;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::deadline::{Attempt, Deadline, ride_out};
use crate::device::DevNum;
use crate::dm::kernel::LookError;
use crate::dm::model::ExistingMap;
use crate::dm::readiness::MapState;
use crate::dm::types::{MapName, MapUuid, Sectors};
use crate::dm::{MapOps, MapQuery};
use crate::plan::{self, AddInput, ParentInfo, Plan, SkipReason, Step, WhenBusy};
use crate::probe::Found;
use crate::resolve::{ImageLoop, Parent, Purpose, ResolveError, Resolved};
use kpartx_table::TypeFilter;
use kpartx_table::naming::Naming;
use kpartx_table::sector_size::SectorSize;

pub use error::{EngineError, NameClash};
pub use outcome::{LoopRelease, Outcome, Record};

/// What the use cases need from the machine's block and loop devices.
pub trait Devices {
    /// A held lock; released when dropped.
    type Guard;
    /// Locks an image file argument (by inode) so that two runs never attach two loops to it;
    /// `None` when `arg` is not a regular file.
    fn lock_image(&self, arg: &Path) -> io::Result<Option<Self::Guard>>;
    /// Locks a parent device against other kpartx runs, waiting at most `timeout`.
    fn lock_device(&self, dev: DevNum, timeout: Duration) -> io::Result<Self::Guard>;
    /// Resolves a device argument (attaching a loop to an image file where `purpose` allows).
    fn resolve(&self, arg: &Path, purpose: Purpose) -> Result<Resolved, ResolveError>;
    /// Reads the parent's partition table (from where `resolved.source` says).
    fn read_table(
        &self,
        resolved: &Resolved,
        force_gpt: bool,
        filter: &TypeFilter,
    ) -> io::Result<Found>;
    /// Detaches an image's loop device; `on_retry` is called before each retry of a busy one.
    fn detach(&self, image: &ImageLoop, on_retry: &mut dyn FnMut()) -> io::Result<()>;
    /// A device-mapper parent's own state: whether it can be read now without blocking for
    /// an unknown time (a suspended map, a multipath map without a usable path), and whether
    /// its multipath table has the legacy `no_partitions` feature. Looks at that map only.
    fn map_state(&self, parent: &Parent) -> MapState;
    /// The block device with number `dev` as a parent, `None` when there is no such device.
    fn device_by_number(&self, dev: DevNum) -> Option<Parent>;
    /// Kernel names of the devices stacked on `dev` (sysfs `holders/`).
    fn holders(&self, dev: DevNum) -> Vec<String>;
    /// The loop devices this tool recorded as attached: kernel name and image file.
    fn loop_records(&self) -> Vec<(String, PathBuf)>;
    /// The backing file of loop `name` (`loop3`) now, `None` when it is not bound.
    fn loop_backing(&self, name: &str) -> Option<PathBuf>;
    /// Detaches recorded loop `name` unless anything has it open, and drops its record.
    fn detach_recorded(&self, name: &str) -> io::Result<()>;
    /// Drops the record of loop `name` without touching the device.
    fn forget_loop(&self, name: &str);
}

/// Everything the map and unmap use cases need: the devices, and device-mapper through one
/// handle.
pub trait System {
    /// The machine's block and loop devices.
    type Devices: Devices;
    /// The devices.
    fn devices(&self) -> &Self::Devices;
    /// A device-mapper parent's own state, asked through this system's device-mapper handle
    /// (see [`Devices::map_state`]).
    fn map_state(&self, parent: &Parent) -> MapState;
    /// Every device-mapper map as it exists now (for commands about every map).
    fn snapshot(&self) -> Result<Vec<ExistingMap>, LookError>;
    /// The maps `query` asks for, each once, sorted by name (the kernel's list order); the
    /// work depends on the query, never on how many maps the host has. Only the kernel's "no
    /// such device" makes a map absent: any other error is returned, naming the map.
    fn look(&self, query: &MapQuery) -> Result<Vec<ExistingMap>, LookError>;
    /// Makes the maps' nodes (where this run makes them at all) look like the parent's node.
    fn own_nodes_like(&self, parent: &Path);
    /// The map operations.
    fn ops(&self) -> &dyn MapOps;
}

/// What `-l` reads.
#[derive(Debug)]
pub struct Listing {
    /// The resolved device (its loop, if one was attached, is already released).
    pub resolved: Resolved,
    /// The table found, with the readers' warnings.
    pub found: Found,
    /// Whether a loop attached for the listing could not be detached.
    pub release: Option<LoopRelease>,
}

/// How to list a device's partitions.
#[derive(Debug, Clone, Copy)]
pub struct ListRequest<'a> {
    /// Accept a GPT with an invalid protective MBR.
    pub force_gpt: bool,
    /// Which table readers to try.
    pub filter: &'a TypeFilter,
    /// The sector size of an image file no loop is bound to.
    pub sector_size: SectorSize,
    /// Read a device-mapper parent even when it is suspended or has no usable path.
    pub read_anyway: bool,
}

/// Reads the table of `device` for `-l` (an image file is read directly: no loop).
pub fn list<D: Devices>(
    devices: &D,
    device: &Path,
    req: &ListRequest<'_>,
) -> Result<Listing, EngineError> {
    let purpose = Purpose::List {
        sector_size: req.sector_size,
    };
    let mut resolved = devices.resolve(device, purpose)?;
    let state = parent_state(&resolved.parent, |p| devices.map_state(p));
    if let Err(e) = check_ready(&resolved.parent, state, req.read_anyway) {
        release_created(devices, &mut resolved);
        return Err(e);
    }
    let found = devices.read_table(&resolved, req.force_gpt, req.filter);
    let release = release_created(devices, &mut resolved);
    let found = found.map_err(|e| EngineError::Read(resolved.parent.path.clone(), e))?;
    Ok(Listing {
        resolved,
        found,
        release,
    })
}

/// How to map a device's partitions.
#[derive(Debug, Clone)]
pub struct MapRequest<'a> {
    /// The device argument, or the helper's verified node.
    pub device: &'a Path,
    /// The device the node must be (the helper's event `MAJOR:MINOR`); `None` on the CLI.
    pub expect: Option<DevNum>,
    /// Delimiter between parent name and number (`None`: the default rule).
    pub delimiter: Option<&'a OsStr>,
    /// Create read-only maps.
    pub read_only: bool,
    /// Accept a GPT with an invalid protective MBR.
    pub force_gpt: bool,
    /// Which table readers to try.
    pub filter: &'a TypeFilter,
    /// `-u`: also remove maps of partitions that are gone.
    pub update: bool,
    /// What to do when the device has no partition table (any more).
    pub no_table: NoTable,
    /// Longest wait for another kpartx working on the same device.
    pub lock_timeout: Duration,
    /// Longest wait for partition maps this run must remove (`-u`, the helper) to be closed
    /// (udev's probes keep a map open for a moment): the run's [`Deadline`].
    pub busy_timeout: Duration,
    /// `--dry-run`: plan, change nothing (no map, no loop attached, no udev wait).
    pub dry_run: bool,
    /// The logical block size of a loop attached for an image file.
    pub sector_size: SectorSize,
    /// `--name`: the name the maps are derived from instead of the parent's.
    pub name: Option<&'a OsStr>,
    /// A map name taken by anything but this parent's partition maps refuses the whole run
    /// before anything is made (`-a`/`-u`); otherwise only that partition is left out (the
    /// helper: the other partitions of a disk should still appear at boot).
    pub refuse_clashes: bool,
    /// Read a device-mapper parent even when it is suspended or has no usable path.
    pub read_anyway: bool,
    /// What a multipath parent whose table has the legacy `no_partitions` feature means:
    /// `None`, nothing (the CLI, like the reference); otherwise its table is not read and
    /// its partition maps are treated as those of a device without a table (the helper).
    pub no_partitions_feature: Option<NoTable>,
}

/// What a device without a partition table means for its partition maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoTable {
    /// Nothing is done (the CLI, like the reference).
    Leave,
    /// Its partition maps are stale: remove the unused ones (helper mode).
    Unmap,
}

/// Maps (`-a`), updates (`-u`) or, in helper mode, keeps in step the partitions of a device.
pub fn map<S: System>(sys: &S, req: &MapRequest<'_>) -> Result<Outcome, EngineError> {
    let _image_lock = sys
        .devices()
        .lock_image(req.device)
        .map_err(|e| EngineError::Lock(req.device.display().to_string(), e))?;
    let purpose = if req.dry_run {
        Purpose::Preview {
            sector_size: req.sector_size,
        }
    } else {
        Purpose::Map {
            read_only: req.read_only,
            sector_size: req.sector_size,
        }
    };
    let mut resolved = sys.devices().resolve(req.device, purpose)?;
    if let Some(dev) = req.expect
        && (resolved.parent.dev != dev || resolved.image.is_some())
    {
        return Err(EngineError::Changed(req.device.to_path_buf()));
    }
    let mut outcome = Outcome::new(resolved.parent.clone());
    outcome.dry_run = req.dry_run;
    let lock = match sys
        .devices()
        .lock_device(resolved.parent.dev, req.lock_timeout)
    {
        Ok(lock) => lock,
        Err(e) => {
            outcome.release = release_created(sys.devices(), &mut resolved);
            outcome.image = resolved.image;
            return Err(EngineError::Lock(
                resolved.parent.path.display().to_string(),
                e,
            ));
        }
    };
    if !req.dry_run {
        sys.own_nodes_like(&resolved.parent.path);
    }
    let planned = plan_map(sys, &resolved, req);
    drop(lock);
    match planned {
        Ok(planned) => {
            outcome.found = planned.found;
            outcome.records = planned.records;
            outcome.before = planned.before;
            outcome.no_partitions_feature = planned.no_partitions_feature;
        }
        Err(e) => {
            release_created(sys.devices(), &mut resolved);
            return Err(e);
        }
    }
    if req.dry_run {
        let predicted = resolved
            .image
            .as_ref()
            .is_some_and(|i| i.predicted_from.is_some());
        outcome.detach_planned = predicted && outcome.mapped() == 0;
        outcome.image = resolved.image;
        return Ok(outcome);
    }
    outcome.udev = sys.ops().settle();
    if outcome.mapped() == 0 {
        outcome.release = release_created(sys.devices(), &mut resolved);
    }
    outcome.image = resolved.image;
    Ok(outcome)
}

/// What [`plan_map`] did under the lock.
struct MapPlanned {
    found: Option<Found>,
    records: Vec<Record>,
    before: Vec<ExistingMap>,
    no_partitions_feature: bool,
}

/// Under the parent's lock: its own state (a device-mapper parent only), its table, one look
/// at its maps, the plan, carried out.
fn plan_map<S: System>(
    sys: &S,
    resolved: &Resolved,
    req: &MapRequest<'_>,
) -> Result<MapPlanned, EngineError> {
    let parent = &resolved.parent;
    let deadline = Deadline::after(req.busy_timeout);
    let state = parent_state(parent, |p| sys.map_state(p));
    let info = parent_info(parent, true);
    if let Some(no_table) = req.no_partitions_feature.filter(|_| state.no_partitions) {
        let (records, before) = without_table(sys, &info, no_table, req.dry_run, deadline)?;
        return Ok(MapPlanned {
            found: None,
            records,
            before,
            no_partitions_feature: true,
        });
    }
    check_ready(parent, state, req.read_anyway)?;
    let found = sys
        .devices()
        .read_table(resolved, req.force_gpt, req.filter)
        .map_err(|e| EngineError::Read(parent.path.clone(), e))?;
    let (records, existing) = match (&found.table, req.no_table) {
        (None, no_table) => without_table(sys, &info, no_table, req.dry_run, deadline)?,
        (Some(table), _) => {
            let naming = Naming::from_os(req.name.unwrap_or(&parent.name), req.delimiter);
            let query = partition_query(&info, Some(&naming), table.slices.len());
            let image_ro = resolved.image.as_ref().is_some_and(|i| i.device.read_only);
            let read_only = req.read_only || image_ro || parent.read_only;
            let (existing, plan) = look_and_plan(sys, &query, req.dry_run, deadline, |existing| {
                let input = AddInput {
                    parent: &info,
                    naming: &naming,
                    slices: &table.slices,
                    device_sectors: Sectors(found.size_sectors),
                    existing,
                    read_only,
                };
                plan::plan_add(&input, req.update)
            })?;
            if req.refuse_clashes {
                refuse_clashes(&plan, &existing)?;
            }
            tracing::debug!(parent = %parent.path.display(), steps = plan.entries.len(), "planned partition maps");
            (
                apply::run(&plan, sys.ops(), req.dry_run, deadline),
                existing,
            )
        }
    };
    Ok(MapPlanned {
        found: Some(found),
        records,
        before: existing,
        no_partitions_feature: false,
    })
}

/// A parent whose partition maps have no table to follow: left alone, or the unused ones
/// removed.
fn without_table<S: System>(
    sys: &S,
    info: &ParentInfo,
    no_table: NoTable,
    dry_run: bool,
    deadline: Deadline,
) -> Result<(Vec<Record>, Vec<ExistingMap>), LookError> {
    Ok(match no_table {
        NoTable::Leave => (Vec::new(), Vec::new()),
        NoTable::Unmap => {
            let query = partition_query(info, None, 0);
            let (existing, plan) = look_and_plan(sys, &query, dry_run, deadline, |existing| {
                plan::plan_delete(info, existing, WhenBusy::RemoveUnused, true)
            })?;
            (apply::run(&plan, sys.ops(), dry_run, deadline), existing)
        }
    })
}

/// Looks at the maps `query` names and plans with `plan`; while the plan finds maps it would
/// remove open, looks and plans again until `deadline` ([`ride_out`]; not in a dry run), so
/// that a transient opener (udev's blkid) is ridden out, and a map held open for longer is
/// left to the plan's verdict on it.
fn look_and_plan<S: System>(
    sys: &S,
    query: &MapQuery,
    dry_run: bool,
    deadline: Deadline,
    plan: impl Fn(&[ExistingMap]) -> Plan,
) -> Result<(Vec<ExistingMap>, Plan), LookError> {
    ride_out(deadline, || match sys.look(query) {
        Err(e) => Attempt::Done(Err(e)),
        Ok(existing) => {
            let planned = plan(&existing);
            let busy = !dry_run && planned.has_busy();
            let result = Ok((existing, planned));
            if busy {
                Attempt::Busy(result)
            } else {
                Attempt::Done(result)
            }
        }
    })
}

/// Refuses to read a parent whose reads could block without bound (unless asked to).
fn check_ready(parent: &Parent, state: MapState, read_anyway: bool) -> Result<(), EngineError> {
    if read_anyway || state.readiness.is_ready() {
        Ok(())
    } else {
        Err(EngineError::NotReady(parent.path.clone(), state.readiness))
    }
}

/// A device-mapper parent's own state; any other parent is [`MapState::PLAIN`].
fn parent_state(parent: &Parent, ask: impl FnOnce(&Parent) -> MapState) -> MapState {
    if parent.is_dm {
        ask(parent)
    } else {
        MapState::PLAIN
    }
}

/// A map name taken by anything but this parent's partition maps refuses the whole run
/// before anything is made, naming every clash and its owner.
fn refuse_clashes(plan: &plan::Plan, existing: &[ExistingMap]) -> Result<(), EngineError> {
    let clashes: Vec<NameClash> = plan
        .entries
        .iter()
        .filter_map(|entry| match &entry.step {
            Step::Skip {
                display,
                reason: SkipReason::NameTaken(_),
            } => Some(display),
            _ => None,
        })
        .map(|display| NameClash {
            name: display.as_str().to_string(),
            owner: existing
                .iter()
                .find(|m| m.name.unmangled() == *display)
                .and_then(|m| m.uuid.clone())
                .map(MapUuid::into_string),
        })
        .collect();
    if clashes.is_empty() {
        Ok(())
    } else {
        Err(EngineError::NameClash(clashes))
    }
}

/// How to remove a device's partition maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnmapRequest {
    /// `-d -f`: a parent without a DM UUID removes linear maps on it without checking theirs.
    pub force: bool,
    /// What to do when some maps are open.
    pub when_busy: WhenBusy,
    /// Flush outstanding I/O before removing (not when the parent is gone).
    pub flush: bool,
    /// Longest wait for another kpartx working on the same device.
    pub lock_timeout: Duration,
    /// Longest wait for open partition maps to be closed (udev's probes and other transient
    /// openers keep a map open for a moment) before they count as busy.
    pub busy_timeout: Duration,
    /// `--dry-run`: plan, change nothing.
    pub dry_run: bool,
}

/// `-d`: removes the partition maps of a device argument, then detaches an image's loop
/// when every map could go.
pub fn unmap<S: System>(sys: &S, device: &Path, req: UnmapRequest) -> Result<Outcome, EngineError> {
    let _image_lock = sys
        .devices()
        .lock_image(device)
        .map_err(|e| EngineError::Lock(device.display().to_string(), e))?;
    let mut resolved = sys.devices().resolve(device, Purpose::Delete)?;
    let mut outcome = unmap_parent(sys, resolved.parent.clone(), req)?;
    if outcome.failures() == 0 {
        match (
            &resolved.image,
            recorded_loop(sys.devices(), &resolved.parent),
        ) {
            (Some(_), _) | (None, Some(_)) if req.dry_run => outcome.detach_planned = true,
            (Some(_), _) => outcome.release = release(sys.devices(), &mut resolved),
            (None, Some(name)) => {
                outcome.release = Some(LoopRelease {
                    path: resolved.parent.path.clone(),
                    retries: 0,
                    result: sys.devices().detach_recorded(&name),
                });
            }
            (None, None) => {}
        }
    }
    outcome.image = resolved.image;
    Ok(outcome)
}

/// Removes the partition maps of `parent` as an event describes it (its node may be gone).
pub fn unmap_parent<S: System>(
    sys: &S,
    parent: Parent,
    req: UnmapRequest,
) -> Result<Outcome, EngineError> {
    let lock = sys
        .devices()
        .lock_device(parent.dev, req.lock_timeout)
        .map_err(|e| EngineError::Lock(parent.path.display().to_string(), e))?;
    let info = parent_info(&parent, !req.force);
    let query = partition_query(&info, None, 0);
    let deadline = Deadline::after(req.busy_timeout);
    let (existing, plan) = look_and_plan(sys, &query, req.dry_run, deadline, |existing| {
        plan::plan_delete(&info, existing, req.when_busy, req.flush)
    })?;
    let records = apply::run(&plan, sys.ops(), req.dry_run, deadline);
    drop(lock);
    let mut outcome = Outcome::new(parent);
    outcome.records = records;
    outcome.before = existing;
    outcome.dry_run = req.dry_run;
    if !req.dry_run {
        outcome.udev = sys.ops().settle();
    }
    Ok(outcome)
}

/// How many partition numbers are always looked up by UUID, whatever the table says: a map
/// whose creation was interrupted has no table, so it is not stacked on its parent, and only
/// its UUID finds it.
pub const TABLELESS_PROBES: usize = 16;

/// The maps the planner needs to see for `parent`: every map stacked on it, and for
/// partitions 1..=max(`count`, [`TABLELESS_PROBES`]) the map with its partition UUID and,
/// when `naming` is given, the map with its name (a reload, or a clash). Its size depends on
/// the parent's partitions only, not on the number of maps on the host.
pub fn partition_query(parent: &ParentInfo, naming: Option<&Naming>, count: usize) -> MapQuery {
    let numbers = 1..=count.max(TABLELESS_PROBES);
    let uuids = match &parent.ownership_uuid {
        Some(owner) => numbers
            .clone()
            .filter_map(|n| kpartx_table::naming::partition_uuid(n, owner).ok())
            .map(MapUuid::new)
            .collect(),
        None => Vec::new(),
    };
    let names = naming.map_or_else(Vec::new, |naming| {
        (1..=count)
            .filter_map(|n| naming.dm_name(n).ok())
            .map(MapName::new)
            .collect()
    });
    MapQuery {
        stacked_on: Some(parent.dev),
        names,
        uuids,
    }
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
                    .and_then(|n| kpartx_table::naming::to_dm_name(n).ok())
                    .map(MapName::new)
            })
            .flatten(),
    }
}

/// `-d /dev/loopN`: the kernel name of the loop when this tool attached it for an image (its
/// record names the file the loop still shows), so that it is detached like `-d IMAGE` would;
/// a loop someone else attached, or one rebound since, is left alone.
fn recorded_loop<D: Devices>(sys: &D, parent: &Parent) -> Option<String> {
    if parent.dev.major != crate::device::loopdev::LOOP_MAJOR {
        return None;
    }
    let name = format!("loop{}", parent.dev.minor);
    let (_, image) = sys.loop_records().into_iter().find(|(n, _)| *n == name)?;
    (sys.loop_backing(&name).as_deref() == Some(image.as_path())).then_some(name)
}

/// Detaches a loop this run attached, if any.
fn release_created<D: Devices>(sys: &D, resolved: &mut Resolved) -> Option<LoopRelease> {
    if resolved.image.as_ref().is_some_and(|i| i.created) {
        release(sys, resolved)
    } else {
        None
    }
}

fn release<D: Devices>(sys: &D, resolved: &mut Resolved) -> Option<LoopRelease> {
    let image = resolved.image.as_ref()?;
    let mut retries = 0;
    let result = sys.detach(image, &mut || retries += 1);
    Some(LoopRelease {
        path: image.device.path.clone(),
        retries,
        result,
    })
}
