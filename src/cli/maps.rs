//! `-a`, `-u` and `-d`: plan, execute, report in the reference's words.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::args::Options;
use super::list::{detach, print_diagnostics, report_resolve_error};
use crate::apply::StepResult;
use crate::dm::kernel::Kernel;
use crate::dm::nodes::NodeOwner;
use crate::dm::{MapOps, OpError, Stage};
use crate::lock::{self, Lock};
use crate::mapping::{self, MapOutcome, MapRequest};
use crate::plan::{Plan, SkipReason, Step, WhenBusy};
use crate::target::{self, Parent, Purpose, Resolved};

/// `-a` (`update == false`) or `-u`: returns the exit status (number of failures, at most 255).
pub fn add(opts: &Options, mut kernel: Kernel, device: &Path, update: bool) -> i32 {
    let Ok(_arg_lock) = lock_argument(device) else {
        return 1;
    };
    let purpose = Purpose::Map {
        read_only: opts.read_only,
    };
    let resolved = match target::resolve(device, purpose) {
        Ok(r) => r,
        Err(e) => return report_resolve_error(&e),
    };
    let Ok(dev_lock) = lock_device(&resolved.parent) else {
        release_created(opts, &resolved);
        return 1;
    };
    kernel.set_node_owner(NodeOwner::of(resolved.parent.path.as_ref()));
    let (failures, mapped) = add_maps(opts, &kernel, &resolved, update);
    drop(dev_lock);
    let failures = failures + usize::from(!settle(&kernel));
    if mapped == 0 {
        release_created(opts, &resolved);
    }
    failures.min(255) as i32
}

/// Waits for udev to finish with this run's maps (after the device lock is released, so that
/// the udev helper never waits for it while udev works); false, with a message, when it did
/// not. The image lock stays: it only serialises runs on the same image file.
fn settle(kernel: &Kernel) -> bool {
    match kernel.settle() {
        Ok(()) => true,
        Err(e) => {
            crate::errln!("kpartx: {e}");
            false
        }
    }
}

/// Maps the partitions; returns (failures counted for the exit status, maps in place).
fn add_maps(opts: &Options, kernel: &Kernel, resolved: &Resolved, update: bool) -> (usize, usize) {
    let req = MapRequest {
        delimiter: opts.delimiter.as_deref(),
        read_only: opts.read_only,
        force_gpt: opts.force_gpt,
        filter: &opts.filter,
        update,
    };
    match mapping::map_partitions(kernel, resolved, &req) {
        MapOutcome::Failed(e) => {
            crate::errln!("kpartx: {e}");
            (1, 0)
        }
        MapOutcome::NoTable(found) => {
            print_diagnostics(&found);
            (0, 0)
        }
        MapOutcome::Done(found, done) => {
            print_diagnostics(&found);
            announce_renames(opts, &done.plan);
            let failures = report(opts, &done.plan, &done.results, &resolved.parent.path);
            (failures, done.mapped())
        }
    }
}

/// `-d`: returns the exit status.
pub fn delete(opts: &Options, kernel: Kernel, device: &Path) -> i32 {
    let Ok(_arg_lock) = lock_argument(device) else {
        return 1;
    };
    let resolved = match target::resolve(device, Purpose::Delete) {
        Ok(r) => r,
        Err(e) => return report_resolve_error(&e),
    };
    let Ok(dev_lock) = lock_device(&resolved.parent) else {
        return 1;
    };
    let info = mapping::parent_info(&resolved.parent, !opts.force);
    let done = match mapping::unmap_partitions(&kernel, &info, true, WhenBusy::RemoveNone) {
        Ok(done) => done,
        Err(e) => {
            crate::errln!("kpartx: {e}");
            return 1;
        }
    };
    drop(dev_lock);
    let failed = report(opts, &done.plan, &done.results, &resolved.parent.path) > 0;
    let failed = !settle(&kernel) || failed;
    match &resolved.image {
        Some(image) if !failed => i32::from(!detach(opts, image)),
        _ => i32::from(failed),
    }
}

/// Locks an image file argument by inode, so that two runs on the same image cannot both
/// attach a loop. Block devices are locked by [`lock_device`] once resolved (taking the same
/// key twice would make a run wait for itself).
fn lock_argument(device: &Path) -> Result<Option<Lock>, ()> {
    match fs::metadata(device) {
        Ok(m) if m.is_file() => take(&format!("f-{}-{}", m.dev(), m.ino())).map(Some),
        _ => Ok(None),
    }
}

fn lock_device(parent: &Parent) -> Result<Lock, ()> {
    take(&lock::device_key(parent.dev))
}

fn take(key: &str) -> Result<Lock, ()> {
    lock::acquire(key, lock::LOCK_TIMEOUT)
        .map_err(|e| crate::errln!("kpartx: cannot lock {key}: {e}"))
}

fn announce_renames(opts: &Options, plan: &Plan) {
    if opts.verbose == 0 {
        return;
    }
    for step in &plan.steps {
        if let Step::RenameReload { from, spec } = step {
            crate::errln!(
                "found map {} for uuid {}, renaming to {}",
                from,
                spec.uuid,
                spec.display
            );
        }
    }
}

/// Prints every step's outcome; returns the number of counted failures.
fn report(opts: &Options, plan: &Plan, results: &[StepResult], device: &Path) -> usize {
    let verbose = opts.verbose > 0;
    let mut failures = 0;
    for ((step, result), counted) in plan.steps.iter().zip(results).zip(&plan.counted) {
        let failed = match (step, result) {
            (Step::Create(s) | Step::Reload(s), StepResult::Mapped(dev))
            | (Step::RenameReload { spec: s, .. }, StepResult::Mapped(dev)) => {
                if verbose {
                    crate::outln!(
                        "add map {} ({}:{}): 0 {} linear {}",
                        s.display,
                        dev.major,
                        dev.minor,
                        s.size,
                        s.params()
                    );
                }
                false
            }
            (Step::Remove { display, .. }, StepResult::Removed) => {
                if verbose {
                    crate::outln!("del devmap : {display}");
                }
                false
            }
            (Step::Skip { display, reason }, _) => report_skip(opts, display, reason, device),
            (step, StepResult::Failed(err)) => {
                report_failure(opts, step, err);
                true
            }
            _ => false,
        };
        if failed && *counted {
            failures += 1;
        }
    }
    failures
}

/// Prints why something was left alone; true when that counts as a failure.
fn report_skip(opts: &Options, display: &str, reason: &SkipReason, device: &Path) -> bool {
    let verbose = opts.verbose > 0;
    match reason {
        SkipReason::NameTaken(why) => crate::errln!("{display} is already in use, and {why}"),
        SkipReason::PastEnd { device_sectors } => crate::errln!(
            "kpartx: {display}: partition ends beyond the end of {} ({device_sectors} sectors); not mapped",
            device.display()
        ),
        SkipReason::BadName(e) => crate::errln!("kpartx: {display}: {e}"),
        SkipReason::InUse { open_count } => {
            if verbose {
                crate::outln!("{display} is in use. Not removing");
            }
            crate::errln!("{display} is in use (open count {open_count}), not removed");
        }
        SkipReason::NotLinear => {
            if verbose {
                crate::outln!("{display}: is not a linear target. Not removing");
            }
            return false;
        }
        SkipReason::NotOurs => {
            if verbose {
                crate::outln!("{display}: is not a kpartx partition. Not removing");
            }
            return false;
        }
    }
    true
}

fn report_failure(opts: &Options, step: &Step, err: &OpError) {
    let (display, from) = match step {
        Step::Create(s) | Step::Reload(s) => (s.display.as_str(), None),
        Step::RenameReload { from, spec } => (spec.display.as_str(), Some(from.as_str())),
        Step::Remove { display, .. } | Step::Skip { display, .. } => (display.as_str(), None),
    };
    match (err.stage, step) {
        (Stage::Load, _) => crate::errln!("create/reload failed on {display}"),
        (Stage::Resume, _) => crate::errln!("resume failed on {display}"),
        (Stage::Rename, _) => {
            if opts.verbose > 0 {
                crate::errln!("renaming {}->{} failed", from.unwrap_or("?"), display);
            }
        }
        (Stage::Remove, _) => {
            if opts.verbose > 0 && matches!(step, Step::Remove { flush: true, .. }) {
                crate::outln!("{display}: failed to remove");
            }
            crate::errln!("failed to remove {display}");
        }
        (Stage::Udev, _) => {}
    }
    crate::errln!("kpartx: {display}: {err}");
}

/// Detaches a loop this run attached and did not use.
fn release_created(opts: &Options, resolved: &Resolved) {
    if let Some(image) = resolved.image.as_ref().filter(|i| i.created) {
        detach(opts, image);
    }
}
