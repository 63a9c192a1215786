//! `-a`, `-u` and `-d`: plan, execute, report in the reference's words.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::args::Options;
use super::list::{detach, print_diagnostics, report_resolve_error};
use crate::apply::StepResult;
use crate::dm::kernel::Kernel;
use crate::dm::nodes::NodeOwner;
use crate::dm::{OpError, Stage};
use crate::lock::{self, Lock};
use crate::mapping::{self, MapOutcome, MapRequest};
use crate::plan::{Plan, SkipReason, Step};
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
    let Ok(_dev_lock) = lock_device(&resolved.parent) else {
        release_created(opts, &resolved);
        return 1;
    };
    kernel.set_node_owner(NodeOwner::of(resolved.parent.path.as_ref()));
    let (failures, mapped) = add_maps(opts, &kernel, &resolved, update);
    if mapped == 0 {
        release_created(opts, &resolved);
    }
    failures.min(255) as i32
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
            eprintln!("kpartx: {e}");
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
    let Ok(_dev_lock) = lock_device(&resolved.parent) else {
        return 1;
    };
    let info = mapping::parent_info(&resolved.parent, !opts.force);
    let done = match mapping::unmap_partitions(&kernel, &info, true) {
        Ok(done) => done,
        Err(e) => {
            eprintln!("kpartx: {e}");
            return 1;
        }
    };
    let failed = report(opts, &done.plan, &done.results, &resolved.parent.path) > 0;
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
    lock::acquire(key, lock::LOCK_TIMEOUT).map_err(|e| eprintln!("kpartx: cannot lock {key}: {e}"))
}

fn announce_renames(opts: &Options, plan: &Plan) {
    if opts.verbose == 0 {
        return;
    }
    for step in &plan.steps {
        if let Step::RenameReload { from, spec } = step {
            eprintln!(
                "found map {} for uuid {}, renaming to {}",
                from, spec.uuid, spec.display
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
        SkipReason::NameTaken(why) => eprintln!("{display} is already in use, and {why}"),
        SkipReason::PastEnd { device_sectors } => eprintln!(
            "kpartx: {display}: partition ends beyond the end of {} ({device_sectors} sectors); not mapped",
            device.display()
        ),
        SkipReason::BadName(e) => eprintln!("kpartx: {display}: {e}"),
        SkipReason::InUse { open_count } => {
            if verbose {
                crate::outln!("{display} is in use. Not removing");
            }
            eprintln!("{display} is in use (open count {open_count}), not removed");
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
        (Stage::Load, _) => eprintln!("create/reload failed on {display}"),
        (Stage::Resume, _) => eprintln!("resume failed on {display}"),
        (Stage::Rename, _) => {
            if opts.verbose > 0 {
                eprintln!("renaming {}->{} failed", from.unwrap_or("?"), display);
            }
        }
        (Stage::Remove, _) => {
            if opts.verbose > 0 && matches!(step, Step::Remove { flush: true, .. }) {
                crate::outln!("{display}: failed to remove");
            }
            eprintln!("failed to remove {display}");
        }
        (Stage::Udev, _) => {}
    }
    eprintln!("kpartx: {display}: {err}");
}

/// Detaches a loop this run attached and did not use.
fn release_created(opts: &Options, resolved: &Resolved) {
    if let Some(image) = resolved.image.as_ref().filter(|i| i.created) {
        detach(opts, image);
    }
}
