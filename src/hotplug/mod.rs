//! Helper mode (`kpartx --udev`): a udev RUN program that keeps a device's partition maps in
//! step with its events. Reads the event from the environment, consults the policy, decides
//! ([`decide`]), and runs the same core as the CLI with a bounded udev wait. Every outcome is
//! logged (journal when available); the exit status is 0 when nothing failed, 1 when a map
//! operation failed, 2 when the event itself was unusable.

pub mod decide;
pub mod event;
pub mod id;

use std::collections::HashMap;
use std::path::Path;

use tracing::level_filters::LevelFilter;
use tracing::{debug, error, info, warn};

use crate::apply::StepResult;
use crate::device::sysfs;
use crate::dm::cookie::UdevMode;
use crate::dm::kernel::Kernel;
use crate::dm::nodes::NodeOwner;
use crate::lock;
use crate::logging;
use crate::mapping::{self, Executed, MapOutcome, MapRequest};
use crate::naming::{self, DevNum};
use crate::plan::{SkipReason, Step};
use crate::policy::{DeviceFacts, EffectivePolicy, Policy};
use crate::table::TypeFilter;
use crate::target::{self, Parent, Purpose};
use decide::{Decision, PolicyVerdict};
use event::UdevEvent;

/// Exit status for an event that could not be understood.
pub const EXIT_BAD_EVENT: i32 = 2;

/// Runs helper mode on the current process environment. `timeout` (`--udev-timeout`), when
/// given, overrides the policy's udev wait.
pub fn run(verbose: u8, timeout: Option<std::time::Duration>) -> i32 {
    let env = event::environment(std::env::vars_os());
    let (policy, policy_errors) = Policy::load_or_builtin();
    let parsed = env.and_then(|env| Ok((UdevEvent::parse(&env)?, env)));
    let parsed = parsed.map(|(event, env)| {
        let mut effective = policy.evaluate(&device_facts(&env, &event));
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
        Ok((event, effective)) => handle(&event, &effective),
        Err(e) => {
            error!("ignoring malformed udev event: {e}");
            EXIT_BAD_EVENT
        }
    }
}

/// Acts on one parsed event; returns the exit status.
pub fn handle(event: &UdevEvent, policy: &EffectivePolicy) -> i32 {
    let verdict = PolicyVerdict {
        partitions_enabled: policy.partitions_enabled,
        remove_on_change: policy.remove_on_change,
    };
    let mut decision = decide::decide(event, verdict, false);
    if let Decision::Ignore(why) = &decision {
        info!(dev = %event.dev, "nothing to do: {why}");
        return 0;
    }
    let Some(mut kernel) = Kernel::open(UdevMode::detect(true, policy.udev_timeout)) else {
        return match decision {
            Decision::Map => {
                error!(dev = %event.dev, "device-mapper is not available (is dm-mod loaded?)");
                1
            }
            _ => 0,
        };
    };
    if decision == Decision::Map && legacy_no_partitions(&kernel, event.dev) {
        decision = decide::decide(event, verdict, true);
    }
    let _lock = match lock::acquire(&lock::device_key(event.dev), lock::LOCK_TIMEOUT) {
        Ok(l) => l,
        Err(e) => {
            error!(dev = %event.dev, "cannot lock the device: {e}");
            return 1;
        }
    };
    match decision {
        Decision::Map => map(&mut kernel, event, policy),
        Decision::Unmap { reason, flush } => {
            info!(dev = %event.dev, "removing partition maps: {reason}");
            unmap(&kernel, event, flush)
        }
        Decision::Ignore(_) => 0,
    }
}

/// The facts policy rules match on: the event's properties plus, for loop devices, the
/// backing file from sysfs.
pub fn device_facts(env: &HashMap<String, String>, event: &UdevEvent) -> DeviceFacts {
    let mut facts = DeviceFacts::from_udev_env(|key| env.get(key).cloned());
    if facts.kernel_name.is_empty() {
        facts.kernel_name = sysfs::kernel_name(event.dev).unwrap_or_default();
    }
    if facts.kernel_name.starts_with("loop") {
        facts.backing_file = sysfs::loop_backing_file(&facts.kernel_name);
    }
    facts
}

fn legacy_no_partitions(kernel: &Kernel, dev: DevNum) -> bool {
    let Ok(maps) = kernel.snapshot() else {
        return false;
    };
    maps.iter()
        .filter(|m| m.dev == dev)
        .flat_map(|m| m.targets.first())
        .any(|t| t.kind == "multipath" && decide::has_no_partitions_feature(&t.params))
}

fn device_path(event: &UdevEvent) -> Option<String> {
    event
        .devname
        .clone()
        .filter(|p| Path::new(p).exists())
        .or_else(|| sysfs::kernel_name(event.dev).map(|k| format!("/dev/{k}")))
}

fn map(kernel: &mut Kernel, event: &UdevEvent, policy: &EffectivePolicy) -> i32 {
    let Some(path) = device_path(event) else {
        error!(dev = %event.dev, "the device has no node to read");
        return 1;
    };
    let purpose = Purpose::Map {
        read_only: policy.read_only,
    };
    let resolved = match target::resolve(&path, purpose) {
        Ok(r) => r,
        Err(e) => {
            error!(dev = %event.dev, "{path}: {e}");
            return 1;
        }
    };
    kernel.set_node_owner(NodeOwner::of(Path::new(&path)));
    let filter = policy
        .tables
        .clone()
        .map_or(TypeFilter::All, TypeFilter::Among);
    let req = MapRequest {
        delimiter: policy.delimiter.as_deref().map(std::ffi::OsStr::new),
        read_only: policy.read_only,
        force_gpt: policy.force_gpt,
        filter: &filter,
        update: true,
    };
    match mapping::map_partitions(kernel, &resolved, &req) {
        MapOutcome::Failed(e) => {
            error!(dev = %event.dev, "{e}");
            1
        }
        MapOutcome::NoTable(found) => {
            log_diagnostics(found.diagnostics.lines());
            info!(dev = %event.dev, "{path}: no partition table");
            unmap(kernel, event, true)
        }
        MapOutcome::Done(found, done) => {
            log_diagnostics(found.diagnostics.lines());
            i32::from(log_steps(&done) > 0)
        }
    }
}

fn unmap(kernel: &Kernel, event: &UdevEvent, flush: bool) -> i32 {
    let info = mapping::parent_info(&event_parent(event), true);
    match mapping::unmap_partitions(kernel, &info, flush) {
        Ok(done) => i32::from(log_steps(&done) > 0),
        Err(e) => {
            error!(dev = %event.dev, "{e}");
            1
        }
    }
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
    }
}

fn log_diagnostics(lines: &[String]) {
    for line in lines {
        warn!("{}", line.trim());
    }
}

/// Logs each step's outcome; returns the number of failures.
fn log_steps(done: &Executed) -> usize {
    let mut failures = 0;
    for (step, result) in done.plan.steps.iter().zip(&done.results) {
        match (step, result) {
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
            ) => match reason {
                SkipReason::NotLinear | SkipReason::NotOurs => debug!("left {name}: {reason}"),
                _ => {
                    warn!("left {name}: {reason}");
                    failures += 1;
                }
            },
            (_, StepResult::Failed(err)) => {
                error!("{}: {err}", step_name(step));
                failures += 1;
            }
            _ => {}
        }
    }
    failures
}

fn step_name(step: &Step) -> &str {
    match step {
        Step::Create(s) | Step::Reload(s) | Step::RenameReload { spec: s, .. } => &s.display,
        Step::Remove { display, .. } | Step::Skip { display, .. } => display,
    }
}
