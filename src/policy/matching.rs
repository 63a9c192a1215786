//! Device facts, match criteria and the settings a rule carries.

use kpartx_table::naming::{UuidForm, parse_uuid};
use std::path::PathBuf;
use std::time::Duration;

use tracing::level_filters::LevelFilter;

use kpartx_table::TableKind;

use super::EffectivePolicy;
use super::glob::Glob;

/// What kind of block device a policy is evaluated for, derived from [`DeviceFacts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// A multipath map: DM UUID starts with `mpath-`.
    Multipath,
    /// Any other device-mapper device (LVM, crypt, …), except partition maps.
    Dm,
    /// A loop device.
    Loop,
    /// Any other block device (`sd*`, `nvme*`, `vd*`, …).
    Disk,
    /// A partition map made by kpartx itself (DM UUID `part<N>-…`); never a parent.
    PartitionMap,
}

impl DeviceKind {
    /// The kinds a `match.kind` criterion may name (partition maps are not matchable).
    pub const MATCHABLE: [DeviceKind; 4] = [
        DeviceKind::Multipath,
        DeviceKind::Dm,
        DeviceKind::Loop,
        DeviceKind::Disk,
    ];

    /// The name used in policy files and `--show-policy`.
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Multipath => "multipath",
            DeviceKind::Dm => "dm",
            DeviceKind::Loop => "loop",
            DeviceKind::Disk => "disk",
            DeviceKind::PartitionMap => "partition-map",
        }
    }
}

/// What is known about a block device when its policy is evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFacts {
    /// Kernel name without `/dev/`: `dm-3`, `loop0`, `sda`.
    pub kernel_name: String,
    /// Device-mapper name (`mpatha`, `vg0-guest01`), for DM devices.
    pub dm_name: Option<String>,
    /// Device-mapper UUID (`mpath-3600…`, `LVM-…`, `part1-mpath-…`), for DM devices.
    pub dm_uuid: Option<String>,
    /// World-wide identifier; for multipath maps [`DeviceFacts::effective_wwid`] derives it
    /// from the DM UUID instead. For disks, udev's `ID_SERIAL` (what multipath uses), else
    /// `ID_WWN`.
    pub wwid: Option<String>,
    /// Vendor serial number (udev `ID_SERIAL_SHORT`, else `ID_SERIAL`).
    pub serial: Option<String>,
    /// A loop device's backing file (without the kernel's ` (deleted)` suffix).
    pub backing_file: Option<PathBuf>,
}

impl DeviceFacts {
    /// Facts from a udev event environment (`DEVNAME`, `DM_NAME`, `DM_UUID`, `ID_SERIAL`,
    /// `ID_WWN`, `ID_SERIAL_SHORT`); the backing file is not in it, so the caller adds it
    /// from sysfs for loop devices. Empty values count as absent.
    pub fn from_udev_env(get: impl Fn(&str) -> Option<String>) -> DeviceFacts {
        let get = |key: &str| get(key).filter(|v| !v.is_empty());
        let kernel_name = get("DEVNAME")
            .or_else(|| get("DEVPATH"))
            .map(|p| p.rsplit('/').next().unwrap_or_default().to_string())
            .unwrap_or_default();
        DeviceFacts {
            kernel_name,
            dm_name: get("DM_NAME"),
            dm_uuid: get("DM_UUID"),
            wwid: get("ID_SERIAL").or_else(|| get("ID_WWN")),
            serial: get("ID_SERIAL_SHORT").or_else(|| get("ID_SERIAL")),
            backing_file: None,
        }
    }

    /// The device's kind: partition map, multipath, other DM, loop, else disk.
    pub fn kind(&self) -> DeviceKind {
        if let Some(uuid) = self.dm_uuid.as_deref().filter(|u| !u.is_empty()) {
            match parse_uuid(uuid) {
                UuidForm::Partition { .. } => DeviceKind::PartitionMap,
                UuidForm::Multipath { .. } => DeviceKind::Multipath,
                UuidForm::Other => DeviceKind::Dm,
            }
        } else if self.dm_name.is_some() || self.kernel_name.starts_with("dm-") {
            DeviceKind::Dm
        } else if self.kernel_name.starts_with("loop") || self.backing_file.is_some() {
            DeviceKind::Loop
        } else {
            DeviceKind::Disk
        }
    }

    /// The WWID criteria are matched against: a multipath map's DM UUID minus `mpath-`,
    /// otherwise [`DeviceFacts::wwid`].
    pub fn effective_wwid(&self) -> Option<&str> {
        match self.kind() {
            DeviceKind::Multipath => match parse_uuid(self.dm_uuid.as_deref()?) {
                UuidForm::Multipath { wwid } => Some(wwid),
                _ => None,
            },
            _ => self.wwid.as_deref(),
        }
    }
}

/// The criteria of one rule; every present one must hold, and a criterion on a fact the device
/// lacks does not hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Criteria {
    pub kind: Option<Vec<DeviceKind>>,
    pub kernel: Option<Vec<Glob>>,
    pub dm_name: Option<Vec<Glob>>,
    pub dm_uuid: Option<Vec<Glob>>,
    pub wwid: Option<Vec<Glob>>,
    pub serial: Option<Vec<Glob>>,
    pub backing_file: Option<Vec<Glob>>,
}

impl Criteria {
    /// Criteria matching one device kind.
    pub fn kind(kind: DeviceKind) -> Criteria {
        Criteria {
            kind: Some(vec![kind]),
            ..Criteria::default()
        }
    }

    pub fn matches(&self, facts: &DeviceFacts, kind: DeviceKind) -> bool {
        let backing = facts.backing_file.as_ref().map(|p| p.to_string_lossy());
        self.kind.as_ref().is_none_or(|kinds| kinds.contains(&kind))
            && any(&self.kernel, Some(facts.kernel_name.as_str()))
            && any(&self.dm_name, facts.dm_name.as_deref())
            && any(&self.dm_uuid, facts.dm_uuid.as_deref())
            && any(&self.wwid, facts.effective_wwid())
            && any(&self.serial, facts.serial.as_deref())
            && any(&self.backing_file, backing.as_deref())
    }
}

fn any(globs: &Option<Vec<Glob>>, fact: Option<&str>) -> bool {
    match globs {
        None => true,
        Some(globs) => fact.is_some_and(|f| globs.iter().any(|g| g.matches(f))),
    }
}

/// Settings of `[defaults]` or of one rule; `None` leaves the earlier value.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Settings {
    pub partitions: Option<bool>,
    pub delimiter: Option<String>,
    pub read_only: Option<bool>,
    pub tables: Option<Vec<TableKind>>,
    pub force_gpt: Option<bool>,
    pub udev_timeout: Option<Duration>,
    pub busy_timeout: Option<Duration>,
    pub remove_on_change: Option<bool>,
    pub log_level: Option<LevelFilter>,
}

impl Settings {
    /// Overrides, field by field, what this layer sets.
    pub fn apply_to(&self, eff: &mut EffectivePolicy) {
        fn set<T: Clone>(dst: &mut T, src: &Option<T>) {
            if let Some(v) = src {
                *dst = v.clone();
            }
        }
        set(&mut eff.partitions_enabled, &self.partitions);
        if let Some(d) = &self.delimiter {
            eff.delimiter = Some(d.clone());
        }
        if let Some(t) = &self.tables {
            eff.tables = Some(t.clone());
        }
        set(&mut eff.read_only, &self.read_only);
        set(&mut eff.force_gpt, &self.force_gpt);
        set(&mut eff.udev_timeout, &self.udev_timeout);
        set(&mut eff.busy_timeout, &self.busy_timeout);
        set(&mut eff.remove_on_change, &self.remove_on_change);
        set(&mut eff.log_level, &self.log_level);
    }
}

/// One `[[device]]` rule, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// Where it came from, as listed in [`EffectivePolicy::matched_rules`].
    pub origin: String,
    pub criteria: Criteria,
    pub settings: Settings,
}
