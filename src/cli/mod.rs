//! The command-line front end: argument handling, then one of the actions.

pub mod args;
pub mod list;
pub mod usage;

use std::ffi::OsString;
use std::io::Write;

use args::{Action, ArgError, Command, Options};

/// Runs kpartx with the arguments after the program name; returns the exit status.
pub fn main(args: Vec<OsString>) -> i32 {
    let command = match args::parse(args) {
        Ok(command) => command,
        Err(ArgError::NoArguments) => return usage_error(),
        Err(ArgError::Invalid(msg)) => {
            eprintln!("kpartx: {msg}");
            return usage_error();
        }
    };
    match command {
        Command::Help => {
            print!("{}", usage::usage());
            0
        }
        Command::Version => {
            println!("{}", usage::version());
            0
        }
        Command::Run(opts) => run(&opts),
        Command::Udev(_) | Command::CheckConfig(_) | Command::ShowPolicy(_) => {
            eprintln!("kpartx: this mode is not available yet");
            1
        }
    }
}

/// Prints the usage on stdout, as the reference does on errors, and returns 1.
fn usage_error() -> i32 {
    print!("{}", usage::usage());
    let _ = std::io::stdout().flush();
    1
}

fn run(opts: &Options) -> i32 {
    let Some(device) = opts.device() else {
        return usage_error();
    };
    match opts.action {
        Action::List => list::run(opts, device),
        Action::Add | Action::Update | Action::Delete => {
            eprintln!("device mapper prerequisites not met");
            1
        }
    }
}
