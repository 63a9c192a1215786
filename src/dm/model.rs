//! The device-mapper model the rest of the program shares: a map as it exists
//! ([`ExistingMap`], with its [`TargetLine`]s) and a partition map to make ([`MapSpec`]).
//! Plain data, typed ([`super::types`]), plus the one parse of a target's device; nothing here
//! talks to the kernel, and nothing here knows about planning.

use super::types::{DisplayName, MapName, MapUuid, Sectors};
use crate::device::DevNum;

/// One target line of an existing map's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLine {
    /// First sector.
    pub start: Sectors,
    /// Length in sectors.
    pub length: Sectors,
    /// Target type (`linear`, `multipath`, …).
    pub kind: String,
    /// Target parameters (`7:0 2048` for linear).
    pub params: String,
}

/// A device-mapper map as it exists now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingMap {
    /// Name as stored in the kernel (mangled).
    pub name: MapName,
    /// Its UUID, if it has one.
    pub uuid: Option<MapUuid>,
    /// Its device number.
    pub dev: DevNum,
    /// How many openers it has.
    pub open_count: i32,
    /// Whether it is read-only.
    pub read_only: bool,
    /// Its live table.
    pub targets: Vec<TargetLine>,
}

impl TargetLine {
    /// The device its parameters start with (`MAJ:MIN`, as `linear` and `striped` tables
    /// have it), `None` when they start with anything else.
    pub fn device(&self) -> Option<DevNum> {
        DevNum::parse(self.params.split_whitespace().next()?)
    }
}

/// A table that is one `linear` target, parsed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearTarget {
    /// Where the target starts in the map (a partition map's is 0).
    pub start: Sectors,
    /// Its length in sectors.
    pub length: Sectors,
    /// The device it maps.
    pub device: DevNum,
    /// The offset on that device in sectors.
    pub offset: Sectors,
}

impl ExistingMap {
    /// Its table as a single `linear` target, `None` for any other table.
    pub fn linear(&self) -> Option<LinearTarget> {
        let [t] = self.targets.as_slice() else {
            return None;
        };
        if t.kind != "linear" {
            return None;
        }
        let mut words = t.params.split_whitespace();
        Some(LinearTarget {
            start: t.start,
            length: t.length,
            device: DevNum::parse(words.next()?)?,
            offset: Sectors(words.next()?.parse().ok()?),
        })
    }

    /// Whether its table is a single `linear` target over exactly `parent`.
    pub fn is_linear_on(&self, parent: DevNum) -> bool {
        matches!(self.targets.as_slice(), [t] if t.kind == "linear" && t.device() == Some(parent))
    }

    /// Whether its single target, of any type, points at exactly `parent`.
    pub fn single_target_on(&self, parent: DevNum) -> bool {
        matches!(self.targets.as_slice(), [t] if t.device() == Some(parent))
    }
}

/// A partition map to create or reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    /// Partition number.
    pub number: usize,
    /// Name as device-mapper stores it.
    pub name: MapName,
    /// Name as printed.
    pub display: DisplayName,
    /// UUID set on creation.
    pub uuid: MapUuid,
    /// Length in 512-byte sectors.
    pub size: Sectors,
    /// The parent device.
    pub parent: DevNum,
    /// Offset on the parent in 512-byte sectors.
    pub start: Sectors,
    /// Whether the map is read-only.
    pub read_only: bool,
}

impl MapSpec {
    /// The linear target's parameters: `MAJ:MIN START`.
    pub fn params(&self) -> String {
        format!("{} {}", self.parent, self.start)
    }
}
