//! The device-mapper model the rest of the program shares: a map as it exists
//! ([`ExistingMap`], with its [`TargetLine`]s) and a partition map to make ([`MapSpec`]).
//! Plain data, typed ([`super::types`]), with a target's parameters parsed once when the line
//! is made; nothing here talks to the kernel, and nothing here knows about planning.

use std::fmt;

use super::types::{DisplayName, MapName, MapUuid, Sectors};
use crate::device::DevNum;

/// A target's type, as device-mapper names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// `linear`: the only type of a partition map.
    Linear,
    /// `multipath`.
    Multipath,
    /// Any other type (`striped`, `crypt`, …), by its name.
    Other(String),
}

impl TargetKind {
    /// The type named `name`.
    pub fn from_name(name: &str) -> Self {
        match name {
            "linear" => TargetKind::Linear,
            "multipath" => TargetKind::Multipath,
            other => TargetKind::Other(other.to_string()),
        }
    }

    /// Its name, as device-mapper has it.
    pub fn name(&self) -> &str {
        match self {
            TargetKind::Linear => "linear",
            TargetKind::Multipath => "multipath",
            TargetKind::Other(name) => name,
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One target line of an existing map's table. Its parameters are parsed once, when it is
/// made ([`TargetLine::new`]); the fields are private so that what was parsed always goes
/// with the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLine {
    start: Sectors,
    length: Sectors,
    kind: TargetKind,
    params: String,
    /// The device the parameters start with (`MAJ:MIN`).
    device: Option<DevNum>,
    /// For a `linear` target, the offset on that device (the second parameter).
    offset: Option<Sectors>,
}

impl TargetLine {
    /// The line `start length kind params`, its parameters parsed.
    pub fn new(start: Sectors, length: Sectors, kind: TargetKind, params: String) -> Self {
        let mut words = params.split_whitespace();
        let device = words.next().and_then(DevNum::parse);
        let offset = match kind {
            TargetKind::Linear => words.next().and_then(|w| w.parse().ok()).map(Sectors),
            _ => None,
        };
        TargetLine {
            start,
            length,
            kind,
            params,
            device,
            offset,
        }
    }

    /// First sector.
    pub fn start(&self) -> Sectors {
        self.start
    }

    /// Length in sectors.
    pub fn length(&self) -> Sectors {
        self.length
    }

    /// Target type.
    pub fn kind(&self) -> &TargetKind {
        &self.kind
    }

    /// Target parameters as the kernel gave them (`7:0 2048` for linear).
    pub fn params(&self) -> &str {
        &self.params
    }

    /// The device its parameters start with (`MAJ:MIN`, as `linear` and `striped` tables
    /// have it), `None` when they start with anything else.
    pub fn device(&self) -> Option<DevNum> {
        self.device
    }
}

/// The line as `dmsetup table` prints it: `start length kind params`.
impl fmt::Display for TargetLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.start, self.length, self.kind, self.params
        )
    }
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
    /// Whether something is pending on it: it is suspended, or has an inactive table loaded
    /// (a reload that was never resumed).
    pub pending: bool,
}

/// A table that is one `linear` target.
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
        if t.kind != TargetKind::Linear {
            return None;
        }
        Some(LinearTarget {
            start: t.start,
            length: t.length,
            device: t.device?,
            offset: t.offset?,
        })
    }

    /// Whether its table is a single `linear` target over exactly `parent`.
    pub fn is_linear_on(&self, parent: DevNum) -> bool {
        matches!(self.targets.as_slice(),
            [t] if t.kind == TargetKind::Linear && t.device == Some(parent))
    }

    /// Whether it already is exactly `spec`, live: its UUID, mode and single `linear` target
    /// are the ones `spec` would load, and nothing is pending on it. Loading `spec` again
    /// would change nothing but cost a suspend, a resume and a uevent.
    pub fn is_live(&self, spec: &MapSpec) -> bool {
        !self.pending
            && self.uuid.as_ref() == Some(&spec.uuid)
            && self.read_only == spec.read_only
            && self.linear()
                == Some(LinearTarget {
                    start: Sectors(0),
                    length: spec.size,
                    device: spec.parent,
                    offset: spec.start,
                })
    }

    /// Whether its single target, of any type, points at exactly `parent`.
    pub fn single_target_on(&self, parent: DevNum) -> bool {
        matches!(self.targets.as_slice(), [t] if t.device == Some(parent))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: &str, params: &str) -> TargetLine {
        TargetLine::new(
            Sectors(0),
            Sectors(100),
            TargetKind::from_name(kind),
            params.to_string(),
        )
    }

    #[test]
    fn a_line_is_parsed_once_and_printed_as_given() {
        let t = line("linear", "7:0 2048");
        assert_eq!(t.device(), Some(DevNum::new(7, 0)));
        assert_eq!(t.offset, Some(Sectors(2048)));
        assert_eq!(t.to_string(), "0 100 linear 7:0 2048");
        let m = line("multipath", "0 0 1 1 round-robin 0 1 1 8:16 1");
        assert_eq!(m.kind(), &TargetKind::Multipath);
        assert_eq!(m.device(), None);
        let s = line("striped", "2 128 8:0 0 8:16 0");
        assert_eq!(s.kind(), &TargetKind::Other("striped".into()));
        assert_eq!(s.to_string(), "0 100 striped 2 128 8:0 0 8:16 0");
        assert_eq!(line("linear", "7:0 x").offset, None);
    }
}
