//! `-l`: print the maps that `-a` would create.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::args::Options;
use crate::engine::{self, Devices, EngineError, ListRequest, LoopRelease};
use crate::exit::Exit;
use crate::out::Printer;
use crate::probe::{self, Found};
use crate::render::listing;
use crate::resolve::{Parent, ResolveError};
use kpartx_table::naming::Naming;

/// Lists the partitions of `device`; returns the exit status.
pub fn run<D: Devices>(opts: &Options, sys: &D, device: &Path, p: &mut dyn Printer) -> Exit {
    let req = ListRequest {
        force_gpt: opts.force_gpt,
        filter: &opts.filter,
        sector_size: opts.sector_size,
        read_anyway: opts.read_anyway,
    };
    let listing = match engine::list(sys, device, &req) {
        Ok(listing) => listing,
        Err(e) => return report_engine_error(&e, opts.verbose > 0, p),
    };
    let status = list(opts, &listing.resolved.parent, &listing.found, p);
    match &listing.release {
        Some(release) => {
            report_release(opts, release, p);
            if release.result.is_ok() {
                status
            } else {
                Exit::Failed
            }
        }
        None => status,
    }
}

fn list(opts: &Options, parent: &Parent, found: &Found, p: &mut dyn Printer) -> Exit {
    print_diagnostics(found, p);
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
                crate::perr!(p, "kpartx: {e}");
                return Exit::Failed;
            }
        }
    } else {
        let slices = found.table.as_ref().map(|t| t.slices.as_slice());
        listing::render_text(&naming, &parent.path, slices.unwrap_or_default())
    };
    for warning in probe::past_end_warnings(&naming, found) {
        crate::perr!(p, "{warning}");
    }
    p.out_bytes(&text);
    Exit::Ok
}

/// Prints the readers' warning lines on stderr, as the reference does.
pub fn print_diagnostics(found: &Found, p: &mut dyn Printer) {
    for line in found.diagnostics.lines() {
        crate::perr!(p, "{line}");
    }
}

/// Reports how releasing an image's loop device went, in the reference's words.
pub fn report_release(opts: &Options, release: &LoopRelease, p: &mut dyn Printer) {
    let path = release.path.display();
    for _ in 0..release.retries {
        crate::perr!(p, "loop: device {path} still in use, retrying delete");
    }
    if opts.verbose > 0 {
        match release.result {
            Ok(()) => crate::perr!(p, "loop deleted : {path}"),
            Err(_) => crate::perr!(p, "can't del loop : {path}"),
        }
    }
}

/// Prints why a use case could not run, on the streams the reference uses; returns the exit
/// status.
pub fn report_engine_error(err: &EngineError, verbose: bool, p: &mut dyn Printer) -> Exit {
    match err {
        EngineError::Resolve(e) => report_resolve_error(e, p),
        other => crate::perr!(p, "kpartx: {}", crate::out::render_error(other, verbose)),
    }
    Exit::of_error(err)
}

/// Prints a resolution error on the stream the reference uses.
fn report_resolve_error(err: &ResolveError, p: &mut dyn Printer) {
    match err {
        ResolveError::Stat(path, _) => {
            // The path exactly as given, like the reference (it need not be UTF-8).
            let line = [b"failed to stat() ", path.as_os_str().as_bytes(), b"\n"].concat();
            p.out_bytes(&line);
        }
        ResolveError::NoLoopForDelete => {}
        _ => {
            if let Some(detail) = err.detail() {
                crate::perr!(p, "kpartx: {detail}");
            }
            crate::perr!(p, "{err}");
        }
    }
}
