//! `--status` and `--prune`: which partition maps this tool owns and whether each still
//! matches its parent (what pruning does about it is [`crate::plan::prune`]'s). Pure: the facts come from the engine
//! ([`crate::engine::survey`]); the text and JSON forms are [`crate::render::survey`]'s.
//!
//! A map is ours when its UUID is `part<N>-<parent uuid>` (the form the reference creates too).
//! The parent uuid is either a device-mapper UUID (`part3-mpath-…` → the map whose UUID is
//! `mpath-…`) or kpartx's synthetic `devnode_<maj>:<min>_Wh5pYvM` for any other device.

use std::path::PathBuf;

use crate::device::DevNum;
use crate::dm::model::ExistingMap;
use crate::dm::types::{MapUuid, Sectors};
use kpartx_table::Slice;
use kpartx_table::naming;

/// Who a partition map's UUID says its parent is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentRef {
    /// A device-mapper device with this UUID.
    Dm(MapUuid),
    /// Any other block device, by number (`devnode_<maj>:<min>_Wh5pYvM`).
    Devnode(DevNum),
}

/// The partition number and parent of a partition map's UUID, `None` when the UUID is not a
/// partition map's.
pub fn parse_owner(uuid: &MapUuid) -> Option<(usize, ParentRef)> {
    let naming::UuidForm::Partition { number, parent } = naming::parse_uuid(uuid.as_str()) else {
        return None;
    };
    if parent.is_empty() {
        return None;
    }
    let devnode = naming::devnode_of(parent);
    Some(match devnode {
        Some(dev) => (number, ParentRef::Devnode(dev)),
        None => (number, ParentRef::Dm(MapUuid::new(parent))),
    })
}

/// What the parent's partition table looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentTable {
    /// The table's slices (index + 1 = partition number) and the device size in sectors.
    Slices(Vec<Slice>, Sectors),
    /// The device has no partition table.
    None,
    /// The device could not be read (the map's state is then unknown, never stale).
    Unreadable(String),
}

/// A parent device that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentView {
    /// Its device number.
    pub dev: DevNum,
    /// Its node.
    pub path: PathBuf,
    /// Its current table.
    pub table: ParentTable,
}

/// How a map relates to its parent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Matches partition N of the parent's current table.
    Current,
    /// The parent exists but the map no longer matches its table (why).
    Stale(String),
    /// The parent does not exist any more (why).
    Orphaned(String),
    /// The parent could not be read (why); never pruned.
    Unknown(String),
}

impl Health {
    /// `current`, `stale`, `orphaned` or `unknown`.
    pub fn keyword(&self) -> &'static str {
        match self {
            Health::Current => "current",
            Health::Stale(_) => "stale",
            Health::Orphaned(_) => "orphaned",
            Health::Unknown(_) => "unknown",
        }
    }

    /// Why the map is not current.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Health::Current => None,
            Health::Stale(r) | Health::Orphaned(r) | Health::Unknown(r) => Some(r),
        }
    }
}

/// The single linear target of a map that starts at sector 0: (device, offset, length).
fn linear_target(map: &ExistingMap) -> Option<(DevNum, Sectors, Sectors)> {
    map.linear()
        .filter(|t| t.start == Sectors(0))
        .map(|t| (t.device, t.offset, t.length))
}

/// Classifies partition map `map` (partition `number` by its UUID) against its parent as it
/// is now (`None`: the parent does not exist).
pub fn classify(map: &ExistingMap, number: usize, parent: Option<&ParentView>) -> Health {
    let Some(parent) = parent else {
        return Health::Orphaned("its parent device does not exist".into());
    };
    if map.targets.is_empty() {
        return Health::Stale("it has no table".into());
    }
    let Some((dev, start, length)) = linear_target(map) else {
        return Health::Stale("its table is not a single linear target".into());
    };
    if dev != parent.dev {
        return Health::Stale(format!(
            "its target is {dev}, not its parent {}",
            parent.dev
        ));
    }
    let (slices, sectors) = match &parent.table {
        ParentTable::Slices(slices, sectors) => (slices, *sectors),
        ParentTable::None => return Health::Stale("its parent has no partition table".into()),
        ParentTable::Unreadable(why) => {
            return Health::Unknown(format!("its parent cannot be read: {why}"));
        }
    };
    let Some(slice) = slices.get(number.wrapping_sub(1)).filter(|s| s.size > 0) else {
        return Health::Stale(format!("partition {number} no longer exists"));
    };
    if !slice.fits_within(sectors.0) {
        return Health::Stale(format!(
            "partition {number} ends beyond the end of its parent"
        ));
    }
    if Sectors(slice.start) != start || Sectors(slice.size) != length {
        return Health::Stale(format!(
            "partition {number} is now {} sectors at {}, the map {length} at {start}",
            slice.size, slice.start
        ));
    }
    Health::Current
}

/// Everything [`classify`] and the report need about one map.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The map.
    pub map: ExistingMap,
    /// Its partition number.
    pub number: usize,
    /// Who its UUID names as parent.
    pub parent_ref: ParentRef,
    /// The parent as it is now (`None`: gone).
    pub parent: Option<ParentView>,
    /// sysfs holders.
    pub holders: Vec<String>,
}

#[cfg(test)]
mod tests;
