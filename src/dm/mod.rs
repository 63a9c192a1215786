//! Device-mapper: the map operations the planner's steps need, with udev synchronisation.
//!
//! [`kernel::Kernel`] uses the `devicemapper` crate for everything except the three ioctls
//! that carry a udev cookie, which go through [`raw`] so that [`cookie`] can bound the wait,
//! honour `-n` and `DM_DISABLE_UDEV`, and send multipath's reload flag.

pub mod by_id;
pub mod cookie;
pub mod kernel;
pub mod model;
pub mod nodes;
pub mod raw;
pub mod readiness;
pub mod types;
pub mod udev_db;
pub mod udevd_probe;
pub mod unanswered;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::deadline::Deadline;
use crate::device::DevNum;
use model::MapSpec;
use types::{MapName, MapUuid};
use unanswered::Reach;

/// How long, by default, a run waits for partition maps it must remove to be closed: udev's
/// probes (blkid after a reload, a close after write) keep a map open for a moment, and a
/// teardown must not stop half-way for that (libdevmapper retries 25 × 200 ms). The run's
/// [`Deadline`] is set from it.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which part of an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Creating the map or loading its table.
    Load,
    /// Resuming the map.
    Resume,
    /// Renaming the map.
    Rename,
    /// Removing the map.
    Remove,
    /// The kernel did it, but udev did not finish in time.
    Udev,
}

/// A failed map operation: where, what the kernel or the system said in plain words, and the
/// error it came from (`io::Error`, the `devicemapper` crate's error) as its source.
#[derive(Debug, Clone)]
pub struct OpError {
    /// Where it failed.
    pub stage: Stage,
    /// What the kernel or the system said.
    pub detail: String,
    cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PartialEq for OpError {
    fn eq(&self, other: &Self) -> bool {
        self.stage == other.stage && self.detail == other.detail
    }
}

impl Eq for OpError {}

impl std::error::Error for OpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl OpError {
    /// An error at `stage`, described by `detail`, without an underlying error.
    pub fn new(stage: Stage, detail: impl fmt::Display) -> Self {
        OpError {
            stage,
            detail: detail.to_string(),
            cause: None,
        }
    }

    /// An error at `stage` caused by the system call error `err` (told as its errno's text).
    pub fn io(stage: Stage, err: std::io::Error) -> Self {
        OpError {
            stage,
            detail: crate::sys_text::strerror(&err),
            cause: Some(Arc::new(err)),
        }
    }

    /// `context: <plain cause>` at `stage`, keeping `err` as the source.
    pub fn io_in(stage: Stage, context: &str, err: std::io::Error) -> Self {
        OpError {
            stage,
            detail: format!("{context}: {}", crate::sys_text::strerror(&err)),
            cause: Some(Arc::new(err)),
        }
    }

    /// The error for a udev wait that ran out with `pending` events outstanding.
    pub fn udev_timeout(pending: u32, waited: Duration, cookie: u32) -> Self {
        OpError::new(
            Stage::Udev,
            format!(
                "udev did not finish processing {pending} device-mapper event(s): no udev progress for {}s (cookie 0x{cookie:x}); \
                 check that udevd runs in this IPC namespace and that its device-mapper rules \
                 (95-dm-notify.rules, 'dmsetup udevcomplete') are installed, raise \
                 --udev-timeout, or set DM_DISABLE_UDEV=1 to work without udev",
                waited.as_secs_f64()
            ),
        )
    }
}

impl OpError {
    /// An error at `stage` from the `devicemapper` crate, in plain words (see
    /// [`plain_cause`]), keeping the crate's error as the source.
    pub fn dm(stage: Stage, err: devicemapper::DmError) -> Self {
        OpError {
            stage,
            detail: plain_cause(&err),
            cause: Some(Arc::new(err)),
        }
    }
}

/// The cause of a `devicemapper` crate error in plain words: the errno's text for a failed
/// ioctl (`No such device or address`), the message for an invalid argument; never the
/// crate's `DM Core error: …` layers.
pub fn plain_cause(err: &devicemapper::DmError) -> String {
    use devicemapper::{DmError, errors::Error};
    match err {
        DmError::Core(Error::Ioctl(.., errno)) => errno.desc().to_string(),
        DmError::Core(Error::InvalidArgument(text) | Error::ContextInit(text)) => text.clone(),
        other => other.to_string(),
    }
}

/// Whether device-mapper answered "no such device" (ENXIO): the only answer that means a map
/// is absent.
pub fn no_such_map(err: &devicemapper::DmError) -> bool {
    errno(err) == Some(libc::ENXIO)
}

/// The errno of a failed device-mapper ioctl, `None` for the crate's other errors.
fn errno(err: &devicemapper::DmError) -> Option<i32> {
    use devicemapper::{DmError, errors::Error};
    match err {
        DmError::Core(Error::Ioctl(.., errno)) => Some(**errno as i32),
        _ => None,
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// How a run's udev transaction ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Settled {
    /// Nothing was waited for: no operation, udev not running, `-n`, or `DM_DISABLE_UDEV`.
    #[default]
    NotWaited,
    /// udev completed the cookie.
    Completed,
    /// udev processed every event (its database and the nodes were checked), but never
    /// completed the cookie.
    Unanswered(Unanswered),
}

/// A transaction udev processed without completing its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unanswered {
    /// Events whose completion never came.
    pub events: u32,
    /// The cookie, as `dmsetup udevcookies` would show it.
    pub cookie: u32,
    /// Why the completion did not come.
    pub reach: Reach,
}

impl fmt::Display for Unanswered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "udev processed the {} device-mapper event(s) of cookie 0x{:x} but never completed \
             it: {}; the maps' nodes and udev's database were checked instead. To avoid this, {}",
            self.events,
            self.cookie,
            self.reach,
            self.reach.advice()
        )
    }
}

/// Which maps a use case needs to see: those of one parent, never the whole host.
///
/// A SAN host has thousands of device-mapper devices; one event's work must depend on the
/// parent's own partitions only. So instead of listing every map, a look asks for the maps
/// stacked on the parent (sysfs `holders/`) and looks up the names and UUIDs its partition
/// maps would have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapQuery {
    /// Every map stacked on this device.
    pub stacked_on: Option<DevNum>,
    /// Maps looked up by stored name (the partition maps' names: reloads and name clashes).
    pub names: Vec<MapName>,
    /// Maps looked up by UUID (`part<N>-<parent uuid>`: renames, maps left without a table).
    pub uuids: Vec<MapUuid>,
}

/// The operations the executor performs; implemented by [`kernel::Kernel`] and by test fakes.
pub trait MapOps {
    /// Creates a map, loads its table and resumes it; returns its device number.
    fn create(&self, spec: &MapSpec) -> Result<DevNum, OpError>;
    /// Loads a new table into an existing map and resumes it.
    fn reload(&self, spec: &MapSpec) -> Result<DevNum, OpError>;
    /// Keeps existing map `dev`, which already is `spec`: loads nothing, but sees that its
    /// `/dev/mapper` node is there (made here without udev; where udev makes the nodes and it
    /// is missing or wrong, the map is reloaded after all, so that udev gets an event to make
    /// it from).
    fn keep(&self, spec: &MapSpec, dev: DevNum) -> Result<DevNum, OpError>;
    /// Renames a map (stored names).
    fn rename(&self, from: &MapName, to: &MapName) -> Result<(), OpError>;
    /// Removes a map (stored name); while it is open (EBUSY), tries again until `deadline`.
    fn remove(&self, name: &MapName, flush: bool, deadline: Deadline) -> Result<(), OpError>;
    /// Waits (bounded) until udev has processed the events of every operation so far, where
    /// the caller asked for that; makes or removes nodes udev did not. Callers release their
    /// locks first, so that nobody waits for them while udev works.
    fn settle(&self) -> Result<Settled, OpError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_errors_are_told_in_plain_words() {
        let too_long = "x".repeat(200);
        let err = devicemapper::DmName::new(&too_long).unwrap_err();
        let op = OpError::dm(Stage::Load, err);
        assert!(!op.detail.contains("DM Core error"), "{op}");
        assert!(!op.detail.is_empty());
        let source = std::error::Error::source(&op).expect("the crate's error is kept");
        assert!(source.to_string().contains("DM Core error"));
    }
}
