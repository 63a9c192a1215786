//! Helper mode (`kpartx --udev`): a udev RUN program that keeps a device's partition maps in
//! step with its events. Reads the event from the environment, consults the policy, decides
//! ([`decide`]), and runs the same core as the CLI with a bounded udev wait. Every outcome is
//! logged (journal when available); the exit status is 0 when nothing failed, 1 when a map
//! operation failed, 2 when the event itself was unusable.

pub mod decide;
pub mod del_parts;
pub mod event;
pub mod identity;
pub mod part_links;

use tracing::level_filters::LevelFilter;
use tracing::{debug, error, info, warn};

use std::ffi::OsStr;
use std::path::Path;

use crate::device::DevNum;
use crate::device::sysfs;
use crate::dm::Settled;
use crate::dm::cookie::UdevMode;
use crate::dm::kernel::Kernel;
use crate::dm::model::ExistingMap;
use crate::engine::outcome::StepResult;
use crate::engine::real::RealSystem;
use crate::engine::{
    self, EngineError, MapRequest, NoTable, Outcome, Record, System, UnmapRequest,
};
use crate::exit::Exit;
use crate::logging;
use crate::plan::{SkipReason, Step, WhenBusy};
use crate::policy::{DeviceFacts, EffectivePolicy, Policy};
use crate::render::action::{self as report, ActionKind};
use crate::resolve::Parent;
use decide::{Decision, PolicyVerdict};
use event::UdevEvent;
use kpartx_table::TypeFilter;
use kpartx_table::naming;
use kpartx_table::sector_size::SectorSize;

/// Whether helper mode acts or only shows what it would do (`--dry-run`, `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preview {
    /// Act.
    Off,
    /// Change nothing; print the plan as text on stdout.
    Text,
    /// Change nothing; print the plan as a JSON action report on stdout.
    Json,
}

/// Runs helper mode on the current process environment. `timeout` (`--udev-timeout`), when
/// given, overrides the policy's udev wait.
pub fn run(verbose: u8, timeout: Option<std::time::Duration>, preview: Preview) -> Exit {
    let (policy, policy_errors) = Policy::load_or_builtin();
    let parsed = event::from_process().map(|(event, env)| {
        let facts = device_facts(event.dev, |key| env.get(key).cloned());
        let mut effective = policy.evaluate(&facts);
        if let Some(timeout) = timeout {
            effective.udev_timeout = timeout;
        }
        (event, effective)
    });
    let base = parsed
        .as_ref()
        .map_or(LevelFilter::INFO, |(_, p)| p.log_level);
    logging::init(
        logging::Sink::JournalAndStderr,
        logging::level_for(base, verbose),
    );
    for err in &policy_errors {
        error!("{err}");
    }
    if !policy_errors.is_empty() {
        error!("policy is invalid; using the built-in safe defaults");
    }
    match parsed {
        Ok((event, effective)) => handle(&event, &effective, preview),
        Err(e) => {
            error!("ignoring malformed udev event: {e}");
            Exit::BadEvent
        }
    }
}

/// Acts on one parsed event; returns the exit status.
///
/// Nothing here waits for udev: the partition maps are created, loaded and resumed (or
/// removed) before this returns, each ioctl carrying the udev flags (udev, not kpartx, owns
/// the nodes), and their uevents are queued by then, so `udevadm settle` after the parent's
/// event also waits for theirs. Waiting inside a udev worker for other devices' events would
/// starve udev's bounded worker pool under an event storm. Two waits are left, each bounded:
/// for another kpartx working on the same device (the policy's `udev_timeout`), and for a
/// stale partition map that udev's blkid holds open for a moment (the policy's
/// `busy_timeout`, the run's [`crate::deadline::Deadline`]).
pub fn handle(event: &UdevEvent, policy: &EffectivePolicy, preview: Preview) -> Exit {
    let decision = decide::decide(event, verdict(policy));
    if let Decision::Ignore(why) = &decision {
        // Decided from the event and the policy alone: device-mapper is not even opened.
        return ignored(event, why, preview);
    }
    match Kernel::open(UdevMode::detect(false, policy.udev_timeout)) {
        Ok(kernel) => act(
            &RealSystem::new(kernel),
            event,
            policy,
            decision,
            identity::observe,
            preview,
        ),
        Err(e) if decision == Decision::Map => {
            error!(dev = %event.dev, "device-mapper is not available: {e}");
            if preview == Preview::Json {
                let message = format!("device-mapper is not available: {e}");
                crate::out::print(&report::error_report(
                    "device-mapper",
                    message,
                    Exit::Failed,
                ));
            }
            Exit::Failed
        }
        Err(_) => Exit::Ok,
    }
}

/// Carries out a map or unmap decision on `sys`; `observe` looks at the device the event
/// names (sysfs and its node) before anything is read from it.
pub fn act<S: System>(
    sys: &S,
    event: &UdevEvent,
    policy: &EffectivePolicy,
    decision: Decision,
    observe: impl FnOnce(&UdevEvent) -> identity::Observed,
    preview: Preview,
) -> Exit {
    let dry_run = preview != Preview::Off;
    let outcome = match decision {
        Decision::Ignore(why) => return ignored(event, &why, preview),
        Decision::Map => {
            let seen = observe(event);
            let path = match verified(event, &seen) {
                Ok(path) => path,
                Err(exit) => return exit,
            };
            let filter = policy
                .tables
                .clone()
                .map_or(TypeFilter::All, TypeFilter::Among);
            let req = MapRequest {
                device: path,
                expect: Some(event.dev),
                delimiter: policy.delimiter.as_deref().map(OsStr::new),
                read_only: policy.read_only,
                force_gpt: policy.force_gpt,
                filter: &filter,
                update: true,
                no_table: NoTable::Unmap,
                lock_timeout: policy.udev_timeout,
                busy_timeout: policy.busy_timeout,
                dry_run,
                sector_size: SectorSize::Auto,
                name: None,
                read_anyway: false,
                refuse_clashes: false,
                // The legacy feature counts like a policy that disables partitions.
                no_partitions_feature: Some(if policy.remove_on_change {
                    NoTable::Unmap
                } else {
                    NoTable::Leave
                }),
            };
            engine::map(sys, &req)
        }
        Decision::Unmap { reason, flush } => {
            info!(dev = %event.dev, "removing partition maps: {reason}");
            let req = UnmapRequest {
                force: false,
                when_busy: WhenBusy::RemoveUnused,
                flush,
                lock_timeout: policy.udev_timeout,
                // A map that udev's blkid holds for a moment is ridden out, within the
                // policy's busy_timeout; one held for longer (a mount) is reported.
                busy_timeout: policy.busy_timeout,
                dry_run,
            };
            engine::unmap_parent(sys, event_parent(event), req)
        }
    };
    match outcome {
        Ok(outcome) if dry_run => {
            let status = Exit::of_outcome(outcome.failures(), false);
            match preview {
                Preview::Json => crate::out::print(&report::to_json(&report::action_report(
                    ActionKind::Udev,
                    &outcome,
                    status,
                ))),
                _ => crate::out::print(&report::plan_text(&outcome)),
            }
            status
        }
        Ok(outcome) => log_outcome(event, &outcome),
        Err(EngineError::NotReady(_, state)) => {
            // The event that makes it readable again (a resume, a reinstated path) comes
            // through here too.
            info!(dev = %event.dev, "nothing to do now: the device is {state}; not read");
            Exit::Ok
        }
        Err(e @ EngineError::Changed(_)) => {
            error!(dev = %event.dev, "ignoring inconsistent udev event: {e}");
            Exit::BadEvent
        }
        Err(e) => {
            error!(dev = %event.dev, "{e}");
            Exit::Failed
        }
    }
}

/// The node of the device the event names, checked against the event (sysfs and the node
/// itself, as `seen`); otherwise logs why nothing is done and says how to exit: a device
/// that is gone is nothing to do, a mismatch is a bad event.
pub(crate) fn verified<'a>(
    event: &UdevEvent,
    seen: &'a identity::Observed,
) -> Result<&'a Path, Exit> {
    match identity::check(event, seen) {
        Ok(path) => Ok(path),
        Err(identity::Mismatch::Gone) => {
            info!(dev = %event.dev, "nothing to do: the device is gone");
            Err(Exit::Ok)
        }
        Err(e) => {
            error!(dev = %event.dev, "ignoring inconsistent udev event: {e}");
            Err(Exit::BadEvent)
        }
    }
}

/// An event that needs nothing done: logged, and a dry run still answers on stdout.
fn ignored(event: &UdevEvent, why: &str, preview: Preview) -> Exit {
    info!(dev = %event.dev, "nothing to do: {why}");
    if preview != Preview::Off {
        print_nothing(preview, &format!("nothing to do: {why}"));
    }
    Exit::Ok
}

/// A dry run that has nothing to plan still answers on stdout.
fn print_nothing(preview: Preview, why: &str) {
    match preview {
        Preview::Json => crate::out::print(&report::to_json(&report::NothingReport::new(why))),
        _ => crate::out::print(&format!("{why}\n")),
    }
}

fn verdict(policy: &EffectivePolicy) -> PolicyVerdict {
    PolicyVerdict {
        partitions_enabled: policy.partitions_enabled,
        remove_on_change: policy.remove_on_change,
    }
}

/// The facts policy rules match on, built one way for the helper (from the event) and for
/// `--show-policy` (from udev's database): the device's udev properties first, sysfs for
/// what they lack (kernel name, DM name and UUID), and a loop device's backing file.
pub fn device_facts(dev: DevNum, property: impl Fn(&str) -> Option<String>) -> DeviceFacts {
    let mut facts = DeviceFacts::from_udev_env(property);
    if facts.kernel_name.is_empty() {
        facts.kernel_name = sysfs::kernel_name(dev).unwrap_or_default();
    }
    if facts.dm_name.is_none() {
        facts.dm_name = sysfs::dm_name(dev);
    }
    if facts.dm_uuid.is_none() {
        facts.dm_uuid = sysfs::dm_uuid(dev);
    }
    if facts.kernel_name.starts_with("loop") {
        facts.backing_file = sysfs::loop_backing_file(&facts.kernel_name);
    }
    facts
}

/// The parent as the event describes it (its node may already be gone).
fn event_parent(event: &UdevEvent) -> Parent {
    Parent {
        path: event.devname.clone().unwrap_or_default().into(),
        dev: event.dev,
        name: event
            .dm_name
            .clone()
            .or_else(|| event.kernel_name())
            .unwrap_or_default()
            .into(),
        dm_uuid: event.dm_uuid.clone(),
        is_dm: event.dm_name.is_some(),
        read_only: false,
    }
}

/// Logs what happened; returns the exit status (1 when anything counted as a failure).
fn log_outcome(event: &UdevEvent, outcome: &Outcome) -> Exit {
    if outcome.no_partitions_feature {
        info!(
            dev = %event.dev,
            "the multipath table has the no_partitions feature: its partition table is not read"
        );
    }
    if let Some(found) = &outcome.found {
        for line in found.diagnostics.lines() {
            warn!("{}", line.trim());
        }
        if found.table.is_none() {
            info!(dev = %event.dev, "{}: no partition table", outcome.parent.path.display());
        }
    }
    for record in &outcome.records {
        log_record(record, &outcome.before);
    }
    match &outcome.udev {
        Err(e) => error!(dev = %event.dev, "{e}"),
        Ok(Settled::Unanswered(u)) => warn!(dev = %event.dev, "{u}"),
        Ok(_) => {}
    }
    Exit::of_outcome(outcome.failures(), false)
}

fn log_record(record: &Record, before: &[ExistingMap]) {
    match (&record.step, &record.result) {
        (Step::Create(s), StepResult::Mapped(dev)) => {
            info!(
                "created {} ({dev}): 0 {} linear {}",
                s.display,
                s.size,
                s.params()
            );
        }
        (Step::Reload(s), StepResult::Mapped(dev)) => {
            info!(
                "reloaded {} ({dev}): 0 {} linear {}",
                s.display,
                s.size,
                s.params()
            );
        }
        (Step::RenameReload { from, spec }, StepResult::Mapped(dev)) => info!(
            "renamed {} to {} ({dev}): 0 {} linear {}",
            naming::unmangle_dm_name(from),
            spec.display,
            spec.size,
            spec.params()
        ),
        (Step::Remove { display: name, .. }, StepResult::Removed) => info!("removed {name}"),
        (
            Step::Skip {
                display: name,
                reason,
            },
            _,
        ) if !record.failed() => {
            debug!("left {name}: {reason}");
        }
        (
            Step::Skip {
                display: name,
                reason: reason @ SkipReason::InUse { .. },
            },
            _,
        ) => warn!("left {name}: {reason}; {}", holders_text(name, before)),
        (
            Step::Skip {
                display: name,
                reason,
            },
            _,
        ) => warn!("left {name}: {reason}"),
        (step, StepResult::Failed(err)) => error!("{}: {err}", step_name(step)),
        _ => {}
    }
}

/// Who holds a busy map open, as far as sysfs tells (mounts and processes do not show).
/// `before` (the maps the run looked at) gives the map's device number.
fn holders_text(display: &str, before: &[ExistingMap]) -> String {
    let holders = naming::to_dm_name(display)
        .ok()
        .and_then(|name| before.iter().find(|m| m.name == name))
        .map(|map| sysfs::holders(map.dev))
        .unwrap_or_default();
    if holders.is_empty() {
        "held by a mount or a process (no device holds it)".to_string()
    } else {
        format!("held by {}", holders.join(", "))
    }
}

fn step_name(step: &Step) -> &str {
    match step {
        Step::Create(s) | Step::Reload(s) | Step::RenameReload { spec: s, .. } => &s.display,
        Step::Remove { display, .. } | Step::Skip { display, .. } => display,
    }
}

#[cfg(test)]
mod tests {
    use super::identity::{Node, Observed};
    use super::*;
    use crate::device::DevNum;
    use crate::testkit::fake::{FakeSystem, disk};
    use kpartx_table::Slice;
    use std::collections::HashMap;

    const UUID: &str = "mpath-3600a0b8";

    fn event(action: &str, devname: &str) -> UdevEvent {
        let env: HashMap<String, String> = [
            ("ACTION", action),
            ("MAJOR", "254"),
            ("MINOR", "0"),
            ("DEVNAME", devname),
            ("DM_NAME", "mpatha"),
            ("DM_UUID", UUID),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        UdevEvent::parse(&env).unwrap()
    }

    fn seen(node: Node) -> impl FnOnce(&UdevEvent) -> Observed {
        move |_| Observed {
            kernel_name: Some("dm-0".into()),
            path: "/dev/dm-0".into(),
            node,
            dm_name: Some("mpatha".into()),
            dm_uuid: Some(UUID.into()),
        }
    }

    /// A change event for mpatha, acted on as a map decision with `policy`.
    fn change_event(sys: &FakeSystem, policy: &EffectivePolicy) -> Exit {
        let e = event("change", "/dev/dm-0");
        act(
            sys,
            &e,
            policy,
            Decision::Map,
            seen(Node::Block(e.dev)),
            Preview::Off,
        )
    }

    fn system(slices: Option<Vec<Slice>>) -> FakeSystem {
        FakeSystem::new(vec![disk(
            "/dev/dm-0",
            DevNum::new(254, 0),
            Some(("mpatha", UUID)),
            slices,
        )])
    }

    fn policy() -> EffectivePolicy {
        Policy::builtin().evaluate(&DeviceFacts {
            kernel_name: "dm-0".into(),
            dm_name: Some("mpatha".into()),
            dm_uuid: Some(UUID.into()),
            ..DeviceFacts::default()
        })
    }

    #[test]
    fn a_change_event_maps_the_partitions_without_waiting_inside_the_worker() {
        let sys = system(Some(vec![Slice::new(2048, 100), Slice::new(4096, 100)]));
        let status = change_event(&sys, &policy());
        assert_eq!(status, Exit::Ok);
        assert_eq!(sys.map_names(), ["mpatha-part1", "mpatha-part2"]);
        let events = sys.events();
        assert_eq!(events.last().map(String::as_str), Some("settle"));
        assert!(
            events.iter().position(|x| x == "unlock b-254:0")
                < events.iter().position(|x| x == "settle")
        );
    }

    #[test]
    fn an_event_whose_node_is_another_device_does_nothing() {
        let sys = system(Some(vec![Slice::new(2048, 100)]));
        let e = event("change", "/dev/dm-0");
        let status = act(
            &sys,
            &e,
            &policy(),
            Decision::Map,
            seen(Node::Block(DevNum::new(7, 0))),
            Preview::Off,
        );
        assert_eq!(status, Exit::BadEvent);
        assert!(sys.events().is_empty());
    }

    #[test]
    fn a_vanished_table_removes_the_unused_maps_and_reports_the_busy_one() {
        let sys = system(None);
        sys.add_map(
            "mpatha-part1",
            Some(&format!("part1-{UUID}")),
            Some("254:0 2048"),
            0,
        );
        sys.add_map(
            "mpatha-part2",
            Some(&format!("part2-{UUID}")),
            Some("254:0 4096"),
            1,
        );
        let status = change_event(&sys, &policy());
        assert_eq!(status, Exit::Failed);
        assert_eq!(sys.map_names(), ["mpatha-part2"]);
    }

    #[test]
    fn a_remove_event_tears_down_without_reading_the_device() {
        let sys = system(Some(vec![Slice::new(2048, 100)]));
        sys.add_map(
            "mpatha-part1",
            Some(&format!("part1-{UUID}")),
            Some("254:0 2048"),
            0,
        );
        sys.add_map("vg-lv", Some("LVM-x"), Some("254:0 4096"), 0);
        let e = event("remove", "/dev/dm-0");
        let decision = decide::decide(&e, verdict(&policy()));
        assert!(matches!(decision, Decision::Unmap { .. }));
        let status = act(
            &sys,
            &e,
            &policy(),
            decision,
            |_| unreachable!("no device read on remove"),
            Preview::Off,
        );
        assert_eq!(status, Exit::Ok);
        assert_eq!(sys.map_names(), ["vg-lv"]);
        assert!(!sys.events().iter().any(|x| x.starts_with("read")));
    }

    #[test]
    fn a_dry_run_plans_and_changes_nothing() {
        let sys = system(Some(vec![Slice::new(2048, 100), Slice::new(4096, 100)]));
        let e = event("change", "/dev/dm-0");
        let status = act(
            &sys,
            &e,
            &policy(),
            Decision::Map,
            seen(Node::Block(e.dev)),
            Preview::Text,
        );
        assert_eq!(status, Exit::Ok);
        assert!(sys.map_names().is_empty());
        assert!(
            !sys.events()
                .iter()
                .any(|x| x.starts_with("create") || x == "settle")
        );
    }

    #[test]
    fn a_held_lock_fails_the_event_and_changes_nothing() {
        let mut sys = system(Some(vec![Slice::new(2048, 100)]));
        sys.held = vec!["b-254:0".into()];
        let status = change_event(&sys, &policy());
        assert_eq!(status, Exit::Failed);
        assert!(sys.map_names().is_empty());
    }

    #[test]
    fn a_map_event_takes_one_look_at_device_mapper() {
        let sys = system(Some(vec![Slice::new(2048, 100), Slice::new(4096, 100)]));
        for _ in 0..300 {
            sys.add_map("unrelated", Some("LVM-x"), Some("8:0 0"), 0);
        }
        let status = change_event(&sys, &policy());
        assert_eq!(status, Exit::Ok);
        assert_eq!(sys.looks.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn the_legacy_no_partitions_feature_is_seen_under_the_lock_without_reading_the_table() {
        for remove in [true, false] {
            let mut sys = system(Some(vec![Slice::new(2048, 100)]));
            sys.no_partitions = vec![DevNum::new(254, 0)];
            sys.add_map(
                "mpatha-part1",
                Some(&format!("part1-{UUID}")),
                Some("254:0 2048"),
                0,
            );
            let mut p = policy();
            p.remove_on_change = remove;
            let status = change_event(&sys, &p);
            assert_eq!(status, Exit::Ok);
            assert!(!sys.events().iter().any(|x| x.starts_with("read")));
            let left: &[&str] = if remove { &[] } else { &["mpatha-part1"] };
            assert_eq!(sys.map_names(), left, "remove_on_change = {remove}");
        }
    }
}
