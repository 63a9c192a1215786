//! `--status` and `--prune`: the partition maps this tool owns, and cleaning up after them.

use std::path::Path;

use super::args::{Action, Options};
use crate::dm::{DEFAULT_BUSY_TIMEOUT, Settled};
use crate::engine::survey::{self as engine_survey, Only};
use crate::engine::{EngineError, System};
use crate::exit::Exit;
use crate::out::Printer;
use crate::plan::prune::PruneAction;
use crate::render::action as report;
use crate::render::survey::{self, PruneReport};

/// Runs `--status` or `--prune` (from `opts.action`); returns the exit status.
pub fn run<S: System>(opts: &Options, sys: &S, p: &mut dyn Printer) -> Exit {
    let args: Vec<&Path> = opts.positionals.iter().map(Path::new).collect();
    let result = engine_survey::parents_of(sys, &args).and_then(|only| match opts.action {
        Action::Prune => prune(opts, sys, &only, p),
        _ => show(opts, sys, &only, p),
    });
    result.unwrap_or_else(|e| {
        crate::perr!(p, "kpartx: {e}");
        if opts.json {
            let kind = match e {
                EngineError::Look(_) => "device-mapper",
                _ => "device",
            };
            p.out(&report::error_report(kind, e.to_string(), Exit::Failed));
        }
        Exit::Failed
    })
}

fn show<S: System>(
    opts: &Options,
    sys: &S,
    only: &Only,
    p: &mut dyn Printer,
) -> Result<Exit, EngineError> {
    let maps: Vec<survey::MapStatus> = engine_survey::observe(sys, only)?
        .iter()
        .map(survey::map_status)
        .collect();
    if opts.json {
        p.out(&report::to_json(&survey::status_report(maps)));
    } else {
        p.out(&survey::status_text(&maps));
    }
    Ok(Exit::Ok)
}

fn prune<S: System>(
    opts: &Options,
    sys: &S,
    only: &Only,
    p: &mut dyn Printer,
) -> Result<Exit, EngineError> {
    let busy_timeout = opts.busy_timeout.unwrap_or(DEFAULT_BUSY_TIMEOUT);
    let pruned = engine_survey::prune(sys, only, opts.dry_run, busy_timeout)?;
    match &pruned.udev {
        Err(e) => crate::perr!(p, "kpartx: {e}"),
        Ok(Settled::Unanswered(u)) => crate::perr!(p, "kpartx: warning: {u}"),
        Ok(_) => {}
    }
    let steps = pruned.steps;
    // A udev wait that failed (timed out: the nodes may be wrong) fails the run, as for -d.
    let left = pruned.udev.is_err()
        || steps
            .iter()
            .any(|s| s.action == PruneAction::Skip || s.result == "failed");
    for s in steps.iter().filter(|s| s.action == PruneAction::Skip) {
        let held = if s.holders.is_empty() {
            "a mount or a process (no device holds it)".to_string()
        } else {
            s.holders.join(", ")
        };
        crate::perr!(p, "kpartx: {}: {}; held by {held}", s.name, s.reason);
    }
    let status = Exit::failed_if(left);
    if opts.json {
        let doc = PruneReport {
            version: report::SCHEMA_VERSION,
            dry_run: opts.dry_run,
            steps,
            exit_status: status.code(),
        };
        p.out(&report::to_json(&doc));
    } else {
        p.out(&survey::prune_text(&steps, opts.dry_run));
    }
    Ok(status)
}
