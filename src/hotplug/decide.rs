//! What a udev event means for partition maps: a pure function of the event and the policy.

use super::event::{Action, UdevEvent};
use kpartx_table::naming;

/// Filesystem types of RAID members, whose stale partition tables must not be mapped.
pub const RAID_MEMBER_TYPES: [&str; 3] =
    ["linux_raid_member", "isw_raid_member", "ddf_raid_member"];

/// What the policy says about the device, as far as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyVerdict {
    /// The device may have partition maps.
    pub partitions_enabled: bool,
    /// Existing maps are removed when the device stops being allowed partitions.
    pub remove_on_change: bool,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing; the reason is logged.
    Ignore(String),
    /// Create or update the partition maps (the `-u` semantics).
    Map,
    /// Remove the device's partition maps (those not in use).
    Unmap {
        /// Why (logged).
        reason: String,
        /// Flush outstanding I/O first (false when the parent is gone).
        flush: bool,
    },
}

/// Decides from the event and the policy. (The legacy `no_partitions` feature of a multipath
/// table is the engine's to see, under the device lock: [`crate::engine::MapRequest`]'s
/// `no_partitions_feature`.) `stacked` tells whether anything is stacked on the device (sysfs
/// `holders/`); it is asked only for an unchanged multipath reload.
pub fn decide(
    event: &UdevEvent,
    policy: PolicyVerdict,
    stacked: impl FnOnce() -> bool,
) -> Decision {
    let ignore = |why: &str| Decision::Ignore(why.to_string());
    if event.devtype.as_deref() == Some("partition") {
        return ignore("kernel partitions are not partitioned further");
    }
    if event
        .dm_uuid
        .as_deref()
        .is_some_and(naming::is_partition_uuid)
    {
        return ignore("partition maps are never treated as parents");
    }
    if event.action == Action::Remove {
        return Decision::Unmap {
            reason: "the device was removed".into(),
            flush: false,
        };
    }
    if event.disable_other_rules {
        return ignore("DM_UDEV_DISABLE_OTHER_RULES_FLAG is set (suspended or private device)");
    }
    if event.suspended {
        return ignore("the device is suspended");
    }
    if event.no_scan {
        return ignore("DM_NOSCAN is set (multipath map without usable paths)");
    }
    // An unchanged reload says nothing new, unless the map's partitions were never mapped:
    // nothing stacked on it (the map had no usable path or was suspended when its earlier
    // events came), and no other event may come to map them (in an initramfs an unchanged
    // reload may be the map's last event).
    if event.mpath_unchanged && stacked() {
        return ignore("multipath reports the map unchanged");
    }
    if let Some(fs) = event
        .fs_type
        .as_deref()
        .filter(|t| RAID_MEMBER_TYPES.contains(t))
    {
        return Decision::Ignore(format!("the device is a RAID member ({fs})"));
    }
    let multipath = event
        .dm_uuid
        .as_deref()
        .is_some_and(|u| u.starts_with("mpath-"));
    let no_partitions = if event.skip_kpartx && multipath {
        Some("multipath asked for no partitions (skip_kpartx)")
    } else if !policy.partitions_enabled {
        Some("policy disables partitions for this device")
    } else {
        None
    };
    match no_partitions {
        None => Decision::Map,
        Some(why) if policy.remove_on_change => Decision::Unmap {
            reason: why.to_string(),
            flush: true,
        },
        Some(why) => ignore(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DevNum;

    const ON: PolicyVerdict = PolicyVerdict {
        partitions_enabled: true,
        remove_on_change: true,
    };
    const OFF: PolicyVerdict = PolicyVerdict {
        partitions_enabled: false,
        remove_on_change: true,
    };

    fn event(action: Action) -> UdevEvent {
        UdevEvent {
            action,
            dev: DevNum::new(254, 0),
            devname: Some("/dev/dm-0".into()),
            devtype: Some("disk".into()),
            dm_name: Some("mpatha".into()),
            dm_uuid: Some("mpath-3600".into()),
            skip_kpartx: false,
            disable_other_rules: false,
            no_scan: false,
            suspended: false,
            mpath_unchanged: false,
            fs_type: None,
            wwn: None,
            serial: None,
        }
    }

    #[test]
    fn multipath_add_and_change_map() {
        assert_eq!(decide(&event(Action::Add), ON, || true), Decision::Map);
        assert_eq!(decide(&event(Action::Change), ON, || true), Decision::Map);
    }

    #[test]
    fn remove_tears_down_without_flush() {
        assert!(matches!(
            decide(&event(Action::Remove), OFF, || true),
            Decision::Unmap { flush: false, .. }
        ));
    }

    #[test]
    fn partition_maps_and_kernel_partitions_are_never_parents() {
        let mut e = event(Action::Add);
        e.dm_uuid = Some("part1-mpath-3600".into());
        assert!(matches!(decide(&e, ON, || true), Decision::Ignore(_)));
        e.action = Action::Remove;
        assert!(matches!(decide(&e, ON, || true), Decision::Ignore(_)));
        let mut e = event(Action::Add);
        e.devtype = Some("partition".into());
        assert!(matches!(decide(&e, ON, || true), Decision::Ignore(_)));
    }

    #[test]
    fn an_unchanged_reload_maps_only_a_map_nothing_is_stacked_on() {
        let mut e = event(Action::Change);
        e.mpath_unchanged = true;
        assert!(matches!(decide(&e, ON, || true), Decision::Ignore(_)));
        assert_eq!(decide(&e, ON, || false), Decision::Map);
        // the other bail-outs and the policy still come first / still apply
        e.disable_other_rules = true;
        assert!(matches!(decide(&e, ON, || false), Decision::Ignore(_)));
        e.disable_other_rules = false;
        e.skip_kpartx = true;
        assert!(matches!(decide(&e, ON, || false), Decision::Unmap { .. }));
    }

    #[test]
    fn holders_are_only_asked_for_an_unchanged_reload() {
        let asked = std::cell::Cell::new(false);
        decide(&event(Action::Change), ON, || {
            asked.set(true);
            true
        });
        assert!(!asked.get());
    }

    #[test]
    fn upstream_bail_outs() {
        let cases: [fn(&mut UdevEvent); 5] = [
            |e| e.disable_other_rules = true,
            |e| e.suspended = true,
            |e| e.no_scan = true,
            |e| e.mpath_unchanged = true,
            |e| e.fs_type = Some("linux_raid_member".into()),
        ];
        for set in cases {
            let mut e = event(Action::Change);
            set(&mut e);
            assert!(
                matches!(decide(&e, ON, || true), Decision::Ignore(_)),
                "{e:?}"
            );
        }
        let mut e = event(Action::Change);
        e.fs_type = Some("ext4".into());
        assert_eq!(decide(&e, ON, || true), Decision::Map);
    }

    #[test]
    fn no_partitions_sources_remove_existing_maps() {
        let mut e = event(Action::Change);
        e.skip_kpartx = true;
        assert!(matches!(
            decide(&e, ON, || true),
            Decision::Unmap { flush: true, .. }
        ));
        let e = event(Action::Change);
        assert!(matches!(decide(&e, OFF, || true), Decision::Unmap { .. }));
        let keep = PolicyVerdict {
            partitions_enabled: false,
            remove_on_change: false,
        };
        assert!(matches!(decide(&e, keep, || true), Decision::Ignore(_)));
    }

    #[test]
    fn subsystem_flag1_means_skip_kpartx_only_for_multipath() {
        let mut e = event(Action::Change);
        e.dm_uuid = Some("LVM-abc".into());
        e.skip_kpartx = true;
        assert_eq!(decide(&e, ON, || true), Decision::Map);
    }
}
