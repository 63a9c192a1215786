//! `kpartx --udev-id`: the properties that give partition maps their `/dev/disk/by-id/…-partN`
//! and `wwn-…-partN` links (what upstream's `kpartx_id` script computes with `dmsetup`),
//! printed as `KEY=value` lines for udev's `IMPORT{program}`.

use crate::device::DevNum;
use crate::device::sysfs;
use crate::exit::Exit;
use crate::naming::{UuidForm, is_partition_uuid, parse_uuid};

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
    /// Gathers the facts for map `dev` with UUID `dm_uuid` from sysfs.
    pub fn gather(dev: DevNum, dm_uuid: &str) -> IdFacts {
        let is_partition = is_partition_uuid(dm_uuid);
        let multipath = if is_partition {
            sysfs::slaves(dev).first().copied()
        } else {
            Some(dev)
        };
        let path_majors = multipath
            .filter(|_| mpath_serial(dm_uuid).is_some())
            .map(|m| sysfs::slaves(m).iter().map(|d| d.major).collect())
            .unwrap_or_default();
        IdFacts {
            dm_uuid: dm_uuid.to_string(),
            parent_name: is_partition
                .then(|| multipath.and_then(sysfs::dm_name))
                .flatten(),
            path_majors,
        }
    }
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

/// `kpartx --udev-id`: prints the properties for the map described by `DM_UUID`, `MAJOR` and
/// `MINOR` in the environment; prints nothing when they are missing or not UTF-8 (other
/// variables are never looked at). Always succeeds, so that a lookup problem never fails the
/// udev event.
pub fn run() -> Exit {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let dev = var("MAJOR")
        .zip(var("MINOR"))
        .and_then(|(major, minor)| DevNum::parse(&format!("{major}:{minor}")));
    if let (Some(uuid), Some(dev)) = (var("DM_UUID"), dev) {
        for (key, value) in properties(&IdFacts::gather(dev, &uuid)) {
            crate::outln!("{key}={value}");
        }
    }
    Exit::Ok
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

    fn text(props: &[(String, String)]) -> String {
        props.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }

    #[test]
    fn scsi_multipath_partition() {
        let p = properties(&facts("part2-mpath-3600a0b8", &[8, 65]));
        assert_eq!(
            text(&p),
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
        assert_eq!(text(&p), "DM_MPATH=mpatha\nDM_PART=1\nDM_TYPE=raid\n");
    }

    #[test]
    fn multipath_map_itself_and_others() {
        let p = properties(&IdFacts {
            dm_uuid: "mpath-3600".into(),
            parent_name: None,
            path_majors: vec![8],
        });
        assert_eq!(text(&p), "DM_TYPE=scsi\nDM_WWN=0x600\nDM_SERIAL=3600\n");
        assert!(properties(&facts("LVM-abc", &[8])).is_empty());
        assert!(properties(&facts("partx-mpath-1", &[8])).is_empty());
    }
}
