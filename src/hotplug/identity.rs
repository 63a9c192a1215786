//! Checking that an event's `DEVNAME` and device-mapper properties describe the device its
//! `MAJOR:MINOR` names. The device number is what the kernel put in the uevent; everything
//! else is checked against it (the node's `st_rdev`, sysfs), so that an event whose `DEVNAME`
//! points elsewhere (another block device, a regular file) never makes partition maps for
//! something the policy was not asked about.
//!
//! [`observe`] gathers the facts from the system; [`check`] is the pure comparison.

use std::fmt;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::event::UdevEvent;
use crate::device::DevNum;
use crate::device::sysfs;
use kpartx_table::naming::unmangle_dm_name;

/// What a path turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A block device node with this device number.
    Block(DevNum),
    /// Something that is not a block device node (regular file, directory, …).
    NotBlock,
    /// Nothing there.
    Missing,
}

/// The facts about the event's device as the system shows them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The kernel name sysfs gives `MAJOR:MINOR` (`None`: no such device any more).
    pub kernel_name: Option<String>,
    /// The node to read: `DEVNAME`, or `/dev/<kernel name>` when the event has none.
    pub path: PathBuf,
    /// What that node is.
    pub node: Node,
    /// The device-mapper name sysfs gives the device (unmangled), if it is a DM device.
    pub dm_name: Option<String>,
    /// The device-mapper UUID sysfs gives the device.
    pub dm_uuid: Option<String>,
}

/// Why an event does not describe its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// sysfs has no block device with the event's number.
    Gone,
    /// The node is not a block device.
    NotBlock(PathBuf),
    /// The node does not exist.
    NoNode(PathBuf),
    /// The node is another device.
    OtherDevice(PathBuf, DevNum),
    /// `DEVNAME`'s last component is not the kernel name of the device.
    KernelName(String, String),
    /// `DM_NAME` or `DM_UUID` differs from sysfs.
    DmProperty(&'static str, String, Option<String>),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Gone => f.write_str("the device no longer exists"),
            Mismatch::NotBlock(p) => write!(f, "{} is not a block device", p.display()),
            Mismatch::NoNode(p) => write!(f, "{} does not exist", p.display()),
            Mismatch::OtherDevice(p, dev) => {
                write!(f, "{} is device {dev}, not the event's device", p.display())
            }
            Mismatch::KernelName(given, real) => {
                write!(f, "DEVNAME names {given}, but the device is {real}")
            }
            Mismatch::DmProperty(var, given, real) => write!(
                f,
                "{var} is {given:?}, but the device's is {}",
                real.as_deref()
                    .map_or("unset".to_string(), |r| format!("{r:?}"))
            ),
        }
    }
}

/// Looks at sysfs and at the node the event names.
pub fn observe(event: &UdevEvent) -> Observed {
    let kernel_name = sysfs::kernel_name(event.dev);
    let path = match (&event.devname, &kernel_name) {
        (Some(devname), _) => PathBuf::from(devname),
        (None, Some(kname)) => Path::new("/dev").join(kname),
        (None, None) => PathBuf::new(),
    };
    let node = match fs::metadata(&path) {
        Ok(m) if m.file_type().is_block_device() => Node::Block(DevNum::from_dev_t(m.rdev())),
        Ok(_) => Node::NotBlock,
        Err(_) => Node::Missing,
    };
    Observed {
        kernel_name,
        path,
        node,
        dm_name: sysfs::dm_name(event.dev),
        dm_uuid: sysfs::dm_uuid(event.dev),
    }
}

/// Checks the event against what was observed; on success, the node to read.
pub fn check<'a>(event: &UdevEvent, seen: &'a Observed) -> Result<&'a Path, Mismatch> {
    let Some(real_name) = &seen.kernel_name else {
        return Err(Mismatch::Gone);
    };
    if let Some(given) = event.kernel_name()
        && &given != real_name
    {
        return Err(Mismatch::KernelName(given, real_name.clone()));
    }
    match seen.node {
        Node::Block(dev) if dev == event.dev => {}
        Node::Block(dev) => return Err(Mismatch::OtherDevice(seen.path.clone(), dev)),
        Node::NotBlock => return Err(Mismatch::NotBlock(seen.path.clone())),
        Node::Missing => return Err(Mismatch::NoNode(seen.path.clone())),
    }
    for (var, given, real) in [
        ("DM_NAME", &event.dm_name, &seen.dm_name),
        ("DM_UUID", &event.dm_uuid, &seen.dm_uuid),
    ] {
        if let Some(given) = given
            && Some(given) != real.as_ref()
            && Some(&unmangle_dm_name(given)) != real.as_ref()
        {
            return Err(Mismatch::DmProperty(var, given.clone(), real.clone()));
        }
    }
    Ok(&seen.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn event(pairs: &[(&str, &str)]) -> UdevEvent {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        UdevEvent::parse(&env).unwrap()
    }

    fn mpath_event() -> UdevEvent {
        event(&[
            ("ACTION", "change"),
            ("MAJOR", "254"),
            ("MINOR", "3"),
            ("DEVNAME", "/dev/dm-3"),
            ("DM_NAME", "mpatha"),
            ("DM_UUID", "mpath-36001"),
        ])
    }

    fn seen_dm3() -> Observed {
        Observed {
            kernel_name: Some("dm-3".into()),
            path: "/dev/dm-3".into(),
            node: Node::Block(DevNum::new(254, 3)),
            dm_name: Some("mpatha".into()),
            dm_uuid: Some("mpath-36001".into()),
        }
    }

    #[test]
    fn a_consistent_event_passes() {
        let seen = seen_dm3();
        assert_eq!(check(&mpath_event(), &seen), Ok(Path::new("/dev/dm-3")));
    }

    #[test]
    fn devname_pointing_at_another_device_is_refused() {
        let mut e = mpath_event();
        e.devname = Some("/dev/loop0".into());
        let mut seen = seen_dm3();
        seen.path = "/dev/loop0".into();
        seen.node = Node::Block(DevNum::new(7, 0));
        assert_eq!(
            check(&e, &seen),
            Err(Mismatch::KernelName("loop0".into(), "dm-3".into()))
        );
        // Same kernel name, but the node is another device (a node made by hand).
        e.devname = Some("/tmp/x/dm-3".into());
        seen.path = "/tmp/x/dm-3".into();
        assert!(matches!(
            check(&e, &seen),
            Err(Mismatch::OtherDevice(_, d)) if d == DevNum::new(7, 0)
        ));
    }

    #[test]
    fn devname_pointing_at_a_file_is_refused() {
        let mut e = mpath_event();
        e.devname = Some("/var/tmp/dm-3".into());
        let mut seen = seen_dm3();
        seen.path = "/var/tmp/dm-3".into();
        seen.node = Node::NotBlock;
        assert!(matches!(check(&e, &seen), Err(Mismatch::NotBlock(_))));
        seen.node = Node::Missing;
        assert!(matches!(check(&e, &seen), Err(Mismatch::NoNode(_))));
    }

    #[test]
    fn dm_properties_must_match_sysfs() {
        let mut seen = seen_dm3();
        seen.dm_uuid = Some("LVM-abc".into());
        assert!(matches!(
            check(&mpath_event(), &seen),
            Err(Mismatch::DmProperty("DM_UUID", _, _))
        ));
        seen.dm_uuid = None;
        seen.dm_name = None;
        assert!(matches!(
            check(&mpath_event(), &seen),
            Err(Mismatch::DmProperty("DM_NAME", _, None))
        ));
    }

    #[test]
    fn a_vanished_device_is_reported_as_gone() {
        let mut seen = seen_dm3();
        seen.kernel_name = None;
        assert_eq!(check(&mpath_event(), &seen), Err(Mismatch::Gone));
    }

    #[test]
    fn without_devname_the_kernel_name_node_is_used() {
        let e = event(&[("ACTION", "add"), ("MAJOR", "7"), ("MINOR", "0")]);
        let seen = Observed {
            kernel_name: Some("loop0".into()),
            path: "/dev/loop0".into(),
            node: Node::Block(DevNum::new(7, 0)),
            dm_name: None,
            dm_uuid: None,
        };
        assert_eq!(check(&e, &seen), Ok(Path::new("/dev/loop0")));
    }
}
