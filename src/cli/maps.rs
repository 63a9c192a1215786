//! `-a`, `-u` and `-d`: run the engine's use case, report its outcome in the reference's words.

use std::path::Path;

use super::args::Options;
use super::list::{print_diagnostics, report_engine_error, report_release};
use crate::dm::types::DisplayName;
use crate::dm::{DEFAULT_BUSY_TIMEOUT, OpError, Settled, Stage};
use crate::engine::outcome::StepResult;
use crate::engine::{
    self, EngineError, MapRequest, NoTable, Outcome, Record, System, UnmapRequest,
};
use crate::exit::Exit;
use crate::lock;
use crate::out::Printer;
use crate::plan::{SkipReason, Step, WhenBusy};
use crate::render::action::{self as report, ActionKind};
use crate::render::step::step_name;
use crate::resolve::ResolveError;

/// `-a` (`update == false`) or `-u`: returns the exit status (number of failures, at most 255).
pub fn add<S: System>(
    opts: &Options,
    sys: &S,
    device: &Path,
    update: bool,
    p: &mut dyn Printer,
) -> Exit {
    let req = MapRequest {
        device,
        expect: None,
        delimiter: opts.delimiter.as_deref(),
        read_only: opts.read_only,
        force_gpt: opts.force_gpt,
        filter: &opts.filter,
        update,
        no_table: NoTable::Leave,
        lock_timeout: lock::LOCK_TIMEOUT,
        busy_timeout: opts.busy_timeout.unwrap_or(DEFAULT_BUSY_TIMEOUT),
        dry_run: opts.dry_run,
        sector_size: opts.sector_size,
        name: opts.name.as_deref(),
        read_anyway: opts.read_anyway,
        refuse_clashes: true,
        no_partitions_feature: None,
    };
    let outcome = match engine::map(sys, &req) {
        Ok(outcome) => outcome,
        Err(e) => return engine_error(opts, &e, p),
    };
    if let Some(found) = &outcome.found {
        print_diagnostics(found, p);
    }
    let status = Exit::counting(outcome.failures());
    let kind = if update {
        ActionKind::Update
    } else {
        ActionKind::Add
    };
    if opts.dry_run {
        return show(opts, kind, &outcome, status, p);
    }
    if opts.verbose > 0 && outcome.parent.read_only && !opts.read_only {
        crate::perr!(
            p,
            "kpartx: {} is read-only: its partition maps are made read-only",
            outcome.parent.path.display()
        );
    }
    // Under --json, the text report keeps only its stderr lines.
    let text_opts = quiet(opts);
    announce_renames(&text_opts, &outcome.records, p);
    report(&text_opts, &outcome.records, &outcome.parent.path, p);
    report_udev(&outcome, p);
    if let Some(release) = &outcome.release {
        report_release(&text_opts, release, p);
    }
    if opts.json {
        return show(opts, kind, &outcome, status, p);
    }
    status
}

/// `opts` without `-v` under `--json`, so that no text goes to stdout.
fn quiet(opts: &Options) -> Options {
    let mut o = opts.clone();
    if o.json {
        o.verbose = 0;
    }
    o
}

/// Prints the JSON report, or the dry run's plan as text; returns `status`.
fn show(
    opts: &Options,
    kind: ActionKind,
    outcome: &Outcome,
    status: Exit,
    p: &mut dyn Printer,
) -> Exit {
    if opts.json {
        let doc = report::action_report(kind, outcome, status);
        p.out(&report::to_json(&doc));
    } else {
        p.out(&report::plan_text(outcome));
    }
    status
}

/// Reports an engine error: as text (the reference's streams), and under `--json` as an
/// error document on stdout instead of anything else there.
fn engine_error(opts: &Options, err: &EngineError, p: &mut dyn Printer) -> Exit {
    if !opts.json {
        return report_engine_error(err, opts.verbose > 0, p);
    }
    let kind = match err {
        EngineError::Resolve(ResolveError::NoLoopForDelete) => "no-loop",
        EngineError::Resolve(ResolveError::LoopSetup { .. }) => "loop",
        EngineError::Resolve(_) => "device",
        EngineError::Lock(..) => "lock",
        EngineError::Read(..) => "read",
        EngineError::Look(_) => "device-mapper",
        EngineError::Changed(_) => "changed",
        EngineError::NameClash(_) => "name-clash",
        EngineError::NotReady(..) => "not-ready",
    };
    let status = Exit::of_error(err);
    crate::perr!(p, "kpartx: {err}");
    p.out(&report::error_report(kind, err.to_string(), status));
    status
}

/// `-d`: returns the exit status.
pub fn delete<S: System>(opts: &Options, sys: &S, device: &Path, p: &mut dyn Printer) -> Exit {
    let req = UnmapRequest {
        force: opts.force,
        when_busy: WhenBusy::RemoveNone,
        flush: true,
        lock_timeout: lock::LOCK_TIMEOUT,
        busy_timeout: opts.busy_timeout.unwrap_or(DEFAULT_BUSY_TIMEOUT),
        dry_run: opts.dry_run,
    };
    let outcome = match engine::unmap(sys, device, req) {
        Ok(outcome) => outcome,
        Err(e) => return engine_error(opts, &e, p),
    };
    let status = Exit::of_outcome(outcome.failures(), outcome.release_failed());
    if opts.dry_run {
        return show(opts, ActionKind::Delete, &outcome, status, p);
    }
    let text_opts = quiet(opts);
    report(&text_opts, &outcome.records, &outcome.parent.path, p);
    report_udev(&outcome, p);
    if let Some(release) = &outcome.release {
        report_release(&text_opts, release, p);
    }
    if opts.json {
        return show(opts, ActionKind::Delete, &outcome, status, p);
    }
    status
}

fn report_udev(outcome: &Outcome, p: &mut dyn Printer) {
    match &outcome.udev {
        Err(e) => crate::perr!(p, "kpartx: {e}"),
        Ok(Settled::Unanswered(u)) => crate::perr!(p, "kpartx: warning: {u}"),
        Ok(_) => {}
    }
}

fn announce_renames(opts: &Options, records: &[Record], p: &mut dyn Printer) {
    if opts.verbose == 0 {
        return;
    }
    for record in records {
        if let Step::RenameReload { from, spec } = &record.step {
            crate::perr!(
                p,
                "found map {} for uuid {}, renaming to {}",
                from,
                spec.uuid,
                spec.display
            );
        }
    }
}

/// Prints every step's outcome in the reference's words (whether it counts as a failure is
/// the engine's decision, [`Record::failed`]).
fn report(opts: &Options, records: &[Record], device: &Path, p: &mut dyn Printer) {
    let verbose = opts.verbose > 0;
    for record in records {
        match (&record.step, &record.result) {
            (Step::Create(s) | Step::Reload(s), StepResult::Mapped(dev))
            | (
                Step::RenameReload { spec: s, .. } | Step::Keep { spec: s, .. },
                StepResult::Mapped(dev),
            ) if verbose => {
                crate::pout!(
                    p,
                    "add map {} ({}:{}): 0 {} linear {}",
                    s.display,
                    dev.major,
                    dev.minor,
                    s.size,
                    s.params()
                );
            }
            (Step::Remove { display, .. }, StepResult::Removed) if verbose => {
                crate::pout!(p, "del devmap : {display}");
            }
            (Step::Skip { display, reason }, _) => report_skip(opts, display, reason, device, p),
            (step, StepResult::Failed(err)) => report_failure(opts, step, err, p),
            _ => {}
        }
    }
}

/// Prints why something was left alone.
fn report_skip(
    opts: &Options,
    display: &DisplayName,
    reason: &SkipReason,
    device: &Path,
    p: &mut dyn Printer,
) {
    let verbose = opts.verbose > 0;
    match reason {
        SkipReason::NameTaken(why) => crate::perr!(p, "{display} is already in use, and {why}"),
        SkipReason::PastEnd { device_sectors } => crate::perr!(
            p,
            "kpartx: {display}: partition ends beyond the end of {} ({device_sectors} sectors); not mapped",
            device.display()
        ),
        SkipReason::BadName(e) => crate::perr!(p, "kpartx: {display}: {e}"),
        SkipReason::InUse { open_count } => {
            if verbose {
                crate::pout!(p, "{display} is in use. Not removing");
            }
            crate::perr!(
                p,
                "{display} is in use (open count {open_count}), not removed"
            );
        }
        SkipReason::NotLinear => {
            if verbose {
                crate::pout!(p, "{display}: is not a linear target. Not removing");
            }
        }
        SkipReason::NotOurs => {
            if verbose {
                crate::pout!(p, "{display}: is not a kpartx partition. Not removing");
            }
        }
    }
}

fn report_failure(opts: &Options, step: &Step, err: &OpError, p: &mut dyn Printer) {
    let display = step_name(step);
    match err.stage {
        Stage::Load => crate::perr!(p, "create/reload failed on {display}"),
        Stage::Resume => crate::perr!(p, "resume failed on {display}"),
        Stage::Rename => {
            if let (true, Step::RenameReload { from, .. }) = (opts.verbose > 0, step) {
                crate::perr!(p, "renaming {from}->{display} failed");
            }
        }
        Stage::Remove => {
            if opts.verbose > 0 && matches!(step, Step::Remove { flush: true, .. }) {
                crate::pout!(p, "{display}: failed to remove");
            }
            crate::perr!(p, "failed to remove {display}");
        }
        Stage::Udev => {}
    }
    crate::perr!(p, "kpartx: {display}: {err}");
}
