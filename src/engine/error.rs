//! Why a use case could not run at all (as opposed to a step failing: see [`super::Outcome`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::dm::kernel::LookError;
use crate::dm::readiness::Readiness;
use crate::resolve::ResolveError;
use crate::sys_text::strerror;

/// A use case that could not run, with its cause.
#[derive(Debug)]
pub enum EngineError {
    /// The device argument could not be resolved (or a loop attached).
    Resolve(ResolveError),
    /// A lock could not be taken.
    Lock(String, io::Error),
    /// The device could not be read.
    Read(PathBuf, io::Error),
    /// The kernel would not say which device-mapper maps exist (or whether one does).
    Look(LookError),
    /// The node no longer is the device the caller verified (helper mode).
    Changed(PathBuf),
    /// A device-mapper parent that a read could block on for an unknown time; not read.
    NotReady(PathBuf, Readiness),
    /// `--name`: map names are taken by maps that are not this parent's partitions; nothing
    /// was made.
    NameClash(Vec<NameClash>),
}

/// A map name `--name` needs that another map holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameClash {
    /// The name.
    pub name: String,
    /// The DM UUID of the map that holds it (`None`: it has none).
    pub owner: Option<String>,
}

impl fmt::Display for NameClash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.owner {
            Some(uuid) => write!(f, "{} exists and belongs to DM UUID {uuid}", self.name),
            None => write!(f, "{} exists and has no DM UUID", self.name),
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Resolve(e) => match e.detail() {
                Some(detail) => write!(f, "{detail}"),
                None => write!(f, "{e}"),
            },
            EngineError::Lock(what, e) => write!(f, "cannot lock {what}: {}", strerror(e)),
            EngineError::Read(path, e) => {
                write!(f, "{}: {}", path.display(), strerror(e))
            }
            EngineError::Look(e) => write!(f, "{e}"),
            EngineError::Changed(path) => {
                write!(f, "{} is no longer the event's device", path.display())
            }
            EngineError::NotReady(path, state) => write!(
                f,
                "{}: not read, the map is {state} (reading it could block; --read-anyway reads it all the same)",
                path.display()
            ),
            EngineError::NameClash(clashes) => {
                f.write_str("refusing to map anything: ")?;
                for (i, clash) in clashes.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{clash}")?;
                }
                f.write_str(" (not a partition map of this device)")
            }
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EngineError::Lock(_, e) | EngineError::Read(_, e) => Some(e),
            EngineError::Look(e) => Some(e),
            EngineError::Resolve(e) => Some(e),
            EngineError::Changed(_) | EngineError::NotReady(..) | EngineError::NameClash(_) => None,
        }
    }
}

impl From<ResolveError> for EngineError {
    fn from(e: ResolveError) -> Self {
        EngineError::Resolve(e)
    }
}

impl From<LookError> for EngineError {
    fn from(e: LookError) -> Self {
        EngineError::Look(e)
    }
}
