//! `-l`: print the maps that `-a` would create.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::args::Options;
use crate::engine::real::RealDevices;
use crate::engine::{self, EngineError, ListRequest, LoopRelease};
use crate::exit::Exit;
use crate::listing;
use crate::naming::Naming;
use crate::probe::{self, Found};
use crate::resolve::{Parent, ResolveError};

/// Lists the partitions of `device`; returns the exit status.
pub fn run(opts: &Options, device: &Path) -> Exit {
    let req = ListRequest {
        force_gpt: opts.force_gpt,
        filter: &opts.filter,
        sector_size: opts.sector_size,
        read_anyway: opts.read_anyway,
    };
    let listing = match engine::list(&RealDevices, device, &req) {
        Ok(listing) => listing,
        Err(e) => return report_engine_error(&e, opts.verbose > 0),
    };
    let status = list(opts, &listing.resolved.parent, &listing.found);
    match &listing.release {
        Some(release) => {
            report_release(opts, release);
            if release.result.is_ok() {
                status
            } else {
                Exit::Failed
            }
        }
        None => status,
    }
}

fn list(opts: &Options, parent: &Parent, found: &Found) -> Exit {
    print_diagnostics(found);
    let name = opts.name.as_deref().unwrap_or(&parent.name);
    let naming = Naming::from_os(name, opts.delimiter.as_deref());
    let text = if opts.json {
        let listing = listing::json_listing(
            &naming,
            &parent.path,
            found.sector_size,
            found.table.as_ref(),
        );
        match listing {
            Ok(listing) => listing::render_json(&listing).into_bytes(),
            Err(e) => {
                crate::errln!("kpartx: {e}");
                return Exit::Failed;
            }
        }
    } else {
        let slices = found.table.as_ref().map(|t| t.slices.as_slice());
        listing::render_text(&naming, &parent.path, slices.unwrap_or_default())
    };
    for warning in probe::past_end_warnings(&naming, found) {
        crate::errln!("{warning}");
    }
    crate::out::print_bytes(&text);
    Exit::Ok
}

/// Prints the readers' warning lines on stderr, as the reference does.
pub fn print_diagnostics(found: &Found) {
    for line in found.diagnostics.lines() {
        crate::errln!("{line}");
    }
}

/// Reports how releasing an image's loop device went, in the reference's words.
pub fn report_release(opts: &Options, release: &LoopRelease) {
    let path = release.path.display();
    for _ in 0..release.retries {
        crate::errln!("loop: device {path} still in use, retrying delete");
    }
    if opts.verbose > 0 {
        match release.result {
            Ok(()) => crate::errln!("loop deleted : {path}"),
            Err(_) => crate::errln!("can't del loop : {path}"),
        }
    }
}

/// Prints why a use case could not run, on the streams the reference uses; returns the exit
/// status.
pub fn report_engine_error(err: &EngineError, verbose: bool) -> Exit {
    match err {
        EngineError::Resolve(e) => report_resolve_error(e),
        other => crate::errln!("kpartx: {}", crate::out::render_error(other, verbose)),
    }
    Exit::of_error(err)
}

/// Prints a resolution error on the stream the reference uses.
fn report_resolve_error(err: &ResolveError) {
    match err {
        ResolveError::Stat(path) => {
            // The path exactly as given, like the reference (it need not be UTF-8).
            let line = [b"failed to stat() ", path.as_os_str().as_bytes(), b"\n"].concat();
            crate::out::print_bytes(&line);
        }
        ResolveError::NoLoopForDelete => {}
        _ => {
            if let Some(detail) = err.detail() {
                crate::errln!("kpartx: {detail}");
            }
            crate::errln!("{err}");
        }
    }
}
