//! What udev visibly did with a run's events, read from its database.
//!
//! udevd writes `/run/udev/data/b<major>:<minor>` once it has run the rules for an event of a
//! block device (a new file each time: a temporary file renamed over the old one), and deletes
//! it when it processes the device's `remove` event. The device-mapper rules store
//! `DM_UDEV_PRIMARY_SOURCE_FLAG=1` there when the event came from a tool's resume (decoded from
//! its cookie), and `DM_NAME`. So, without the cookie, a waiter can still see that udev has
//! processed each of its events:
//!
//! | operation | processed when udev's database entry for the map's device … |
//! |---|---|
//! | resume (create, reload) | is not the one there before the ioctl, names the map, and has the primary-source flag |
//! | rename | is not the one there before the ioctl and names the map by its new name |
//! | remove | was there before the ioctl and is gone, or was replaced by another map's |
//!
//! An entry's identity is its inode and modification time, taken just before the ioctl; events
//! of one device are processed in order, so a newer entry with the right content can only have
//! come from this event or a later one. A removal whose map had no entry (made while udev
//! was not running) can never be shown processed: its wait ends the usual way.
//!
//! The cost is one `stat` and at most one small read per operation of the run.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::device::DevNum;

/// udev's database of block devices.
pub const DB_DIR: &str = "/run/udev/data";

/// The identity of one version of a database entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
}

/// What one operation's uevent should leave in udev's database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A resume of map `name`.
    Resumed,
    /// A rename to `name`.
    Renamed,
    /// A removal of map `name`.
    Removed,
}

/// One operation of the run whose uevent udev should process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awaited {
    /// What the event should leave behind.
    pub expect: Expect,
    /// The map's name (after the operation, for a rename).
    pub name: String,
    /// The map's device.
    pub dev: DevNum,
    /// The database entry before the ioctl.
    pub before: Option<Stamp>,
}

/// udev's database, at [`DB_DIR`] or (in tests) elsewhere.
#[derive(Debug, Clone)]
pub struct UdevDb {
    dir: PathBuf,
}

impl UdevDb {
    /// The system's database.
    pub fn system() -> UdevDb {
        UdevDb::at(Path::new(DB_DIR))
    }

    /// A database kept in `dir`.
    pub fn at(dir: &Path) -> UdevDb {
        UdevDb {
            dir: dir.to_path_buf(),
        }
    }

    fn entry(&self, dev: DevNum) -> PathBuf {
        self.dir.join(format!("b{}:{}", dev.major, dev.minor))
    }

    /// The current identity of `dev`'s entry; `None` when it has none.
    pub fn stamp(&self, dev: DevNum) -> Option<Stamp> {
        let meta = fs::metadata(self.entry(dev)).ok()?;
        Some(Stamp {
            ino: meta.ino(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        })
    }

    /// What operation `expect` on map `name` (device `dev`) should be checked against: the
    /// entry as it is now. Call just before the ioctl.
    pub fn before(&self, expect: Expect, name: &str, dev: DevNum) -> Awaited {
        Awaited {
            expect,
            name: name.to_string(),
            dev,
            before: self.stamp(dev),
        }
    }

    /// Whether udev has visibly processed the uevent of `op`.
    pub fn processed(&self, op: &Awaited) -> bool {
        let now = self.stamp(op.dev);
        match op.expect {
            Expect::Removed => match (op.before, now) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(before), Some(now)) => {
                    now != before
                        && self
                            .properties(op.dev)
                            .is_ok_and(|p| !has(&p, "DM_NAME", &op.name))
                }
            },
            Expect::Resumed | Expect::Renamed => {
                if now.is_none() || now == op.before {
                    return false;
                }
                let Ok(props) = self.properties(op.dev) else {
                    return false;
                };
                has(&props, "DM_NAME", &op.name)
                    && (op.expect == Expect::Renamed
                        || has(&props, "DM_UDEV_PRIMARY_SOURCE_FLAG", "1"))
            }
        }
    }

    /// The `E:` lines of `dev`'s entry.
    fn properties(&self, dev: DevNum) -> io::Result<String> {
        fs::read_to_string(self.entry(dev))
    }
}

/// Whether the entry text `props` has the property `key=value`.
fn has(props: &str, key: &str, value: &str) -> bool {
    props.lines().any(|line| {
        line.strip_prefix("E:")
            .and_then(|kv| kv.split_once('='))
            .is_some_and(|(k, v)| k == key && v == value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: DevNum = DevNum {
        major: 254,
        minor: 3,
    };

    fn write(db: &Path, text: &str) {
        // As udevd does: a new file renamed over the old one (a new inode every time).
        let tmp = db.join(".tmp");
        fs::write(&tmp, text).unwrap();
        fs::rename(&tmp, db.join("b254:3")).unwrap();
    }

    const RESUMED: &str = "S:mapper/loop0p4\nI:8146402\nE:DM_UDEV_PRIMARY_SOURCE_FLAG=1\n\
                           E:DM_ACTIVATION=1\nE:DM_NAME=loop0p4\nE:DM_UUID=part4-x\nV:1\n";

    #[test]
    fn a_resume_is_processed_once_a_new_entry_names_the_map_with_the_primary_flag() {
        let dir = tempfile::tempdir().unwrap();
        let db = UdevDb::at(dir.path());
        let op = db.before(Expect::Resumed, "loop0p4", DEV);
        assert!(op.before.is_none());
        assert!(!db.processed(&op), "no entry yet");
        // The `add` event of the new device: no flag from a cookie.
        write(dir.path(), "I:1\nE:DM_NAME=loop0p4\nV:1\n");
        assert!(!db.processed(&op), "only the add event");
        write(dir.path(), RESUMED);
        assert!(db.processed(&op));
    }

    #[test]
    fn a_reload_needs_an_entry_newer_than_before_the_ioctl() {
        let dir = tempfile::tempdir().unwrap();
        let db = UdevDb::at(dir.path());
        write(dir.path(), RESUMED);
        let op = db.before(Expect::Resumed, "loop0p4", DEV);
        assert!(op.before.is_some());
        assert!(!db.processed(&op), "the entry of an earlier event");
        write(dir.path(), RESUMED);
        assert!(db.processed(&op));
    }

    #[test]
    fn an_entry_of_another_map_is_not_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let db = UdevDb::at(dir.path());
        let op = db.before(Expect::Resumed, "loop0p1", DEV);
        write(dir.path(), RESUMED);
        assert!(!db.processed(&op));
    }

    #[test]
    fn a_rename_is_processed_when_the_entry_has_the_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let db = UdevDb::at(dir.path());
        write(dir.path(), &RESUMED.replace("loop0p4", "old"));
        let op = db.before(Expect::Renamed, "loop0p4", DEV);
        assert!(!db.processed(&op));
        write(dir.path(), RESUMED);
        assert!(db.processed(&op));
    }

    #[test]
    fn a_removal_is_processed_when_its_entry_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let db = UdevDb::at(dir.path());
        write(dir.path(), RESUMED);
        let op = db.before(Expect::Removed, "loop0p4", DEV);
        assert!(!db.processed(&op));
        fs::remove_file(dir.path().join("b254:3")).unwrap();
        assert!(db.processed(&op));
    }

    #[test]
    fn a_removal_is_processed_when_another_map_took_the_device_number() {
        let dir = tempfile::tempdir().unwrap();
        let db = UdevDb::at(dir.path());
        write(dir.path(), RESUMED);
        let op = db.before(Expect::Removed, "loop0p4", DEV);
        write(dir.path(), &RESUMED.replace("loop0p4", "other"));
        assert!(db.processed(&op));
    }

    #[test]
    fn a_removal_of_a_map_udev_never_recorded_cannot_be_shown_processed() {
        let dir = tempfile::tempdir().unwrap();
        let db = UdevDb::at(dir.path());
        let op = db.before(Expect::Removed, "loop0p4", DEV);
        assert!(!db.processed(&op));
    }
}
