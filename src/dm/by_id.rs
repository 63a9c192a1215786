//! The by-id properties of partition maps (`DM_MPATH`, `DM_PART`, `DM_TYPE`, `DM_WWN`,
//! `DM_SERIAL`) from which `56-kpartx-parts.rules` makes the `/dev/disk/by-id/…-partN` and
//! `wwn-…-partN` links: what upstream's `kpartx_id` script computes with `dmsetup`.
//!
//! They come from the map's DM UUID (`part<N>-mpath-<wwid>`) and sysfs (the parent's name and
//! the majors of its path devices), and reach udev one of two ways:
//! - published: whenever kpartx creates or reloads a partition map with udev running, it
//!   writes them to `/run/kpartx/id/<DM UUID>` before the map's uevent, and the rules import
//!   that file (`IMPORT{file}`). No program starts for the event: under a storm of multipath
//!   maps, one process per partition map event was the largest cost beyond udev's own work.
//!   Removing the map through kpartx removes the file.
//! - computed: for maps made by other tools (or when no file could be written) the rules run
//!   `kpartx --udev-id` ([`crate::hotplug::part_links`]).
//!
//! A published file can only be stale in `DM_MPATH`, after the parent was renamed by
//! someone else; kpartx rewrites it on its next create or reload of the map.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::device::DevNum;
use crate::device::sysfs;
use kpartx_table::naming::{UuidForm, is_partition_uuid, parse_uuid};

/// Where published properties live: one file per partition map, named after its DM UUID.
pub const ID_DIR: &str = "/run/kpartx/id";

/// What the properties are computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdFacts {
    /// The map's DM UUID (`part1-mpath-3600…`, `mpath-3600…`).
    pub dm_uuid: String,
    /// DM name of the partition map's parent, when known.
    pub parent_name: Option<String>,
    /// Major numbers of the devices the multipath map sits on.
    pub path_majors: Vec<u32>,
}

impl IdFacts {
    /// Gathers the facts for map `dev` with UUID `dm_uuid` from sysfs: for a partition map,
    /// from the device it sits on.
    pub fn gather(dev: DevNum, dm_uuid: &str) -> IdFacts {
        if is_partition_uuid(dm_uuid) {
            match sysfs::slaves(dev).first() {
                Some(&parent) => IdFacts::of_partition(parent, dm_uuid),
                None => IdFacts {
                    dm_uuid: dm_uuid.to_string(),
                    parent_name: None,
                    path_majors: Vec::new(),
                },
            }
        } else {
            IdFacts {
                dm_uuid: dm_uuid.to_string(),
                parent_name: None,
                path_majors: path_majors(dev, dm_uuid),
            }
        }
    }

    /// The facts for partition map `dm_uuid` on `parent`, which need not exist yet.
    pub fn of_partition(parent: DevNum, dm_uuid: &str) -> IdFacts {
        IdFacts {
            dm_uuid: dm_uuid.to_string(),
            parent_name: sysfs::dm_name(parent),
            path_majors: path_majors(parent, dm_uuid),
        }
    }
}

/// Majors of the path devices under multipath map `map`, when `dm_uuid` belongs to one.
fn path_majors(map: DevNum, dm_uuid: &str) -> Vec<u32> {
    if mpath_serial(dm_uuid).is_none() {
        return Vec::new();
    }
    sysfs::slaves(map).iter().map(|d| d.major).collect()
}

/// The multipath WWID the map belongs to, if it is (a partition of) a multipath map.
fn mpath_serial(uuid: &str) -> Option<&str> {
    let wwid = match parse_uuid(uuid) {
        UuidForm::Partition { parent, .. } => match parse_uuid(parent) {
            UuidForm::Multipath { wwid } => wwid,
            _ => return None,
        },
        UuidForm::Multipath { wwid } => wwid,
        UuidForm::Other => return None,
    };
    (!wwid.is_empty()).then_some(wwid)
}

/// Transport type from the path devices' majors: DASD, cciss, md, else SCSI.
fn transport(majors: &[u32]) -> &'static str {
    let any = |f: &dyn Fn(u32) -> bool| majors.iter().any(|&m| f(m));
    if majors.is_empty() {
        "raid"
    } else if any(&|m| m == 94) {
        "ccw"
    } else if any(&|m| (104..=110).contains(&m) || m == 112) {
        "cciss"
    } else if any(&|m| m.to_string().starts_with('9')) {
        "raid"
    } else {
        "scsi"
    }
}

/// The `KEY=value` lines, in `kpartx_id`'s order. Maps that are neither partitions nor
/// multipath maps get none.
pub fn properties(facts: &IdFacts) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match parse_uuid(&facts.dm_uuid) {
        UuidForm::Partition { number, .. } => {
            out.push((
                "DM_MPATH".to_string(),
                facts.parent_name.clone().unwrap_or_default(),
            ));
            out.push(("DM_PART".to_string(), number.to_string()));
        }
        UuidForm::Multipath { .. } => {}
        UuidForm::Other => return out,
    }
    let serial = mpath_serial(&facts.dm_uuid);
    let kind = transport(&facts.path_majors);
    out.push(("DM_TYPE".to_string(), kind.to_string()));
    if let (Some(serial), "scsi") = (serial, kind) {
        let wwn: String = serial.chars().skip(1).collect();
        out.push(("DM_WWN".to_string(), format!("0x{wwn}")));
    }
    if let Some(serial) = serial {
        out.push(("DM_SERIAL".to_string(), serial.to_string()));
    }
    out
}

/// The properties as `KEY=value` lines, the format of both `IMPORT{program}` output and
/// `IMPORT{file}` files.
pub fn render(props: &[(String, String)]) -> String {
    props.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// The directory of published properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdStore {
    dir: PathBuf,
}

impl IdStore {
    /// The system's: [`ID_DIR`].
    pub fn system() -> IdStore {
        IdStore::in_dir(Path::new(ID_DIR))
    }

    /// Another directory (tests).
    pub fn in_dir(dir: &Path) -> IdStore {
        IdStore {
            dir: dir.to_path_buf(),
        }
    }

    /// Publishes the properties of partition map `dm_uuid` on `parent`, replacing an older
    /// file in one rename. Does nothing for a UUID that is not a partition map's or cannot be
    /// a file name.
    pub fn publish(&self, parent: DevNum, dm_uuid: &str) -> io::Result<()> {
        let Some(path) = self.path_of(dm_uuid) else {
            return Ok(());
        };
        let text = render(&properties(&IdFacts::of_partition(parent, dm_uuid)));
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let tmp = self.dir.join(format!(".{dm_uuid}.{}", std::process::id()));
        let written = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .and_then(|()| fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// Removes what was published for `dm_uuid`; nothing there is fine.
    pub fn withdraw(&self, dm_uuid: &str) -> io::Result<()> {
        let Some(path) = self.path_of(dm_uuid) else {
            return Ok(());
        };
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The file for `dm_uuid`, if it is a partition map's UUID that can name a file in the
    /// directory (the rules substitute it unchanged into the path).
    fn path_of(&self, dm_uuid: &str) -> Option<PathBuf> {
        (is_partition_uuid(dm_uuid) && !dm_uuid.contains('/') && !dm_uuid.contains('\0'))
            .then(|| self.dir.join(dm_uuid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(uuid: &str, majors: &[u32]) -> IdFacts {
        IdFacts {
            dm_uuid: uuid.into(),
            parent_name: Some("mpatha".into()),
            path_majors: majors.to_vec(),
        }
    }

    #[test]
    fn scsi_multipath_partition() {
        let p = properties(&facts("part2-mpath-3600a0b8", &[8, 65]));
        assert_eq!(
            render(&p),
            "DM_MPATH=mpatha\nDM_PART=2\nDM_TYPE=scsi\nDM_WWN=0x600a0b8\nDM_SERIAL=3600a0b8\n"
        );
    }

    #[test]
    fn transports() {
        assert_eq!(transport(&[94]), "ccw");
        assert_eq!(transport(&[104]), "cciss");
        assert_eq!(transport(&[112]), "cciss");
        assert_eq!(transport(&[9]), "raid");
        assert_eq!(transport(&[]), "raid");
        assert_eq!(transport(&[8, 253]), "scsi");
    }

    #[test]
    fn non_multipath_partition_is_raid_without_serial() {
        let p = properties(&facts("part1-devnode_7:0_Wh5pYvM", &[]));
        assert_eq!(render(&p), "DM_MPATH=mpatha\nDM_PART=1\nDM_TYPE=raid\n");
    }

    #[test]
    fn multipath_map_itself_and_others() {
        let p = properties(&IdFacts {
            dm_uuid: "mpath-3600".into(),
            parent_name: None,
            path_majors: vec![8],
        });
        assert_eq!(render(&p), "DM_TYPE=scsi\nDM_WWN=0x600\nDM_SERIAL=3600\n");
        assert!(properties(&facts("LVM-abc", &[8])).is_empty());
        assert!(properties(&facts("partx-mpath-1", &[8])).is_empty());
    }

    #[test]
    fn publish_replaces_and_withdraw_removes() {
        let dir = tempfile::tempdir().unwrap();
        let store = IdStore::in_dir(&dir.path().join("id"));
        // A parent that does not exist: no name, no paths; the UUID still gives the number
        // and the serial.
        let parent = DevNum::new(4095, 1_048_575);
        let uuid = "part3-mpath-3600a0b8";
        store.publish(parent, uuid).unwrap();
        let file = dir.path().join("id").join(uuid);
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "DM_MPATH=\nDM_PART=3\nDM_TYPE=raid\nDM_SERIAL=3600a0b8\n"
        );
        store.publish(parent, uuid).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path().join("id"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [uuid], "no temporary file is left behind");
        store.withdraw(uuid).unwrap();
        assert!(!file.exists());
        store.withdraw(uuid).unwrap();
    }

    #[test]
    fn only_partition_uuids_that_can_be_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = IdStore::in_dir(dir.path());
        let parent = DevNum::new(4095, 1);
        for uuid in ["mpath-3600", "LVM-abc", "part1-a/../../x", "part2-x\0y"] {
            store.publish(parent, uuid).unwrap();
            store.withdraw(uuid).unwrap();
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
