//! What a device-mapper parent's own state says before anything is read from it: whether it
//! can be read now without the read blocking for an unknown time (a suspended map holds
//! every read until it is resumed, and a multipath map with no usable path that queues I/O
//! holds it until a path comes back, in an uninterruptible sleep), and whether its multipath
//! table carries the legacy `no_partitions` feature. The classification is pure; [`of_map`]
//! asks the kernel.

use std::fmt;

use devicemapper::{DM, DevId, DmFlags, DmName, DmOptions};

use crate::device::{DevNum, sysfs};

/// What reading the device now would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// A read returns (data or an error).
    Ready,
    /// The map is suspended: a read waits until it is resumed.
    Suspended,
    /// A multipath map without an active path.
    NoUsablePath {
        /// It queues I/O (`queue_if_no_path`): a read waits until a path returns.
        queueing: bool,
    },
}

impl Readiness {
    /// Whether the device may be read now.
    pub fn is_ready(self) -> bool {
        self == Readiness::Ready
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Readiness::Ready => f.write_str("ready"),
            Readiness::Suspended => f.write_str("suspended"),
            Readiness::NoUsablePath { queueing: true } => {
                f.write_str("no usable path, I/O is queued until one returns")
            }
            Readiness::NoUsablePath { queueing: false } => f.write_str("no usable path"),
        }
    }
}

/// A device-mapper parent's state, as far as mapping its partitions is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapState {
    /// Whether it may be read now.
    pub readiness: Readiness,
    /// Its multipath table lists the legacy `no_partitions` feature.
    pub no_partitions: bool,
}

impl MapState {
    /// A device that is not a device-mapper map (or vanished): readable, no features.
    pub const PLAIN: MapState = MapState {
        readiness: Readiness::Ready,
        no_partitions: false,
    };
}

/// Whether a multipath target's parameters list `no_partitions` among their features
/// (`<count> <feature>… <hwhandler count> …`).
pub fn has_no_partitions_feature(params: &str) -> bool {
    let mut words = params.split_whitespace();
    let count: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    words.take(count.min(64)).any(|w| w == "no_partitions")
}

/// Classifies a map from its suspended flag and its status lines (target type, status
/// parameters as `DM_TABLE_STATUS` reports them without the table flag).
pub fn classify<'a>(
    suspended: bool,
    status: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Readiness {
    if suspended {
        return Readiness::Suspended;
    }
    for (kind, params) in status {
        if kind == "multipath" && !multipath_has_active_path(params) {
            return Readiness::NoUsablePath {
                queueing: multipath_queueing(params),
            };
        }
    }
    Readiness::Ready
}

/// Whether a multipath status line lists a path in state `A` (active). Paths appear as
/// `<maj:min> <A|F> <fail count> …`; priority group states (`A`, `E`, `D`) never follow a
/// device number.
fn multipath_has_active_path(params: &str) -> bool {
    let words: Vec<&str> = params.split_whitespace().collect();
    words
        .windows(2)
        .any(|w| DevNum::parse(w[0]).is_some() && w[1] == "A")
}

/// Whether a multipath status line says I/O is being queued: its feature section is
/// `2 <queue_io> <pg_init_count>` on the kernels that report it.
fn multipath_queueing(params: &str) -> bool {
    let mut words = params.split_whitespace();
    words.next() == Some("2") && words.next() == Some("1")
}

/// Asks the kernel, through `dm`, about the device-mapper device `dev` (by its name in
/// sysfs): its status and its table, one ioctl each, for this one map. Without a usable
/// device-mapper control node (`dm` is `None`), sysfs's `dm/suspended` is all there is to go
/// on. A device that is not a DM device, or vanished, is [`MapState::PLAIN`]: reading it says
/// the rest.
pub fn of_map(dm: Option<&DM>, dev: DevNum) -> MapState {
    let Some(name) = sysfs::dm_stored_name(dev) else {
        return MapState::PLAIN;
    };
    let from_kernel = dm.and_then(|dm| {
        let id = DevId::Name(DmName::new(&name).ok()?);
        let (info, status) = dm.table_status(&id, DmOptions::default()).ok()?;
        let table_opts = DmOptions::default().set_flags(DmFlags::DM_STATUS_TABLE);
        let (_, table) = dm.table_status(&id, table_opts).ok()?;
        Some(MapState {
            readiness: classify(
                info.flags().contains(DmFlags::DM_SUSPEND),
                status
                    .iter()
                    .map(|(_, _, kind, params)| (kind.as_str(), params.as_str())),
            ),
            no_partitions: table.iter().any(|(_, _, kind, params)| {
                kind == "multipath" && has_no_partitions_feature(params)
            }),
        })
    });
    from_kernel.unwrap_or_else(|| MapState {
        readiness: if sysfs::dm_suspended(dev) {
            Readiness::Suspended
        } else {
            Readiness::Ready
        },
        no_partitions: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Status lines as dm-multipath prints them (INFO): features, hardware handler,
    // priority groups, then per group its state, selector status and paths.
    const TWO_ACTIVE: &str = "2 0 0 0 1 1 A 0 2 0 8:16 A 0 0 8:32 A 0 0";
    const ONE_FAILED: &str = "2 0 0 0 1 1 A 0 2 0 8:16 F 1 0 8:32 A 0 0";
    const ALL_FAILED_QUEUEING: &str = "2 1 0 0 1 1 E 0 2 0 8:16 F 1 0 8:32 F 1 0";
    const ALL_FAILED: &str = "2 0 0 0 1 1 E 0 2 0 8:16 F 1 0 8:32 F 1 0";
    const TWO_GROUPS_SECOND_ACTIVE: &str = "2 0 0 0 2 2 E 0 1 0 8:16 F 2 0 A 0 1 0 8:48 A 0 0";

    #[test]
    fn active_paths_are_ready() {
        assert_eq!(
            classify(false, [("multipath", TWO_ACTIVE)]),
            Readiness::Ready
        );
        assert_eq!(
            classify(false, [("multipath", ONE_FAILED)]),
            Readiness::Ready
        );
        assert_eq!(
            classify(false, [("multipath", TWO_GROUPS_SECOND_ACTIVE)]),
            Readiness::Ready
        );
    }

    #[test]
    fn no_active_path_is_not_ready() {
        assert_eq!(
            classify(false, [("multipath", ALL_FAILED_QUEUEING)]),
            Readiness::NoUsablePath { queueing: true }
        );
        assert_eq!(
            classify(false, [("multipath", ALL_FAILED)]),
            Readiness::NoUsablePath { queueing: false }
        );
        assert_eq!(
            classify(false, [("multipath", "2 1 0 0 0 0")]),
            Readiness::NoUsablePath { queueing: true },
            "a map without paths at all"
        );
    }

    #[test]
    fn suspension_wins_and_other_targets_are_ready() {
        assert_eq!(classify(true, [("linear", "")]), Readiness::Suspended);
        assert_eq!(classify(false, [("linear", "")]), Readiness::Ready);
        assert_eq!(classify(false, []), Readiness::Ready);
        assert!(!Readiness::Suspended.is_ready());
    }

    #[test]
    fn legacy_feature_parsing() {
        assert!(has_no_partitions_feature(
            "2 queue_if_no_path no_partitions 0 1 1 round-robin 0 1 1 7:0 1000"
        ));
        assert!(!has_no_partitions_feature(
            "1 queue_if_no_path 0 1 1 round-robin 0 1 1 7:0 1000"
        ));
        assert!(!has_no_partitions_feature(
            "0 0 1 1 round-robin 0 1 1 no_partitions 1000"
        ));
        assert!(!has_no_partitions_feature(""));
        assert!(!has_no_partitions_feature(
            "99999999999999999999 no_partitions"
        ));
    }

    #[test]
    fn messages_name_the_state() {
        assert_eq!(
            Readiness::NoUsablePath { queueing: true }.to_string(),
            "no usable path, I/O is queued until one returns"
        );
        assert_eq!(Readiness::Suspended.to_string(), "suspended");
    }
}
