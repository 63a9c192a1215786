//! `--status` and `--prune`: the partition maps this tool owns, and cleaning up after them.

use std::path::Path;

use super::args::{Action, Options};
use crate::engine::EngineError;
use crate::engine::real::RealSystem;
use crate::engine::status::{self as engine_status, Only};
use crate::exit::Exit;
use crate::report;
use crate::status::{self, PruneAction, PruneReport};

/// Runs `--status` or `--prune` (from `opts.action`); returns the exit status.
pub fn run(opts: &Options, sys: &RealSystem) -> Exit {
    let args: Vec<&Path> = opts.positionals.iter().map(Path::new).collect();
    let result = engine_status::parents_of(sys, &args).and_then(|only| match opts.action {
        Action::Prune => prune(opts, sys, &only),
        _ => show(opts, sys, &only),
    });
    result.unwrap_or_else(|e| {
        crate::errln!("kpartx: {e}");
        if opts.json {
            let kind = match e {
                EngineError::List(_) => "device-mapper",
                _ => "device",
            };
            crate::out::print(&report::error_report(kind, e.to_string(), Exit::Failed));
        }
        Exit::Failed
    })
}

fn show(opts: &Options, sys: &RealSystem, only: &Only) -> Result<Exit, EngineError> {
    let maps: Vec<status::MapStatus> = engine_status::observe(sys, only)?
        .iter()
        .map(status::map_status)
        .collect();
    if opts.json {
        crate::out::print(&report::to_json(&status::status_report(maps)));
    } else {
        crate::out::print(&status::status_text(&maps));
    }
    Ok(Exit::Ok)
}

fn prune(opts: &Options, sys: &RealSystem, only: &Only) -> Result<Exit, EngineError> {
    let steps = engine_status::prune(sys, only, opts.dry_run)?;
    let left = steps
        .iter()
        .any(|s| s.action == PruneAction::Skip || s.result == "failed");
    for s in steps.iter().filter(|s| s.action == PruneAction::Skip) {
        let held = if s.holders.is_empty() {
            "a mount or a process (no device holds it)".to_string()
        } else {
            s.holders.join(", ")
        };
        crate::errln!("kpartx: {}: {}; held by {held}", s.name, s.reason);
    }
    let status = Exit::failed_if(left);
    if opts.json {
        let doc = PruneReport {
            version: report::SCHEMA_VERSION,
            dry_run: opts.dry_run,
            steps,
            exit_status: status.code(),
        };
        crate::out::print(&report::to_json(&doc));
    } else {
        crate::out::print(&status::prune_text(&steps, opts.dry_run));
    }
    Ok(status)
}
