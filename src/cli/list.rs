//! `-l`: print the maps that `-a` would create.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::args::Options;
use crate::device::blockdev::BlockDevice;
use crate::device::loopdev;
use crate::listing;
use crate::naming::Naming;
use crate::probe::{self, Found};
use crate::target::{self, ImageLoop, Purpose, ResolveError, Resolved};

/// Lists the partitions of `device`; returns the exit status.
pub fn run(opts: &Options, device: &Path) -> i32 {
    let resolved = match target::resolve(device, Purpose::List) {
        Ok(r) => r,
        Err(e) => return report_resolve_error(&e),
    };
    let status = list(opts, &resolved);
    let detached = release_loop(opts, resolved);
    if detached { status } else { 1 }
}

fn list(opts: &Options, resolved: &Resolved) -> i32 {
    let parent = &resolved.parent;
    let disk = match BlockDevice::open(parent.path.as_ref()) {
        Ok(disk) => disk,
        Err(e) => {
            crate::errln!("{}: {}", parent.path.display(), target::strerror(&e));
            return 1;
        }
    };
    let found = probe::read_table(&disk, parent, opts.force_gpt, &opts.filter);
    print_diagnostics(&found);
    let naming = Naming::from_os(&parent.name, opts.delimiter.as_deref());
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
                return 1;
            }
        }
    } else {
        let slices = found.table.as_ref().map(|t| t.slices.as_slice());
        listing::render_text(&naming, &parent.path, slices.unwrap_or_default())
    };
    for warning in probe::past_end_warnings(&naming, &found) {
        crate::errln!("{warning}");
    }
    crate::out::print_bytes(&text);
    0
}

/// Prints the readers' warning lines on stderr, as the reference does.
pub fn print_diagnostics(found: &Found) {
    for line in found.diagnostics.lines() {
        crate::errln!("{line}");
    }
}

/// Detaches the loop device `-l` attached; false when that failed. The loop is auto-clearing
/// and still held open by its handle here, so the kernel finishes the detach when the handle
/// is dropped (at the latest when the process exits).
fn release_loop(opts: &Options, resolved: Resolved) -> bool {
    let Some(mut image) = resolved.image.filter(|i| i.created) else {
        return true;
    };
    let detached = detach(opts, &image);
    drop(image.handle.take());
    detached
}

/// Detaches an image's loop device, reporting like the reference; false when that failed.
pub fn detach(opts: &Options, image: &ImageLoop) -> bool {
    let path = &image.device.path;
    let result = loopdev::detach(path, || {
        crate::errln!(
            "loop: device {} still in use, retrying delete",
            path.display()
        );
    });
    if opts.verbose > 0 {
        match result {
            Ok(()) => crate::errln!("loop deleted : {}", path.display()),
            Err(_) => crate::errln!("can't del loop : {}", path.display()),
        }
    }
    result.is_ok()
}

/// Prints a resolution error on the stream the reference uses; returns the exit status.
pub fn report_resolve_error(err: &ResolveError) -> i32 {
    match err {
        ResolveError::Stat(path) => {
            // The path exactly as given, like the reference (it need not be UTF-8).
            let line = [b"failed to stat() ", path.as_os_str().as_bytes(), b"\n"].concat();
            crate::out::print_bytes(&line);
        }
        ResolveError::NoLoopForDelete => return 0,
        _ => {
            if let Some(detail) = err.detail() {
                crate::errln!("kpartx: {detail}");
            }
            crate::errln!("{err}");
        }
    }
    1
}
