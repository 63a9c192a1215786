//! The command-line front end: argument handling, then one of the actions.

pub mod args;
pub mod images;
pub mod list;
pub mod maps;
pub mod policy;
pub mod spec;
pub mod status;
pub mod usage;

use std::ffi::OsString;

use tracing::level_filters::LevelFilter;

use crate::dm::DEFAULT_BUSY_TIMEOUT;
use crate::dm::cookie::UdevMode;
use crate::dm::kernel::Kernel;
use crate::engine::real::RealSystem;
use crate::exit::Exit;
use crate::hotplug::Preview;
use crate::policy::DEFAULT_UDEV_TIMEOUT;

use args::{Action, ArgError, Command, Options};

/// Runs kpartx with the arguments after the program name; returns the exit status.
///
/// Everything printed on stdout goes through [`crate::out`]; the status returned is the one
/// [`crate::out::finish`] decides once stdout has been flushed.
pub fn main(args: Vec<OsString>) -> Exit {
    crate::out::finish(dispatch(args))
}

fn dispatch(args: Vec<OsString>) -> Exit {
    let command = match args::parse(args) {
        Ok(command) => command,
        Err(ArgError::NoArguments) => return usage_error(),
        Err(ArgError::Invalid(msg)) => {
            crate::errln!("kpartx: {msg}");
            return usage_error();
        }
    };
    match command {
        Command::Help => {
            crate::out::print(&usage::usage());
            Exit::Ok
        }
        Command::Version => {
            crate::outln!("{}", usage::version());
            Exit::Ok
        }
        Command::Run(opts) => run(&opts),
        Command::Udev(opts) => {
            let preview = match (opts.dry_run, opts.json) {
                (false, _) => Preview::Off,
                (true, false) => Preview::Text,
                (true, true) => Preview::Json,
            };
            crate::hotplug::run(opts.verbose, opts.udev_timeout, preview)
        }
        Command::UdevId => crate::hotplug::id::run(),
        Command::UdevDelPartNodes(opts) => crate::hotplug::del_parts::run(opts.verbose),
        Command::CheckConfig(files) => policy::check_config(&files),
        Command::ShowPolicy(opts) => policy::show_policy(&opts),
        Command::MapImages(opts) => images::run(&opts, images::Direction::Map),
        Command::UnmapImages(opts) => images::run(&opts, images::Direction::Unmap),
    }
}

/// Prints the usage on stdout, as the reference does on errors; the run has failed.
pub(crate) fn usage_error() -> Exit {
    crate::out::print(&usage::usage());
    Exit::Failed
}

/// A command line that names no usable device: says what is wrong on stderr, then the usage
/// (on stdout as the reference does; under `--json` an error document instead).
fn device_error(opts: &Options, what: &str) -> Exit {
    crate::errln!("kpartx: {what}");
    if opts.json {
        crate::out::print(&crate::report::error_report("usage", what, Exit::Failed));
        return Exit::Failed;
    }
    usage_error()
}

fn run(opts: &Options) -> Exit {
    // Warnings always; -vv adds the engine's debug records (-v output is the reference's).
    crate::logging::init(
        crate::logging::Sink::Stderr,
        crate::logging::level_for(LevelFilter::WARN, opts.verbose),
    );
    // Some(update) for -a/-u, None for -d.
    let update = match opts.action {
        Action::List => {
            return match opts.device_arg() {
                Ok(device) => list::run(opts, device),
                Err(what) => device_error(opts, &what),
            };
        }
        Action::Add => Some(false),
        Action::Update => Some(true),
        Action::Delete => None,
        Action::Status | Action::Prune => {
            return match open_kernel(opts) {
                Some(kernel) => status::run(opts, &RealSystem::new(kernel)),
                None => Exit::Failed,
            };
        }
    };
    let Some(kernel) = open_kernel(opts) else {
        return Exit::Failed;
    };
    let device = match opts.device_arg() {
        Ok(device) => device,
        Err(what) => return device_error(opts, &what),
    };
    let sys = RealSystem::new(kernel);
    match update {
        Some(update) => maps::add(opts, &sys, device, update),
        None => maps::delete(opts, &sys, device),
    }
}

/// Opens device-mapper, or says why not (the reference's line after ours).
pub(super) fn open_kernel(opts: &Options) -> Option<Kernel> {
    let timeout = opts.udev_timeout.unwrap_or(DEFAULT_UDEV_TIMEOUT);
    match Kernel::open(UdevMode::detect(opts.sync, timeout)) {
        Ok(kernel) => {
            kernel.set_busy_timeout(opts.busy_timeout.unwrap_or(DEFAULT_BUSY_TIMEOUT));
            Some(kernel)
        }
        Err(e) => {
            crate::errln!("kpartx: {e}");
            crate::errln!("device mapper prerequisites not met");
            if opts.json {
                crate::out::print(&crate::report::error_report(
                    "device-mapper",
                    e.to_string(),
                    Exit::Failed,
                ));
            }
            None
        }
    }
}
