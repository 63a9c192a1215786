//! The command-line front end: argument handling, then one of the actions.

pub mod args;
pub mod images;
pub mod list;
pub mod maps;
pub mod policy;
pub mod spec;
pub mod survey;
pub mod usage;

use std::ffi::OsString;

use tracing::level_filters::LevelFilter;

use crate::dm::cookie::UdevMode;
use crate::dm::kernel::Kernel;
use crate::engine::System;
use crate::engine::real::{RealDevices, RealSystem};
use crate::exit::Exit;
use crate::hotplug::Preview;
use crate::out::{Printer, Stdio};
use crate::policy::DEFAULT_UDEV_TIMEOUT;

use args::{Action, ArgError, Command, Options};

/// Runs kpartx with the arguments after the program name; returns the exit status.
///
/// This is the edge: what the command line prints goes to the process's standard output and
/// error ([`Stdio`]); the status returned is the one [`crate::out::finish`] decides once
/// stdout has been flushed.
pub fn main(args: Vec<OsString>) -> Exit {
    crate::out::finish(dispatch(args, &mut Stdio))
}

fn dispatch(args: Vec<OsString>, p: &mut dyn Printer) -> Exit {
    let command = match args::parse(args) {
        Ok(command) => command,
        Err(ArgError::NoArguments) => return usage_error(p),
        Err(ArgError::Invalid(msg)) => {
            crate::perr!(p, "kpartx: {msg}");
            return usage_error(p);
        }
    };
    match command {
        Command::Help => {
            p.out(&usage::usage());
            Exit::Ok
        }
        Command::Version => {
            crate::pout!(p, "{}", usage::version());
            Exit::Ok
        }
        Command::Run(opts) => run(&opts, p),
        Command::Udev(opts) => {
            let preview = match (opts.dry_run, opts.json) {
                (false, _) => Preview::Off,
                (true, false) => Preview::Text,
                (true, true) => Preview::Json,
            };
            crate::hotplug::run(opts.verbose, opts.udev_timeout, preview, p)
        }
        Command::UdevId => crate::hotplug::part_links::run(p),
        Command::UdevDelPartNodes(opts) => crate::hotplug::del_parts::run(opts.verbose),
        Command::CheckConfig(files) => policy::check_config(&files, p),
        Command::ShowPolicy(opts) => policy::show_policy(&opts, p),
        Command::MapImages(opts) => images::run(&opts, images::Direction::Map, p),
        Command::UnmapImages(opts) => images::run(&opts, images::Direction::Unmap, p),
    }
}

/// Prints the usage on stdout, as the reference does on errors; the run has failed.
pub(crate) fn usage_error(p: &mut dyn Printer) -> Exit {
    p.out(&usage::usage());
    Exit::Failed
}

/// A command line that names no usable device: says what is wrong on stderr, then the usage
/// (on stdout as the reference does; under `--json` an error document instead).
fn device_error(opts: &Options, what: &str, p: &mut dyn Printer) -> Exit {
    crate::perr!(p, "kpartx: {what}");
    if opts.json {
        p.out(&crate::render::action::error_report(
            "usage",
            what,
            Exit::Failed,
        ));
        return Exit::Failed;
    }
    usage_error(p)
}

fn run(opts: &Options, p: &mut dyn Printer) -> Exit {
    // Warnings always; -vv adds the engine's debug records (-v output is the reference's).
    crate::logging::init(
        crate::logging::Sink::Stderr,
        crate::logging::level_for(LevelFilter::WARN, opts.verbose),
    );
    if opts.action == Action::List {
        // -l needs no device-mapper (and the reference lists without it).
        return match opts.device_arg() {
            Ok(device) => list::run(opts, &RealDevices, device, p),
            Err(what) => device_error(opts, &what, p),
        };
    }
    let Some(kernel) = open_kernel(opts, p) else {
        return Exit::Failed;
    };
    run_on(opts, &RealSystem::new(kernel), p)
}

/// Runs the action of `opts` (`-l`, `-a`, `-u`, `-d`, `--status`, `--prune`) on `sys`: the
/// real system, or a test's fake.
pub fn run_on<S: System>(opts: &Options, sys: &S, p: &mut dyn Printer) -> Exit {
    let device = match (opts.action, opts.device_arg()) {
        (Action::Status | Action::Prune, _) => return survey::run(opts, sys, p),
        (_, Ok(device)) => device,
        (_, Err(what)) => return device_error(opts, &what, p),
    };
    match opts.action {
        Action::List => list::run(opts, sys.devices(), device, p),
        Action::Add => maps::add(opts, sys, device, false, p),
        Action::Update => maps::add(opts, sys, device, true, p),
        // -d (--status and --prune returned above).
        _ => maps::delete(opts, sys, device, p),
    }
}

/// Opens device-mapper, or says why not (the reference's line after ours).
pub(super) fn open_kernel(opts: &Options, p: &mut dyn Printer) -> Option<Kernel> {
    let timeout = opts.udev_timeout.unwrap_or(DEFAULT_UDEV_TIMEOUT);
    match Kernel::open(UdevMode::detect(opts.sync, timeout)) {
        Ok(kernel) => Some(kernel),
        Err(e) => {
            crate::perr!(p, "kpartx: {e}");
            crate::perr!(p, "device mapper prerequisites not met");
            if opts.json {
                p.out(&crate::render::action::error_report(
                    "device-mapper",
                    e.to_string(),
                    Exit::Failed,
                ));
            }
            None
        }
    }
}

#[cfg(test)]
mod tests;
