//! The exit status: every front end returns an [`Exit`], `main` hands it to the process, and
//! nothing else names a status number. [`TABLE`] is the one description of the statuses; the
//! man page's EXIT STATUS section is checked against it.

use std::process::ExitCode;

use crate::engine::EngineError;
use crate::resolve::ResolveError;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done, or nothing to do.
    Ok,
    /// 1: the run failed: a usage error, a device or image that cannot be used, a map that
    /// could not be made or removed, a map left in use, a loop left attached, a policy or
    /// image list that is invalid, a write error on standard output.
    Failed,
    /// `-a`/`-u`: this many partitions could not be mapped (1 to 255; more count as 255).
    Failures(u8),
    /// 2: helper mode: the udev event is malformed or does not match the device it names.
    BadEvent,
}

impl Exit {
    /// [`Exit::Failed`] when `failed`, else [`Exit::Ok`].
    pub fn failed_if(failed: bool) -> Exit {
        if failed { Exit::Failed } else { Exit::Ok }
    }

    /// The status of `-a`/`-u`: the number of failures, capped at 255 (the reference wraps
    /// it modulo 256, so 256 failures looked like success).
    pub fn counting(failures: usize) -> Exit {
        match failures {
            0 => Exit::Ok,
            n => Exit::Failures(u8::try_from(n).unwrap_or(u8::MAX)),
        }
    }

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Failures(n) => n,
            Exit::BadEvent => 2,
        }
    }

    /// The status of a run that could not do its work at all: a failure, except for `-d` of
    /// an image file that no loop device shows (nothing to remove, as with the reference).
    pub fn of_error(err: &EngineError) -> Exit {
        match err {
            EngineError::Resolve(ResolveError::NoLoopForDelete) => Exit::Ok,
            _ => Exit::Failed,
        }
    }

    /// The status of a run that did its work: `failures` steps failed, or something else
    /// (a loop left attached) went wrong.
    pub fn of_outcome(failures: usize, other_failure: bool) -> Exit {
        Exit::failed_if(failures > 0 || other_failure)
    }

    /// Whether the run succeeded.
    pub fn is_ok(self) -> bool {
        self.code() == 0
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// The statuses as the documentation gives them: the status, then what it means. The man
/// page's EXIT STATUS section and the README's table say exactly this (a test checks both).
pub const TABLE: [(&str, &str); 4] = [
    (
        "0",
        "Success, or nothing to do: also when no partition table is found, and for -d of an \
         image file that no loop device shows.",
    ),
    (
        "1",
        "Failure: a usage error; device-mapper is not available; the device cannot be found, \
         used or read; a loop device cannot be attached or detached; a map could not be made \
         or removed, or one is left in use (-d then removes none); a device-mapper device that \
         is suspended or has no usable path is not read; a name is taken by a foreign map; an \
         invalid policy or image list; a write error on standard output.",
    ),
    (
        "N",
        "With -a and -u: the number of partitions that could not be mapped, or of stale maps \
         that could not be removed; with --map-images and --unmap-images: the number of \
         images that could not be mapped or unmapped; at most 255.",
    ),
    (
        "2",
        "With --udev and --udev-del-part-nodes: the udev event is malformed or does not match \
         the device it names.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_and_capped() {
        assert_eq!(Exit::counting(0), Exit::Ok);
        assert_eq!(Exit::counting(3).code(), 3);
        assert_eq!(Exit::counting(256).code(), 255);
        assert!(!Exit::counting(256).is_ok());
        assert_eq!(Exit::failed_if(true), Exit::Failed);
        assert_eq!(Exit::BadEvent.code(), 2);
    }

    #[test]
    fn the_man_page_and_the_readme_document_every_status() {
        let page = include_str!("../packaging/man/kpartx.8");
        let section = page
            .split("\n.SH EXIT STATUS\n")
            .nth(1)
            .and_then(|rest| rest.split("\n.SH ").next())
            .expect("kpartx.8 has an EXIT STATUS section");
        let man = section.replace("\\-", "-").replace('\n', " ");
        let readme = include_str!("../README.md");
        for (status, meaning) in TABLE {
            assert!(
                man.contains(&format!(".B {status} {meaning}")),
                "kpartx.8 EXIT STATUS lacks: .B {status} / {meaning}"
            );
            assert!(
                readme.contains(&format!("| {status} | {meaning} |")),
                "README's exit status table lacks: | {status} | {meaning} |"
            );
        }
    }
}
