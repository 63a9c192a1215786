//! Turns the device argument into the parent whose partitions are listed or mapped.
//!
//! Image files get a loop device (an existing one bound to the file, else a new one); block
//! devices are used as they are. The parent's name and ownership UUID follow the reference:
//! a device-mapper parent is named by its DM name and owns maps through its DM UUID; any other
//! device is named after the basename of the path as given and owns maps through the synthetic
//! `devnode_<maj>:<min>_Wh5pYvM` UUID.
//!
//! Paths and names are bytes: a device argument that is not UTF-8 works like any other (a
//! name derived from it is refused only when a device-mapper name has to be built).

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::device::DevNum;
use crate::device::loopdev::{self, AttachError, AttachOptions, LoopDevice};
use crate::device::sysfs;
use crate::sys_text::{basename, strerror};
use kpartx_table::naming::devnode_uuid;
use kpartx_table::sector_size::{self, SectorSize};

/// Why the device is being resolved; decides whether a loop may be attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `-l`: never attach. An image file is read directly, under the name of the loop device
    /// `-a` would use: the one already bound to it, else the one the kernel would hand out
    /// next.
    List {
        /// The logical sector size for an image file no loop is bound to.
        sector_size: SectorSize,
    },
    /// `-a`/`-u`: attach a loop if needed (read-only when asked).
    Map {
        /// `-r`: bind the loop read-only.
        read_only: bool,
        /// The logical block size of a loop attached for an image file.
        sector_size: SectorSize,
    },
    /// `-d`: never attach; a file without a loop has nothing to delete.
    Delete,
    /// `--dry-run` of `-a`/`-u`: never attach; for a file without a loop, predict the loop
    /// a real run would attach (as for `-l`) and read the file itself.
    Preview {
        /// The logical sector size for an image file no loop is bound to.
        sector_size: SectorSize,
    },
}

/// The whole-disk device whose partitions kpartx works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    /// The path printed in listings: as given for block devices, `/dev/loopN` for files.
    pub path: PathBuf,
    /// Its device number.
    pub dev: DevNum,
    /// The name partition maps are derived from (DM name or basename).
    pub name: OsString,
    /// Its own device-mapper UUID, when it is a DM device that has one.
    pub dm_uuid: Option<String>,
    /// Whether it is a device-mapper device.
    pub is_dm: bool,
    /// Whether the kernel marks it read-only (its partition maps are made read-only too).
    pub read_only: bool,
}

impl Parent {
    /// The UUID partition maps of this parent carry after `part<N>-`.
    pub fn ownership_uuid(&self) -> String {
        self.dm_uuid
            .clone()
            .unwrap_or_else(|| devnode_uuid(self.dev))
    }
}

/// How a loop device came to back an image file.
#[derive(Debug)]
pub struct ImageLoop {
    /// The loop device.
    pub device: LoopDevice,
    /// True when this run attached it (and so must not leak it).
    pub created: bool,
    /// Set in a dry run when no loop backs the image: the loop in [`ImageLoop::device`] is
    /// only predicted (not attached); the table is read from this file (see [`Source`]).
    pub predicted_from: Option<PathBuf>,
}

/// Where the partition table is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The parent device itself.
    Parent,
    /// The image file, as a disk of `sector_size`-byte sectors (`-l` of an image: no loop).
    Image {
        /// The image's resolved path.
        file: PathBuf,
        /// The logical sector size it is read with.
        sector_size: u32,
    },
}

/// A resolved device argument.
#[derive(Debug)]
pub struct Resolved {
    /// The parent device.
    pub parent: Parent,
    /// Set when a loop device backs the image file argument for this run.
    pub image: Option<ImageLoop>,
    /// Where the table is read from.
    pub source: Source,
}

/// Why a device argument could not be resolved; each maps to a reference message.
#[derive(Debug)]
pub enum ResolveError {
    /// `stat()` of the path failed, with the system's answer. The message names the path only,
    /// as the reference's does; the answer is the error's source.
    Stat(PathBuf, io::Error),
    /// The image file's real path could not be computed.
    Realpath(PathBuf, io::Error),
    /// No loop device could be attached to the image.
    LoopSetup {
        /// The image as given on the command line.
        file: PathBuf,
        /// What failed.
        error: AttachError,
    },
    /// Neither a regular file nor a block device.
    NotBlock(PathBuf),
    /// `-d` on an image file that no loop device backs: nothing to do.
    NoLoopForDelete,
    /// The image file could not be read.
    ReadImage(PathBuf, io::Error),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Stat(dev, _) => write!(f, "failed to stat() {}", dev.display()),
            ResolveError::Realpath(dev, e) => {
                write!(f, "Error: {}: {}", dev.display(), strerror(e))
            }
            ResolveError::LoopSetup { .. } => f.write_str("can't set up loop"),
            ResolveError::NotBlock(dev) => write!(f, "invalid device: {}", dev.display()),
            ResolveError::NoLoopForDelete => f.write_str("no loop device backs the file"),
            ResolveError::ReadImage(file, e) => {
                write!(
                    f,
                    "kpartx: {}: cannot read: {}",
                    file.display(),
                    strerror(e)
                )
            }
        }
    }
}

impl std::error::Error for ResolveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResolveError::Stat(_, e)
            | ResolveError::Realpath(_, e)
            | ResolveError::ReadImage(_, e) => Some(e),
            ResolveError::LoopSetup { error, .. } => Some(error),
            ResolveError::NotBlock(_) | ResolveError::NoLoopForDelete => None,
        }
    }
}

impl ResolveError {
    /// A line naming the file and the cause, printed before the reference's terse line
    /// (`can't set up loop`); `None` when the reference's line says it all.
    pub fn detail(&self) -> Option<String> {
        let ResolveError::LoopSetup { file, error } = self else {
            return None;
        };
        Some(format!(
            "{}: cannot set up a loop device: {error}",
            file.display()
        ))
    }
}

/// Resolves the device argument as the reference does (stat follows symlinks; the name uses
/// the path as given, not resolved).
pub fn resolve(arg: impl AsRef<Path>, purpose: Purpose) -> Result<Resolved, ResolveError> {
    let arg = arg.as_ref();
    let meta = fs::metadata(arg).map_err(|e| ResolveError::Stat(arg.to_path_buf(), e))?;
    if meta.file_type().is_file() {
        return resolve_image(arg, purpose);
    }
    if !meta.file_type().is_block_device() {
        return Err(ResolveError::NotBlock(arg.to_path_buf()));
    }
    let dev = DevNum::from_dev_t(meta.rdev());
    let parent = match sysfs::dm_name(dev) {
        Some(name) => Parent {
            path: arg.to_path_buf(),
            dev,
            name: name.into(),
            dm_uuid: sysfs::dm_uuid(dev),
            is_dm: true,
            read_only: sysfs::read_only(dev),
        },
        None => plain_parent(arg, dev),
    };
    Ok(Resolved {
        parent,
        image: None,
        source: Source::Parent,
    })
}

/// The first [`sector_size::HEAD_BYTES`] bytes of an image (fewer when it is shorter).
fn image_head(file: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut head = Vec::with_capacity(sector_size::HEAD_BYTES);
    fs::File::open(file)?
        .take(sector_size::HEAD_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// `-l` of an image: the loop `-a` would use is named, nothing is attached.
fn list_image(arg: &Path, real: &Path, sector_size: SectorSize) -> Result<Resolved, ResolveError> {
    let read_err = |e| ResolveError::ReadImage(arg.to_path_buf(), e);
    if let Some(device) = loopdev::find_by_backing_file(real) {
        let meta =
            fs::metadata(&device.path).map_err(|e| ResolveError::Stat(device.path.clone(), e))?;
        let name = basename(device.path.as_os_str());
        let size = name.to_str().and_then(loopdev::logical_block_size);
        // The existing loop is what `-a` would map: read the file as that loop shows it.
        return Ok(Resolved {
            parent: plain_parent(&device.path, DevNum::from_dev_t(meta.rdev())),
            image: None,
            source: Source::Image {
                file: real.to_path_buf(),
                sector_size: size.unwrap_or(512),
            },
        });
    }
    let head = image_head(real).map_err(read_err)?;
    let number = loopdev::predict_next_free();
    let path = PathBuf::from(format!("/dev/loop{number}"));
    Ok(Resolved {
        parent: plain_parent(&path, DevNum::new(loopdev::LOOP_MAJOR, number)),
        image: None,
        source: Source::Image {
            file: real.to_path_buf(),
            sector_size: sector_size.for_image(&head),
        },
    })
}

fn resolve_image(arg: &Path, purpose: Purpose) -> Result<Resolved, ResolveError> {
    let real = fs::canonicalize(arg).map_err(|e| ResolveError::Realpath(arg.to_path_buf(), e))?;
    let image = match (loopdev::find_by_backing_file(&real), purpose) {
        (_, Purpose::List { sector_size }) => return list_image(arg, &real, sector_size),
        (Some(device), _) => ImageLoop {
            device,
            created: false,
            predicted_from: None,
        },
        (None, Purpose::Delete) => return Err(ResolveError::NoLoopForDelete),
        (None, Purpose::Preview { sector_size }) => {
            let mut resolved = list_image(arg, &real, sector_size)?;
            resolved.image = Some(ImageLoop {
                device: LoopDevice {
                    path: resolved.parent.path.clone(),
                    read_only: false,
                },
                created: false,
                predicted_from: Some(real),
            });
            return Ok(resolved);
        }
        // Maps keep the loop open, but between runs (`-a` now, `-d` later) nothing does: the
        // loop is not auto-clearing, or it would vanish when this run exits without maps.
        (
            None,
            Purpose::Map {
                read_only,
                sector_size,
            },
        ) => {
            // An unreadable head leaves 512; attaching then says why the file cannot be used.
            let head = image_head(&real).unwrap_or_default();
            let opts = AttachOptions {
                read_only,
                block_size: sector_size.for_image(&head),
            };
            attached(arg, &real, opts)?
        }
    };
    let path = image.device.path.clone();
    let meta = match fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if !image.created => return Err(ResolveError::Stat(path, e)),
        Err(source) => {
            // Best effort: a loop bound a moment ago must not leak.
            let _ = loopdev::detach(&path, || {});
            return Err(ResolveError::LoopSetup {
                file: arg.to_path_buf(),
                error: AttachError {
                    context: Some(path.display().to_string()),
                    source,
                },
            });
        }
    };
    let parent = plain_parent(&path, DevNum::from_dev_t(meta.rdev()));
    Ok(Resolved {
        parent,
        image: Some(image),
        source: Source::Parent,
    })
}

/// Attaches a loop to `real` (the resolved path of `arg`).
fn attached(arg: &Path, real: &Path, opts: AttachOptions) -> Result<ImageLoop, ResolveError> {
    let loop_ = loopdev::attach(real, opts).map_err(|error| ResolveError::LoopSetup {
        file: arg.to_path_buf(),
        error,
    })?;
    Ok(ImageLoop {
        device: loop_,
        created: true,
        predicted_from: None,
    })
}

fn plain_parent(path: &Path, dev: DevNum) -> Parent {
    Parent {
        path: path.to_path_buf(),
        dev,
        name: basename(path.as_os_str()),
        dm_uuid: None,
        is_dm: false,
        read_only: sysfs::read_only(dev),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: Purpose = Purpose::List {
        sector_size: SectorSize::Auto,
    };

    #[test]
    fn a_failed_stat_keeps_the_system_answer() {
        let missing = Path::new("/nonexistent/kpartx-test");
        let err = resolve(missing, LIST).unwrap_err();
        let ResolveError::Stat(path, cause) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(path, missing);
        assert_eq!(cause.raw_os_error(), Some(libc::ENOENT));
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(err.to_string(), "failed to stat() /nonexistent/kpartx-test");
    }

    #[test]
    fn ownership_uuid_falls_back_to_devnode() {
        let p = plain_parent(Path::new("/dev/loop0"), DevNum::new(7, 0));
        assert_eq!(p.ownership_uuid(), "devnode_7:0_Wh5pYvM");
        let dm = Parent {
            dm_uuid: Some("mpath-3600".into()),
            is_dm: true,
            ..p
        };
        assert_eq!(dm.ownership_uuid(), "mpath-3600");
    }

    #[test]
    fn missing_device_is_a_stat_error() {
        let err = resolve("/nonexistent/disk.img", LIST).unwrap_err();
        assert_eq!(err.to_string(), "failed to stat() /nonexistent/disk.img");
    }

    #[test]
    fn loop_setup_errors_name_the_file_and_the_cause() {
        let err = ResolveError::LoopSetup {
            file: "disk.img".into(),
            error: AttachError {
                context: Some("/dev/loop-control".into()),
                source: io::Error::from_raw_os_error(libc::EACCES),
            },
        };
        assert_eq!(err.to_string(), "can't set up loop");
        assert_eq!(
            err.detail().as_deref(),
            Some("disk.img: cannot set up a loop device: /dev/loop-control: Permission denied")
        );
        let err = ResolveError::LoopSetup {
            file: "disk.img".into(),
            error: AttachError {
                context: None,
                source: io::Error::from_raw_os_error(libc::EACCES),
            },
        };
        assert_eq!(
            err.detail().as_deref(),
            Some("disk.img: cannot set up a loop device: Permission denied")
        );
        assert_eq!(ResolveError::NotBlock("/".into()).detail(), None);
    }

    #[test]
    fn directories_are_invalid() {
        let err = resolve("/", LIST).unwrap_err();
        assert_eq!(err.to_string(), "invalid device: /");
    }
}
