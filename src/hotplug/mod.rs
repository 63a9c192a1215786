//! Helper mode (`kpartx --udev`): a udev RUN program that keeps a device's partition maps in
//! step with its events. Reads the event from the environment, consults the policy, decides
//! ([`decide`]), and runs the same core as the CLI with a bounded udev wait. Every outcome is
//! logged (journal when available); the exit status is 0 when nothing failed, 1 when a map
//! operation failed, 2 when the event itself was unusable.

pub mod decide;
pub mod del_parts;
pub mod event;
pub mod id;
pub mod identity;

use std::collections::HashMap;
use std::path::Path;

use tracing::level_filters::LevelFilter;
use tracing::{debug, error, info, warn};

use crate::apply::StepResult;
use crate::device::sysfs;
use crate::dm::MapOps;
use crate::dm::cookie::UdevMode;
use crate::dm::kernel::Kernel;
use crate::dm::nodes::NodeOwner;
use crate::lock;
use crate::logging;
use crate::mapping::{self, Executed, MapOutcome, MapRequest};
use crate::naming::{self, DevNum};
use crate::plan::{SkipReason, Step, WhenBusy};
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
///
/// Nothing here waits for udev: the partition maps are created, loaded and resumed (or
/// removed) before this returns, each ioctl carrying the udev flags (udev, not kpartx, owns
/// the nodes), and their uevents are queued by then, so `udevadm settle` after the parent's
/// event also waits for theirs. Waiting inside a udev worker for other devices' events would
/// starve udev's bounded worker pool under an event storm. The only wait left, for another
/// kpartx working on the same device, is bounded by the policy's `udev_timeout`.
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
    let mut kernel = match Kernel::open(UdevMode::detect(false, policy.udev_timeout)) {
        Ok(kernel) => kernel,
        Err(e) if decision == Decision::Map => {
            error!(dev = %event.dev, "device-mapper is not available: {e}");
            return 1;
        }
        Err(_) => return 0,
    };
    if decision == Decision::Map && legacy_no_partitions(&kernel, event.dev) {
        decision = decide::decide(event, verdict, true);
    }
    let path = match &decision {
        Decision::Map => match verified_node(event) {
            Ok(path) => path,
            Err(status) => return status,
        },
        _ => String::new(),
    };
    let lock = match lock::acquire(&lock::device_key(event.dev), policy.udev_timeout) {
        Ok(l) => l,
        Err(e) => {
            error!(dev = %event.dev, "cannot lock the device: {e}");
            return 1;
        }
    };
    let status = match decision {
        Decision::Map => map(&mut kernel, event, &path, policy),
        Decision::Unmap { reason, flush } => {
            info!(dev = %event.dev, "removing partition maps: {reason}");
            unmap(&kernel, event, flush)
        }
        Decision::Ignore(_) => 0,
    };
    drop(lock);
    match kernel.settle() {
        Ok(()) => status,
        Err(e) => {
            error!(dev = %event.dev, "{e}");
            1
        }
    }
}

/// The node to read for a map decision, after checking the event against the device its
/// `MAJOR:MINOR` names; the exit status when it cannot be used.
fn verified_node(event: &UdevEvent) -> Result<String, i32> {
    let seen = identity::observe(event);
    match identity::check(event, &seen) {
        Ok(path) => Ok(path.to_string_lossy().into_owned()),
        Err(identity::Mismatch::Gone) => {
            info!(dev = %event.dev, "nothing to do: the device is gone");
            Err(0)
        }
        Err(e) => {
            error!(dev = %event.dev, "ignoring inconsistent udev event: {e}");
            Err(EXIT_BAD_EVENT)
        }
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

fn map(kernel: &mut Kernel, event: &UdevEvent, path: &str, policy: &EffectivePolicy) -> i32 {
    let purpose = Purpose::Map {
        read_only: policy.read_only,
    };
    let resolved = match target::resolve(path, purpose) {
        Ok(r) if r.image.is_none() && r.parent.dev == event.dev => r,
        Ok(_) => {
            error!(dev = %event.dev, "ignoring inconsistent udev event: {path} changed under it");
            return EXIT_BAD_EVENT;
        }
        Err(e) => {
            error!(dev = %event.dev, "{path}: {e}");
            return 1;
        }
    };
    kernel.set_node_owner(NodeOwner::of(Path::new(path)));
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
    match mapping::unmap_partitions(kernel, &info, flush, WhenBusy::RemoveUnused) {
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
                SkipReason::InUse { .. } => {
                    warn!("left {name}: {reason}; {}", holders_text(name));
                    failures += 1;
                }
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

/// Who holds a busy map open, as far as sysfs tells (mounts and processes do not show).
fn holders_text(display: &str) -> String {
    let holders = naming::to_dm_name(display)
        .ok()
        .map(|name| sysfs::dm_holders(&name))
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
