//! Deciding what to do with partition maps: a pure function of the parent, its slices and the
//! device-mapper maps that exist. Nothing here talks to the kernel.
//!
//! Ownership follows the reference with one tightening: a map belongs to a parent only when its
//! UUID is exactly `part<N>-<parent uuid>`, and a map is "on" the parent only when its single
//! `linear` target points at exactly the parent's `MAJ:MIN` (the reference matches a substring,
//! so `8:1` also matched `8:16`).

use std::collections::BTreeSet;

use crate::device::DevNum;
use crate::dm::model::{ExistingMap, MapSpec, TargetKind};
use crate::dm::types::{DisplayName, MapName, MapUuid, Sectors};
use kpartx_table::Slice;
use kpartx_table::naming::{self, NameError, Naming};

/// The parent as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentInfo {
    /// Its device number (the target of every partition map).
    pub dev: DevNum,
    /// The UUID after `part<N>-`; `None` only for `-d -f` on a parent without a DM UUID.
    pub ownership_uuid: Option<String>,
    /// Its own DM name when it is a device-mapper device (never treated as a partition).
    pub dm_name: Option<MapName>,
}

/// Why a partition is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A map of that name exists and belongs to something else (the reason text follows
    /// the reference: "not a kpartx partition" / "a partition of a different device").
    NameTaken(&'static str),
    /// The partition ends beyond the end of the parent.
    PastEnd {
        /// Device size in 512-byte sectors.
        device_sectors: Sectors,
    },
    /// The map name or UUID cannot be used.
    BadName(NameError),
    /// The map is open and cannot be removed.
    InUse {
        /// Its open count.
        open_count: i32,
    },
    /// `-d`: a map on the parent whose target is not linear.
    NotLinear,
    /// `-d`/`-u`: a map on the parent that is not one of its partitions.
    NotOurs,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::NameTaken(why) => write!(f, "the name is taken by a map that is {why}"),
            SkipReason::PastEnd { device_sectors } => write!(
                f,
                "the partition ends beyond the end of the device ({device_sectors} sectors)"
            ),
            SkipReason::BadName(e) => write!(f, "{e}"),
            SkipReason::InUse { open_count } => {
                write!(f, "in use (open count {open_count}), not removed")
            }
            SkipReason::NotLinear => f.write_str("not a linear map"),
            SkipReason::NotOurs => f.write_str("not a partition of this device"),
        }
    }
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create a new map.
    Create(MapSpec),
    /// Load a new table into an existing map and resume it.
    Reload(MapSpec),
    /// Leave an existing map of this partition alone: it already is `spec`, live (the
    /// reference would reload and resume it, changing nothing but costing a suspend, a resume
    /// and a uevent for udev to process). Its node is still seen to ([`MapOps::keep`]).
    ///
    /// [`MapOps::keep`]: crate::dm::MapOps::keep
    Keep {
        /// The map it is.
        spec: MapSpec,
        /// Its device number.
        dev: DevNum,
    },
    /// Rename an existing map of this partition (found by UUID), then reload it.
    RenameReload {
        /// Its current name.
        from: MapName,
        /// The new name and table.
        spec: MapSpec,
    },
    /// Remove a map.
    Remove {
        /// Stored name.
        name: MapName,
        /// Printed name.
        display: DisplayName,
        /// Flush outstanding I/O first (`-d`), or not (`-u`).
        flush: bool,
    },
    /// Leave something alone, and say why.
    Skip {
        /// Printed name.
        display: DisplayName,
        /// Why.
        reason: SkipReason,
    },
}

/// One step of a plan and whether its failure counts towards the exit status (the reference
/// does not count the contained-slice pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// What to do.
    pub step: Step,
    /// Whether a failure of it is counted.
    pub counted: bool,
}

/// An ordered list of steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Steps in output order.
    pub entries: Vec<Planned>,
}

impl Plan {
    fn push(&mut self, step: Step, counted: bool) {
        self.entries.push(Planned { step, counted });
    }

    /// Whether it leaves a map alone because the map is open.
    pub fn has_busy(&self) -> bool {
        self.entries.iter().any(|e| {
            matches!(
                e.step,
                Step::Skip {
                    reason: SkipReason::InUse { .. },
                    ..
                }
            )
        })
    }
}

/// Inputs of `-a`/`-u`.
#[derive(Debug, Clone)]
pub struct AddInput<'a> {
    /// The parent.
    pub parent: &'a ParentInfo,
    /// How maps are named.
    pub naming: &'a Naming,
    /// The table's slices (index + 1 = partition number).
    pub slices: &'a [Slice],
    /// Parent size in 512-byte sectors.
    pub device_sectors: Sectors,
    /// Maps that exist now.
    pub existing: &'a [ExistingMap],
    /// Create read-only maps.
    pub read_only: bool,
}

/// Plans `-a` (and, with `update`, the removals `-u` adds).
///
/// Top-level slices come first, then contained ones (mapped at their absolute offset on the
/// parent, never stacked), then, for `-u`, removal of this parent's maps whose partition is gone.
pub fn plan_add(input: &AddInput<'_>, update: bool) -> Plan {
    let mut plan = Plan::default();
    let Some(owner) = input.parent.ownership_uuid.as_deref() else {
        return plan;
    };
    let mut live = BTreeSet::new();
    for contained in [false, true] {
        for (i, slice) in input.slices.iter().enumerate() {
            if slice.size == 0 || slice.container.is_some() != contained {
                continue;
            }
            let step = plan_slice(input, owner, i + 1, slice);
            let past_end = matches!(
                step,
                Step::Skip {
                    reason: SkipReason::PastEnd { .. },
                    ..
                }
            );
            if !past_end {
                live.insert(i + 1);
            }
            plan.push(step, !contained);
        }
    }
    if update {
        let claimed: BTreeSet<&MapName> = plan
            .entries
            .iter()
            .map(|e| &e.step)
            .filter_map(claimed_map)
            .collect();
        for step in plan_vanished(input, owner, &live, &claimed) {
            plan.push(step, true);
        }
    }
    plan
}

fn plan_slice(input: &AddInput<'_>, owner: &str, number: usize, slice: &Slice) -> Step {
    let display = DisplayName::new(input.naming.display_name(number));
    let spec = match map_spec(input, owner, number, slice) {
        Ok(spec) => spec,
        Err(reason) => return Step::Skip { display, reason },
    };
    if let Some(map) = input.existing.iter().find(|m| m.name == spec.name) {
        return match claim(map, owner, input.parent.dev) {
            Ok(()) if map.is_live(&spec) => Step::Keep { spec, dev: map.dev },
            Ok(()) => Step::Reload(spec),
            Err(why) => Step::Skip {
                display,
                reason: SkipReason::NameTaken(why),
            },
        };
    }
    let renamable = input.existing.iter().find(|m| {
        m.uuid.as_ref() == Some(&spec.uuid)
            && (m.is_linear_on(input.parent.dev) || m.targets.is_empty())
    });
    match renamable {
        Some(map) => Step::RenameReload {
            from: map.name.clone(),
            spec,
        },
        None => Step::Create(spec),
    }
}

fn map_spec(
    input: &AddInput<'_>,
    owner: &str,
    number: usize,
    slice: &Slice,
) -> Result<MapSpec, SkipReason> {
    if !slice.fits_within(input.device_sectors.0) {
        return Err(SkipReason::PastEnd {
            device_sectors: input.device_sectors,
        });
    }
    Ok(MapSpec {
        number,
        name: MapName::new(input.naming.dm_name(number).map_err(SkipReason::BadName)?),
        display: DisplayName::new(input.naming.display_name(number)),
        uuid: MapUuid::new(naming::partition_uuid(number, owner).map_err(SkipReason::BadName)?),
        size: Sectors(slice.size),
        parent: input.parent.dev,
        start: Sectors(slice.start),
        read_only: input.read_only,
    })
}

/// May an existing map with the wanted name be reused? A map with a UUID must be one of this
/// parent's partitions; a legacy map without a UUID only when it is a linear map on the parent.
fn claim(map: &ExistingMap, owner: &str, parent: DevNum) -> Result<(), &'static str> {
    match map.uuid.as_ref().map(MapUuid::as_str) {
        Some(uuid) if naming::partition_number_of(uuid, owner).is_some() => Ok(()),
        Some(uuid) if naming::is_partition_uuid(uuid) => Err("a partition of a different device"),
        Some(_) => Err("not a kpartx partition"),
        None if map.is_linear_on(parent) => Ok(()),
        None => Err("not a kpartx partition"),
    }
}

/// The existing map a step takes over, if any.
fn claimed_map(step: &Step) -> Option<&MapName> {
    match step {
        Step::Reload(spec) | Step::Keep { spec, .. } => Some(&spec.name),
        Step::RenameReload { from, .. } => Some(from),
        _ => None,
    }
}

/// `-u`: this parent's maps whose partition number is no longer live (and that no earlier
/// step takes over). Which maps are this parent's is decided by [`owned_number`], the rule
/// `-d` applies too.
fn plan_vanished(
    input: &AddInput<'_>,
    owner: &str,
    live: &BTreeSet<usize>,
    claimed: &BTreeSet<&MapName>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for map in input.existing {
        if Some(&map.name) == input.parent.dm_name.as_ref() || claimed.contains(&map.name) {
            continue;
        }
        if owned_number(map, owner, input.parent.dev).is_none_or(|n| live.contains(&n)) {
            continue;
        }
        let display = map.name.unmangled();
        steps.push(removal(map, display, false));
    }
    steps
}

/// The one ownership rule for removing a map: it is partition N of the parent when its UUID
/// is exactly `part<N>-<parent uuid>` and its table is a single `linear` target over exactly
/// the parent — or it has no table at all (a map whose creation was interrupted between
/// create and load). A map without a UUID is never removed as a partition.
fn owned_number(map: &ExistingMap, owner: &str, parent: DevNum) -> Option<usize> {
    let number = naming::partition_number_of(map.uuid.as_ref()?.as_str(), owner)?;
    (map.targets.is_empty() || map.is_linear_on(parent)).then_some(number)
}

fn removal(map: &ExistingMap, display: DisplayName, flush: bool) -> Step {
    if map.open_count > 0 {
        return Step::Skip {
            display,
            reason: SkipReason::InUse {
                open_count: map.open_count,
            },
        };
    }
    Step::Remove {
        name: map.name.clone(),
        display,
        flush,
    }
}

/// What `plan_delete` does when some of the parent's partition maps are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenBusy {
    /// Remove nothing and report every open map (`-d`: a partial teardown helps no one).
    RemoveNone,
    /// Remove the unused maps and report the open ones (helper mode: the table or the parent
    /// is gone, and every stale map that can go should go).
    RemoveUnused,
}

/// Plans `-d`: every map on the parent that is one of its partitions, in kernel list order,
/// and maps of its partitions whose creation was interrupted (no table yet). Open maps are
/// reported, never removed; `when_busy` says what happens to the others. Removals flush
/// outstanding I/O first when `flush` (not when the parent is gone).
pub fn plan_delete(
    parent: &ParentInfo,
    existing: &[ExistingMap],
    when_busy: WhenBusy,
    flush: bool,
) -> Plan {
    let mut plan = Plan::default();
    for map in existing {
        if Some(&map.name) == parent.dm_name.as_ref() {
            continue;
        }
        let owned = match &parent.ownership_uuid {
            Some(owner) => owned_number(map, owner, parent.dev).is_some(),
            None => map.is_linear_on(parent.dev),
        };
        if !owned && !map.single_target_on(parent.dev) {
            continue;
        }
        let display = map.name.unmangled();
        let step = if owned {
            removal(map, display, flush)
        } else if map
            .targets
            .first()
            .is_some_and(|t| *t.kind() != TargetKind::Linear)
        {
            Step::Skip {
                display,
                reason: SkipReason::NotLinear,
            }
        } else {
            Step::Skip {
                display,
                reason: SkipReason::NotOurs,
            }
        };
        plan.push(step, true);
    }
    if plan.has_busy() && when_busy == WhenBusy::RemoveNone {
        plan.entries
            .retain(|e| !matches!(e.step, Step::Remove { .. }));
    }
    plan
}

pub mod prune;
#[cfg(test)]
mod tests;
