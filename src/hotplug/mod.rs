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

use std::ffi::OsStr;
use std::path::Path;

use crate::device::DevNum;
use crate::dm::Settled;
use crate::dm::cookie::UdevMode;
use crate::dm::kernel::Kernel;
use crate::dm::model::ExistingMap;
use crate::dm::types::DisplayName;
use crate::engine::outcome::StepResult;
use crate::engine::real::{RealDevices, RealSystem};
use crate::engine::{
    self, Devices, EngineError, MapRequest, NoTable, Outcome, Record, System, UnmapRequest,
};
use crate::exit::Exit;
use crate::logging;
use crate::out::Printer;
use crate::plan::{SkipReason, Step, WhenBusy};
use crate::policy::{DeviceFacts, EffectivePolicy, Policy};
use crate::render::action::{self as report, ActionKind};
use crate::render::step::{Tense, step_text};
use crate::resolve::Parent;
use decide::{Decision, PolicyVerdict};
use event::UdevEvent;
use kpartx_table::TypeFilter;
use kpartx_table::sector_size::SectorSize;

/// Logs one record through a [`Printer`]: `hlog!(p, INFO, dev, "format", args…)`, `dev` an
/// `Option<DevNum>`.
macro_rules! hlog {
    ($p:expr, $level:ident, $dev:expr, $($arg:tt)*) => {
        $p.log(tracing::Level::$level, $dev, &format!($($arg)*))
    };
}

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

/// Runs helper mode on the current process environment, printing and logging through `p`.
/// `timeout` (`--udev-timeout`), when given, overrides the policy's udev wait.
pub fn run(
    verbose: u8,
    timeout: Option<std::time::Duration>,
    preview: Preview,
    p: &mut dyn Printer,
) -> Exit {
    let (policy, policy_errors) = Policy::load_or_builtin();
    let parsed = event::from_process().map(|(event, env)| {
        let facts = device_facts(&RealDevices, event.dev, |key| env.get(key).cloned());
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
        hlog!(p, ERROR, None, "{err}");
    }
    if !policy_errors.is_empty() {
        hlog!(
            p,
            ERROR,
            None,
            "policy is invalid; using the built-in safe defaults"
        );
    }
    match parsed {
        Ok((event, effective)) => handle(&event, &effective, preview, p),
        Err(e) => {
            hlog!(p, ERROR, None, "ignoring malformed udev event: {e}");
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
pub fn handle(
    event: &UdevEvent,
    policy: &EffectivePolicy,
    preview: Preview,
    p: &mut dyn Printer,
) -> Exit {
    let decision = decide::decide(event, verdict(policy), || {
        !RealDevices.holders(event.dev).is_empty()
    });
    if let Decision::Ignore(why) = &decision {
        // Decided from the event and the policy alone: device-mapper is not even opened.
        return ignored(event, why, preview, p);
    }
    match Kernel::open(UdevMode::detect(false, policy.udev_timeout)) {
        Ok(kernel) => act(
            &RealSystem::new(kernel),
            event,
            policy,
            decision,
            identity::observe,
            preview,
            p,
        ),
        Err(e) if decision == Decision::Map => {
            let dev = Some(event.dev);
            hlog!(p, ERROR, dev, "device-mapper is not available: {e}");
            if preview == Preview::Json {
                let message = format!("device-mapper is not available: {e}");
                p.out(&report::error_report(
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
    p: &mut dyn Printer,
) -> Exit {
    let dry_run = preview != Preview::Off;
    let dev = Some(event.dev);
    let outcome = match decision {
        Decision::Ignore(why) => return ignored(event, &why, preview, p),
        Decision::Map => {
            let seen = observe(event);
            let path = match verified(event, &seen, p) {
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
            hlog!(p, INFO, dev, "removing partition maps: {reason}");
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
                Preview::Json => p.out(&report::to_json(&report::action_report(
                    ActionKind::Udev,
                    &outcome,
                    status,
                ))),
                _ => p.out(&report::plan_text(&outcome)),
            }
            status
        }
        Ok(outcome) => log_outcome(sys, event, &outcome, p),
        Err(EngineError::NotReady(_, state)) => {
            // The event that makes it readable again (a resume, a reinstated path) comes
            // through here too.
            hlog!(
                p,
                INFO,
                dev,
                "nothing to do now: the device is {state}; not read"
            );
            Exit::Ok
        }
        Err(e @ EngineError::Changed(_)) => {
            hlog!(p, ERROR, dev, "ignoring inconsistent udev event: {e}");
            Exit::BadEvent
        }
        Err(e) => {
            hlog!(p, ERROR, dev, "{e}");
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
    p: &mut dyn Printer,
) -> Result<&'a Path, Exit> {
    let dev = Some(event.dev);
    match identity::check(event, seen) {
        Ok(path) => Ok(path),
        Err(identity::Mismatch::Gone) => {
            hlog!(p, INFO, dev, "nothing to do: the device is gone");
            Err(Exit::Ok)
        }
        Err(e) => {
            hlog!(p, ERROR, dev, "ignoring inconsistent udev event: {e}");
            Err(Exit::BadEvent)
        }
    }
}

/// An event that needs nothing done: logged, and a dry run still answers on stdout.
fn ignored(event: &UdevEvent, why: &str, preview: Preview, p: &mut dyn Printer) -> Exit {
    hlog!(p, INFO, Some(event.dev), "nothing to do: {why}");
    let why = format!("nothing to do: {why}");
    match preview {
        Preview::Off => {}
        Preview::Json => p.out(&report::to_json(&report::NothingReport::new(&why))),
        Preview::Text => crate::pout!(p, "{why}"),
    }
    Exit::Ok
}

fn verdict(policy: &EffectivePolicy) -> PolicyVerdict {
    PolicyVerdict {
        partitions_enabled: policy.partitions_enabled,
        remove_on_change: policy.remove_on_change,
    }
}

/// The facts policy rules match on, built one way for the helper (from the event) and for
/// `--show-policy` (from udev's database): the device's udev properties first, what
/// `devices` knows of device `dev` for what they lack (kernel name, DM name and UUID), and a
/// loop device's backing file.
pub fn device_facts<D: Devices>(
    devices: &D,
    dev: DevNum,
    property: impl Fn(&str) -> Option<String>,
) -> DeviceFacts {
    let mut facts = DeviceFacts::from_udev_env(property);
    // udev's properties usually have them all: the devices are asked only for what they lack.
    let lacking =
        facts.kernel_name.is_empty() || facts.dm_name.is_none() || facts.dm_uuid.is_none();
    let known = lacking.then(|| devices.device_by_number(dev)).flatten();
    if facts.kernel_name.is_empty()
        && let Some(name) = known.as_ref().and_then(|d| d.path.file_name())
    {
        facts.kernel_name = name.to_string_lossy().into_owned();
    }
    let dm = known.filter(|d| d.is_dm);
    if facts.dm_name.is_none() {
        facts.dm_name = dm.as_ref().map(|d| d.name.to_string_lossy().into_owned());
    }
    if facts.dm_uuid.is_none() {
        facts.dm_uuid = dm.and_then(|d| d.dm_uuid);
    }
    if facts.kernel_name.starts_with("loop") {
        facts.backing_file = devices.loop_backing(&facts.kernel_name);
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
fn log_outcome<S: System>(
    sys: &S,
    event: &UdevEvent,
    outcome: &Outcome,
    p: &mut dyn Printer,
) -> Exit {
    let dev = Some(event.dev);
    if outcome.no_partitions_feature {
        hlog!(
            p,
            INFO,
            dev,
            "the multipath table has the no_partitions feature: its partition table is not read"
        );
    }
    if let Some(found) = &outcome.found {
        for line in found.diagnostics.lines() {
            hlog!(p, WARN, dev, "{}", line.trim());
        }
        if found.table.is_none() {
            let path = outcome.parent.path.display();
            hlog!(p, INFO, dev, "{path}: no partition table");
        }
    }
    for record in &outcome.records {
        log_record(sys, record, &outcome.before, p);
    }
    match &outcome.udev {
        Err(e) => hlog!(p, ERROR, dev, "{e}"),
        Ok(Settled::Unanswered(u)) => hlog!(p, WARN, dev, "{u}"),
        Ok(_) => {}
    }
    Exit::of_outcome(outcome.failures(), false)
}

/// One record of what a step did ([`step_text`]), at the level it deserves; a map left
/// because it is open names what holds it.
fn log_record<S: System>(sys: &S, record: &Record, before: &[ExistingMap], p: &mut dyn Printer) {
    let text = step_text(record, Tense::Done);
    match (&record.step, &record.result) {
        (_, StepResult::Failed(_)) => hlog!(p, ERROR, None, "{text}"),
        (Step::Skip { .. } | Step::Keep { .. }, _) if !record.failed() => {
            hlog!(p, DEBUG, None, "{text}")
        }
        (
            Step::Skip {
                display,
                reason: SkipReason::InUse { .. },
            },
            _,
        ) => hlog!(
            p,
            WARN,
            None,
            "{text}; {}",
            holders_text(sys, display, before)
        ),
        (Step::Skip { .. }, _) => hlog!(p, WARN, None, "{text}"),
        (_, StepResult::Mapped(_) | StepResult::Removed) => hlog!(p, INFO, None, "{text}"),
        _ => {}
    }
}

/// Who holds a busy map open, as far as the kernel's holders tell (mounts and processes do
/// not show). `before` (the maps the run looked at) gives the map's device number.
fn holders_text<S: System>(sys: &S, display: &DisplayName, before: &[ExistingMap]) -> String {
    let holders = display
        .to_map_name()
        .ok()
        .and_then(|name| before.iter().find(|m| m.name == name))
        .map(|map| sys.devices().holders(map.dev))
        .unwrap_or_default();
    if holders.is_empty() {
        "held by a mount or a process (no device holds it)".to_string()
    } else {
        format!("held by {}", holders.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::identity::{Node, Observed};
    use super::*;
    use crate::device::DevNum;
    use crate::out::Captured;
    use crate::render::action::tests::assert_valid;
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
        change_event_as(sys, policy, Preview::Off).0
    }

    /// A change event for mpatha with `preview`: the status and what was printed and logged.
    fn change_event_as(
        sys: &FakeSystem,
        policy: &EffectivePolicy,
        preview: Preview,
    ) -> (Exit, Captured) {
        let e = event("change", "/dev/dm-0");
        let mut p = Captured::default();
        let status = act(
            sys,
            &e,
            policy,
            Decision::Map,
            seen(Node::Block(e.dev)),
            preview,
            &mut p,
        );
        (status, p)
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
            &mut Captured::default(),
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
        let mut policy = policy();
        policy.busy_timeout = std::time::Duration::from_millis(300);
        let (status, p) = change_event_as(&sys, &policy, Preview::Off);
        assert_eq!(status, Exit::Failed);
        assert_eq!(sys.map_names(), ["mpatha-part2"]);
        assert_eq!(
            p.log,
            [
                "INFO /dev/dm-0: no partition table",
                "INFO removed mpatha-part1",
                "WARN left mpatha-part2: in use (open count 1), not removed; \
                 held by a mount or a process (no device holds it)",
            ]
        );
    }

    #[test]
    fn a_change_event_logs_each_map_it_made() {
        let sys = system(Some(vec![Slice::new(2048, 100), Slice::new(4096, 100)]));
        let (status, p) = change_event_as(&sys, &policy(), Preview::Off);
        assert_eq!(status, Exit::Ok);
        assert_eq!(
            p.log,
            [
                "INFO created mpatha-part1 (253:0): 0 100 linear 254:0 2048",
                "INFO created mpatha-part2 (253:1): 0 100 linear 254:0 4096",
            ]
        );
        assert_eq!((p.stdout(), p.stderr.as_str()), (String::new(), ""));
    }

    #[test]
    fn a_failed_map_and_an_unanswered_cookie_are_logged() {
        let mut sys = system(Some(vec![Slice::new(2048, 100)]));
        sys.failing = vec!["mpatha-part1".into()];
        sys.settle_unanswered = Some(crate::dm::Unanswered {
            events: 1,
            cookie: 0x0d4d_0001,
            reach: crate::dm::unanswered::Reach::Unseen,
        });
        let (status, p) = change_event_as(&sys, &policy(), Preview::Off);
        assert_eq!(status, Exit::Failed);
        assert_eq!(p.log.len(), 2, "{:?}", p.log);
        assert!(p.log[0].starts_with("ERROR mpatha-part1: "), "{:?}", p.log);
        assert!(
            p.log[1].starts_with("WARN udev processed the 1 device-mapper event(s)"),
            "{:?}",
            p.log
        );
    }

    #[test]
    fn a_dry_run_prints_its_plan_as_text_or_json_and_logs_nothing_done() {
        let sys = system(Some(vec![Slice::new(2048, 100)]));
        sys.add_map(
            "mpatha-part3",
            Some(&format!("part3-{UUID}")),
            Some("254:0 9000"),
            0,
        );
        let (status, p) = change_event_as(&sys, &policy(), Preview::Text);
        assert_eq!(status, Exit::Ok);
        assert_eq!(
            p.stdout(),
            "would create mpatha-part1 (uuid part1-mpath-3600a0b8): 0 100 linear 254:0 2048\n\
             would remove mpatha-part3\n"
        );
        assert!(p.log.is_empty(), "{:?}", p.log);
        let (status, p) = change_event_as(&sys, &policy(), Preview::Json);
        assert_eq!(status, Exit::Ok);
        assert_valid("kpartx-action.schema.json", &p.stdout());
        let doc: serde_json::Value = serde_json::from_str(&p.stdout()).unwrap();
        assert_eq!(doc["action"], "udev");
        assert_eq!(doc["dry_run"], true);
        assert_eq!(doc["maps"][0]["action"], "create");
        assert_eq!(doc["maps"][1]["action"], "remove");
        assert_eq!(doc["udev"]["wait"], "none");
        assert_eq!(sys.map_names(), ["mpatha-part3"]);
    }

    #[test]
    fn an_ignored_event_answers_a_dry_run_and_logs_why() {
        let sys = system(None);
        let e = event("change", "/dev/dm-0");
        for (preview, out) in [
            (Preview::Off, ""),
            (Preview::Text, "nothing to do: testing\n"),
        ] {
            let mut p = Captured::default();
            let decision = Decision::Ignore("testing".into());
            let status = act(
                &sys,
                &e,
                &policy(),
                decision,
                seen(Node::Missing),
                preview,
                &mut p,
            );
            assert_eq!(status, Exit::Ok);
            assert_eq!(p.stdout(), out);
            assert_eq!(p.log, ["INFO nothing to do: testing"]);
        }
        let mut p = Captured::default();
        let decision = Decision::Ignore("testing".into());
        act(
            &sys,
            &e,
            &policy(),
            decision,
            seen(Node::Missing),
            Preview::Json,
            &mut p,
        );
        let doc: serde_json::Value = serde_json::from_str(&p.stdout()).unwrap();
        assert!(doc.to_string().contains("nothing to do: testing"), "{doc}");
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
        let decision = decide::decide(&e, verdict(&policy()), || true);
        assert!(matches!(decision, Decision::Unmap { .. }));
        let status = act(
            &sys,
            &e,
            &policy(),
            decision,
            |_| unreachable!("no device read on remove"),
            Preview::Off,
            &mut Captured::default(),
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
            &mut Captured::default(),
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
