//! The command-line front end: argument handling, then one of the actions.

pub mod args;
pub mod images;
pub mod list;
pub mod maps;
pub mod policy;
pub mod spec;
pub mod usage;

use std::ffi::OsString;

use crate::dm::cookie::UdevMode;
use crate::dm::kernel::Kernel;
use crate::engine::real::RealSystem;
use crate::policy::DEFAULT_UDEV_TIMEOUT;

use args::{Action, ArgError, Command, Options};

/// Runs kpartx with the arguments after the program name; returns the exit status.
///
/// Everything printed on stdout goes through [`crate::out`]; the status returned is the one
/// [`crate::out::finish`] decides once stdout has been flushed.
pub fn main(args: Vec<OsString>) -> i32 {
    crate::out::finish(dispatch(args))
}

fn dispatch(args: Vec<OsString>) -> i32 {
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
            0
        }
        Command::Version => {
            crate::outln!("{}", usage::version());
            0
        }
        Command::Run(opts) => run(&opts),
        Command::Udev(opts) => crate::hotplug::run(opts.verbose, opts.udev_timeout),
        Command::UdevId => crate::hotplug::id::run(),
        Command::UdevDelPartNodes(opts) => crate::hotplug::del_parts::run(opts.verbose),
        Command::CheckConfig(files) => policy::check_config(&files),
        Command::ShowPolicy(opts) => policy::show_policy(&opts),
        Command::MapImages(opts) => images::run(&opts, images::Direction::Map),
        Command::UnmapImages(opts) => images::run(&opts, images::Direction::Unmap),
    }
}

/// Prints the usage on stdout, as the reference does on errors, and returns 1.
pub(crate) fn usage_error() -> i32 {
    crate::out::print(&usage::usage());
    1
}

fn run(opts: &Options) -> i32 {
    // Some(update) for -a/-u, None for -d.
    let update = match opts.action {
        Action::List => {
            return match opts.device() {
                Some(device) => list::run(opts, device),
                None => usage_error(),
            };
        }
        Action::Add => Some(false),
        Action::Update => Some(true),
        Action::Delete => None,
    };
    let timeout = opts.udev_timeout.unwrap_or(DEFAULT_UDEV_TIMEOUT);
    let kernel = match Kernel::open(UdevMode::detect(opts.sync, timeout)) {
        Ok(kernel) => kernel,
        Err(e) => {
            crate::errln!("kpartx: {e}");
            crate::errln!("device mapper prerequisites not met");
            return 1;
        }
    };
    let Some(device) = opts.device() else {
        return usage_error();
    };
    let sys = RealSystem::new(kernel);
    match update {
        Some(update) => maps::add(opts, &sys, device, update),
        None => maps::delete(opts, &sys, device),
    }
}
