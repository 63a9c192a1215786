//! `/dev/mapper` nodes made by hand, for when udev is not there to make them (initramfs,
//! containers, `DM_DISABLE_UDEV=1`) or did not make them.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::unistd::{Gid, Uid, chown};

use crate::device::DevNum;

/// Directory holding the nodes.
pub const MAPPER_DIR: &str = "/dev/mapper";

/// Permissions and owner for new nodes: those of the parent's node, as the reference does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeOwner {
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl Default for NodeOwner {
    fn default() -> Self {
        NodeOwner {
            mode: 0o600,
            uid: 0,
            gid: 0,
        }
    }
}

impl NodeOwner {
    /// The owner and permissions of the node at `path`, or the default.
    pub fn of(path: &Path) -> NodeOwner {
        fs::metadata(path)
            .map(|m| NodeOwner {
                mode: m.mode() & 0o777,
                uid: m.uid(),
                gid: m.gid(),
            })
            .unwrap_or_default()
    }
}

/// Path of device-mapper's control node.
pub fn control_path() -> PathBuf {
    Path::new(MAPPER_DIR).join("control")
}

/// Path of the node for the stored map name.
pub fn node_path(name: &str) -> PathBuf {
    Path::new(MAPPER_DIR).join(name)
}

/// Whether a block node for `dev` exists under the map's name.
pub fn node_exists(name: &str, dev: DevNum) -> bool {
    fs::metadata(node_path(name))
        .is_ok_and(|m| m.file_type().is_block_device() && DevNum::from_dev_t(m.rdev()) == dev)
}

/// Makes `/dev/mapper/NAME` for `dev`, replacing a stale entry.
pub fn create_node(name: &str, dev: DevNum, owner: NodeOwner) -> io::Result<()> {
    if node_exists(name, dev) {
        return Ok(());
    }
    fs::create_dir_all(MAPPER_DIR)?;
    let path = node_path(name);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let devt = makedev(u64::from(dev.major), u64::from(dev.minor));
    mknod(
        &path,
        SFlag::S_IFBLK,
        Mode::from_bits_truncate(owner.mode),
        devt,
    )?;
    chown(
        &path,
        Some(Uid::from_raw(owner.uid)),
        Some(Gid::from_raw(owner.gid)),
    )?;
    Ok(())
}

/// Removes `/dev/mapper/NAME` when it is a block node (never anything else).
pub fn remove_node(name: &str) -> io::Result<()> {
    let path = node_path(name);
    match fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_block_device() || m.file_type().is_symlink() => {
            fs::remove_file(path)
        }
        _ => Ok(()),
    }
}

/// Renames a node after its map was renamed.
pub fn rename_node(old: &str, new: &str) -> io::Result<()> {
    match fs::rename(node_path(old), node_path(new)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
