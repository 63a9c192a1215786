//! Facts about block devices read from sysfs (works without udev's `/dev/block` links).

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::device::DevNum;
use kpartx_table::naming::unmangle_dm_name;

/// Where sysfs lives; tests may point elsewhere.
pub const SYSFS: &str = "/sys";

/// sysfs directory of a block device: `/sys/dev/block/MAJ:MIN`.
pub fn dev_dir(dev: DevNum) -> PathBuf {
    Path::new(SYSFS).join("dev/block").join(dev.to_string())
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let text = text.trim_end_matches('\n');
    (!text.is_empty()).then(|| text.to_string())
}

/// Device-mapper name of `dev` (unescaped), or `None` when it is not a DM device.
pub fn dm_name(dev: DevNum) -> Option<String> {
    read_trimmed(&dev_dir(dev).join("dm/name")).map(|n| unmangle_dm_name(&n))
}

/// Device-mapper UUID of `dev`, `None` when it has none or is not a DM device.
pub fn dm_uuid(dev: DevNum) -> Option<String> {
    read_trimmed(&dev_dir(dev).join("dm/uuid"))
}

/// Kernel name of `dev` (`loop0`, `dm-3`, `sda`).
pub fn kernel_name(dev: DevNum) -> Option<String> {
    let link = fs::read_link(dev_dir(dev)).ok()?;
    Some(link.file_name()?.to_string_lossy().into_owned())
}

/// Devices that `dev` sits on (`slaves/`), as device numbers.
pub fn slaves(dev: DevNum) -> Vec<DevNum> {
    let Ok(entries) = fs::read_dir(dev_dir(dev).join("slaves")) else {
        return Vec::new();
    };
    let mut out: Vec<DevNum> = entries
        .flatten()
        .filter_map(|e| read_trimmed(&e.path().join("dev")))
        .filter_map(|d| DevNum::parse(&d))
        .collect();
    out.sort();
    out
}

/// Size of `dev` in 512-byte sectors, from sysfs.
pub fn size_sectors(dev: DevNum) -> Option<u64> {
    read_trimmed(&dev_dir(dev).join("size"))?.parse().ok()
}

/// Backing file of a loop device named `name` (`loop0`), if bound. The path is read as bytes:
/// it need not be UTF-8.
pub fn loop_backing_file(name: &str) -> Option<PathBuf> {
    let file = Path::new(SYSFS)
        .join("block")
        .join(name)
        .join("loop/backing_file");
    let mut bytes = fs::read(file).ok()?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    (!bytes.is_empty()).then(|| PathBuf::from(OsString::from_vec(bytes)))
}

/// The device-mapper name of `dev` as the kernel stores it (mangled, for look-ups by name),
/// `None` when it is not a DM device.
pub fn dm_stored_name(dev: DevNum) -> Option<String> {
    read_trimmed(&dev_dir(dev).join("dm/name"))
}

/// Whether the device-mapper device `dev` is suspended (sysfs `dm/suspended`).
pub fn dm_suspended(dev: DevNum) -> bool {
    read_trimmed(&dev_dir(dev).join("dm/suspended")).as_deref() == Some("1")
}

/// Whether the block device `dev` is read-only (sysfs `ro`).
pub fn read_only(dev: DevNum) -> bool {
    read_trimmed(&dev_dir(dev).join("ro")).as_deref() == Some("1")
}

/// Stored names of the device-mapper devices stacked on `dev` (its `holders/` that are DM
/// devices), sorted by kernel name. Reads only `dev`'s own directory and its holders'.
pub fn dm_holder_names(dev: DevNum) -> Vec<String> {
    let block = Path::new(SYSFS).join("block");
    holders(dev)
        .iter()
        .filter_map(|kname| read_trimmed(&block.join(kname).join("dm/name")))
        .collect()
}

/// Kernel names of the devices stacked on `dev` (`holders/`), sorted.
pub fn holders(dev: DevNum) -> Vec<String> {
    entry_names(&dev_dir(dev).join("holders"))
}

/// The sorted names in directory `dir` (none when it cannot be read).
fn entry_names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Whether a block device with number `dev` exists.
pub fn exists(dev: DevNum) -> bool {
    dev_dir(dev).exists()
}
