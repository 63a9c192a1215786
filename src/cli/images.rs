//! `--map-images` and `--unmap-images`: `-a --name` and `-d` over every image of the boot
//! image list (see [`crate::policy::images`]).

use std::ffi::OsString;
use std::path::Path;

use super::args::Options;
use super::maps;
use crate::engine::System;
use crate::engine::real::RealSystem;
use crate::exit::Exit;
use crate::out::Printer;
use crate::policy::images::{self, ImageEntry};

/// Which way to go through the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Map every image, in list order.
    Map,
    /// Unmap every image, last first.
    Unmap,
}

/// Runs `--map-images`/`--unmap-images` over the list files named by the positionals (the
/// system list without any); the exit status counts the images that failed, and is a
/// failure when the list is broken or device-mapper cannot be used.
pub fn run(opts: &Options, direction: Direction, p: &mut dyn Printer) -> Exit {
    let loaded = if opts.positionals.is_empty() {
        images::load_system()
    } else {
        images::load(&opts.positionals)
    };
    let list = match loaded {
        Ok(list) => list,
        Err(errors) => {
            for e in &errors {
                crate::perr!(p, "{e}");
            }
            crate::perr!(p, "kpartx: the image list is broken: nothing was done");
            return Exit::Failed;
        }
    };
    if list.is_empty() {
        return Exit::Ok;
    }
    let Some(kernel) = super::open_kernel(opts, p) else {
        return Exit::Failed;
    };
    run_list(opts, &RealSystem::new(kernel), list, direction, p)
}

/// Maps or unmaps every image of `list` on `sys`, each as its own run of `-a --name` or `-d`
/// (its own lock, plan and udev wait); the exit status counts the images that failed.
pub fn run_list<S: System>(
    opts: &Options,
    sys: &S,
    mut list: Vec<ImageEntry>,
    direction: Direction,
    p: &mut dyn Printer,
) -> Exit {
    if direction == Direction::Unmap {
        list.reverse();
    }
    let mut failed = 0usize;
    for image in &list {
        let image_opts = options_for(opts, image);
        let status = match direction {
            Direction::Map => maps::add(&image_opts, sys, &image.path, false, p),
            Direction::Unmap => maps::delete(&image_opts, sys, &image.path, p),
        };
        if !status.is_ok() {
            failed += 1;
            let what = match direction {
                Direction::Map => "map",
                Direction::Unmap => "unmap",
            };
            crate::perr!(
                p,
                "kpartx: could not {what} image {} ({}, listed at {})",
                image.name,
                image.path.display(),
                image.origin
            );
        }
    }
    Exit::counting(failed)
}

/// The options of `-a --name` / `-d` for one image: the command line's verbosity and udev
/// settings, the list's name, delimiter, read-only setting and sector size.
fn options_for(opts: &Options, image: &ImageEntry) -> Options {
    Options {
        read_only: image.read_only,
        delimiter: image.delimiter.as_ref().map(OsString::from),
        sector_size: image.sector_size,
        name: Some(OsString::from(&image.name)),
        positionals: vec![Path::new(&image.path).as_os_str().to_owned()],
        ..opts.clone()
    }
}
