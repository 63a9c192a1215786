//! `--status` and `--prune` over a [`System`]: gathers the facts the pure classification in
//! [`crate::health`] needs (the maps, each one's parent and that parent's current table, sysfs
//! holders, the loop records), and carries out a prune plan.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::{Devices, EngineError, System};
use crate::deadline::Deadline;
use crate::device::DevNum;
use crate::dm::model::ExistingMap;
use crate::dm::types::Sectors;
use crate::dm::{OpError, Settled};
use crate::health::{self, Observed, ParentRef, ParentTable, ParentView};
use crate::plan::prune::{self, LoopFacts, PruneAction, PruneStep};
use crate::resolve::{Purpose, ResolveError, Resolved, Source};
use kpartx_table::TypeFilter;

/// The devices `--status`/`--prune` look at: `None` for all, else the parents' numbers.
pub type Only = Option<Vec<DevNum>>;

/// Resolves device arguments to the parents whose maps are looked at (never attaching a loop:
/// an image no loop backs has no maps).
pub fn parents_of<S: System>(sys: &S, args: &[&Path]) -> Result<Only, EngineError> {
    if args.is_empty() {
        return Ok(None);
    }
    let mut devs = Vec::new();
    for arg in args {
        match sys.devices().resolve(arg, Purpose::Delete) {
            Ok(resolved) => devs.push(resolved.parent.dev),
            Err(ResolveError::NoLoopForDelete) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(devs))
}

fn parent_dev(parent_ref: &ParentRef, maps: &[ExistingMap]) -> Option<DevNum> {
    match parent_ref {
        ParentRef::Devnode(dev) => Some(*dev),
        ParentRef::Dm(uuid) => maps
            .iter()
            .find(|m| m.uuid.as_ref() == Some(uuid))
            .map(|m| m.dev),
    }
}

/// Every partition map this tool owns (of the parents in `only`), with its parent as it is
/// now. Each parent's table is read once.
pub fn observe<S: System>(sys: &S, only: &Only) -> Result<Vec<Observed>, EngineError> {
    let maps = sys.snapshot()?;
    let mut views: Vec<(DevNum, Option<ParentView>)> = Vec::new();
    let mut out = Vec::new();
    for map in &maps {
        let Some((number, parent_ref)) = map.uuid.as_ref().and_then(health::parse_owner) else {
            continue;
        };
        let dev = parent_dev(&parent_ref, &maps);
        if let Some(only) = only
            && !dev.is_some_and(|d| only.contains(&d))
        {
            continue;
        }
        let parent = match dev {
            None => None,
            Some(dev) => match views.iter().find(|(d, _)| *d == dev) {
                Some((_, view)) => view.clone(),
                None => {
                    let view = view_of(sys, dev);
                    views.push((dev, view.clone()));
                    view
                }
            },
        };
        out.push(Observed {
            map: map.clone(),
            number,
            parent_ref,
            parent,
            holders: sys.devices().holders(map.dev),
        });
    }
    Ok(out)
}

fn view_of<S: System>(sys: &S, dev: DevNum) -> Option<ParentView> {
    let parent = Resolved {
        parent: sys.devices().device_by_number(dev)?,
        image: None,
        source: Source::Parent,
    };
    let table = match sys.devices().read_table(&parent, false, &TypeFilter::All) {
        Ok(found) => match found.table {
            Some(table) => ParentTable::Slices(table.slices, Sectors(found.size_sectors)),
            None => ParentTable::None,
        },
        Err(e) => ParentTable::Unreadable(crate::sys_text::strerror(&e)),
    };
    Some(ParentView {
        dev,
        path: parent.parent.path,
        table,
    })
}

/// The recorded loops (of the parents in `only`) as they are now.
pub fn loops<S: System>(sys: &S, only: &Only) -> Vec<LoopFacts> {
    sys.devices()
        .loop_records()
        .into_iter()
        .filter_map(|(name, recorded)| {
            let number: u32 = name.strip_prefix("loop")?.parse().ok()?;
            let dev = DevNum::new(crate::device::loopdev::LOOP_MAJOR, number);
            if let Some(only) = only
                && !only.contains(&dev)
            {
                return None;
            }
            Some(LoopFacts {
                backing: sys.devices().loop_backing(&name),
                holders: sys.devices().holders(dev),
                name,
                recorded,
            })
        })
        .collect()
}

/// What `--prune` did: its steps, and the udev wait when it failed.
#[derive(Debug)]
pub struct Pruned {
    /// The steps, planned or carried out.
    pub steps: Vec<PruneStep>,
    /// How the wait for udev after the removals ended.
    pub udev: Result<Settled, OpError>,
}

/// `--prune`: plans, and unless `dry_run` carries out, the removal of unused stale and
/// orphaned maps and the detaching of empty loops this tool attached; a removal rides out a
/// transient opener for at most `busy_timeout` in all.
pub fn prune<S: System>(
    sys: &S,
    only: &Only,
    dry_run: bool,
    busy_timeout: Duration,
) -> Result<Pruned, EngineError> {
    let observed = observe(sys, only)?;
    if dry_run {
        return Ok(Pruned {
            steps: prune::plan_prune(&observed, &loops(sys, only)),
            udev: Ok(Settled::NotWaited),
        });
    }
    // Lock every parent that still exists (in device-number order, as one run locks one
    // device), then look again: a concurrent -a/-u may have changed the maps meanwhile.
    let parents: BTreeSet<DevNum> = observed
        .iter()
        .filter_map(|o| o.parent.as_ref().map(|p| p.dev))
        .collect();
    let mut locks = Vec::with_capacity(parents.len());
    for dev in parents {
        let lock = sys
            .devices()
            .lock_device(dev, crate::lock::LOCK_TIMEOUT)
            .map_err(|e| EngineError::Lock(dev.to_string(), e))?;
        locks.push(lock);
    }
    let observed = observe(sys, only)?;
    let mut steps = prune::plan_prune(&observed, &loops(sys, only));
    let deadline = Deadline::after(busy_timeout);
    for s in &mut steps {
        let result = match (&s.action, &s.dm_name) {
            (PruneAction::Remove, Some(name)) => sys
                .ops()
                .remove(name, false, deadline)
                .map_err(|e| e.detail),
            (PruneAction::Detach, _) => {
                let name = s.name.trim_start_matches("/dev/");
                sys.devices()
                    .detach_recorded(name)
                    .map_err(|e| crate::sys_text::strerror(&e))
            }
            (PruneAction::Forget, _) => {
                sys.devices()
                    .forget_loop(s.name.trim_start_matches("/dev/"));
                Ok(())
            }
            _ => Ok(()),
        };
        match result {
            Ok(()) => s.result = "ok",
            Err(e) => {
                s.result = "failed";
                s.error = Some(e);
            }
        }
    }
    drop(locks);
    // Removals carry the udev flags: wait for them (bounded) like every other run.
    Ok(Pruned {
        steps,
        udev: sys.ops().settle(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fake::{FakeSystem, disk};
    use kpartx_table::Slice;

    fn slice(start: u64, size: u64) -> Slice {
        Slice {
            start,
            size,
            container: None,
            ..Slice::default()
        }
    }

    fn system() -> FakeSystem {
        let fake = FakeSystem::new(vec![disk(
            "/dev/loop0",
            DevNum::new(7, 0),
            None,
            Some(vec![slice(2048, 100), slice(4096, 100)]),
        )]);
        let owner = "devnode_7:0_Wh5pYvM";
        fake.add_map(
            "loop0p1",
            Some(&format!("part1-{owner}")),
            Some("7:0 2048"),
            0,
        );
        fake.add_map(
            "loop0p2",
            Some(&format!("part2-{owner}")),
            Some("7:0 9999"),
            0,
        );
        fake.add_map(
            "loop0p3",
            Some(&format!("part3-{owner}")),
            Some("7:0 8192"),
            1,
        );
        fake.add_map(
            "gone1",
            Some("part1-devnode_7:99_Wh5pYvM"),
            Some("7:0 0"),
            0,
        );
        fake.add_map("foreign", Some("LVM-xyz"), Some("7:0 0"), 0);
        fake
    }

    #[test]
    fn status_classifies_every_map_of_ours() {
        let fake = system();
        let states: Vec<(String, &str)> = observe(&fake, &None)
            .unwrap()
            .iter()
            .map(crate::render::survey::map_status)
            .map(|m| (m.name, m.state))
            .collect();
        assert_eq!(
            states,
            [
                ("loop0p1".to_string(), "current"),
                ("loop0p2".to_string(), "stale"),
                ("loop0p3".to_string(), "stale"),
                ("gone1".to_string(), "orphaned"),
            ]
        );
        let only = Some(vec![DevNum::new(7, 99)]);
        assert_eq!(observe(&fake, &only).unwrap().len(), 1);
    }

    #[test]
    fn prune_removes_unused_stale_and_orphaned_maps_then_empty_loops() {
        let fake = system();
        fake.loops.lock().unwrap().extend([
            ("loop0".to_string(), "/img/a".into(), Some("/img/a".into())),
            ("loop5".to_string(), "/img/b".into(), Some("/img/b".into())),
            (
                "loop6".to_string(),
                "/img/c".into(),
                Some("/img/other".into()),
            ),
        ]);
        let planned = prune(&fake, &None, true, Duration::ZERO).unwrap().steps;
        assert!(fake.events().iter().all(|e| e.starts_with("read")));
        let steps = prune(&fake, &None, false, Duration::ZERO).unwrap().steps;
        let actions = |steps: &[PruneStep]| -> Vec<(PruneAction, String)> {
            steps
                .iter()
                .map(|s| (s.action.clone(), s.name.clone()))
                .collect()
        };
        assert_eq!(actions(&planned), actions(&steps));
        assert_eq!(
            actions(&steps),
            [
                (PruneAction::Remove, "loop0p2".to_string()),
                (PruneAction::Skip, "loop0p3".to_string()),
                (PruneAction::Remove, "gone1".to_string()),
                (PruneAction::Keep, "/dev/loop0".to_string()),
                (PruneAction::Detach, "/dev/loop5".to_string()),
                (PruneAction::Forget, "/dev/loop6".to_string()),
            ]
        );
        assert_eq!(fake.map_names(), ["foreign", "loop0p1", "loop0p3"]);
        assert!(fake.events().contains(&"detach /dev/loop5".to_string()));
        assert!(!fake.events().iter().any(|e| e.contains("loop0 ")));
        // The parent is locked while its maps are removed; udev is waited for afterwards.
        let events = fake.events();
        let pos = |e: &str| {
            events
                .iter()
                .position(|x| x == e)
                .unwrap_or_else(|| panic!("no {e} in {events:?}"))
        };
        assert!(pos("lock b-7:0") < pos("remove loop0p2"), "{events:?}");
        assert!(pos("remove loop0p2") < pos("unlock b-7:0"), "{events:?}");
        assert!(pos("unlock b-7:0") < pos("settle"), "{events:?}");
    }

    #[test]
    fn prune_fails_without_touching_anything_when_a_parent_is_locked() {
        let mut fake = system();
        fake.held = vec!["b-7:0".into()];
        assert!(matches!(
            prune(&fake, &None, false, Duration::ZERO),
            Err(EngineError::Lock(..))
        ));
        assert_eq!(fake.map_names().len(), 5);
    }
}
