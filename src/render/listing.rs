//! `-l` output: the reference's text lines, and a stable JSON form for scripts.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::Serialize;

use kpartx_table::naming::Naming;
use kpartx_table::{Slice, Table};

/// Renders `-l` exactly as the reference prints it.
///
/// Non-empty top-level slices come first, in table order, as
/// `NAME : 0 SIZE DEVICE START`. Contained slices (DOS logicals, nested BSD/Sun slices) follow in
/// the legacy stacked form `NAME : 0 SIZE /dev/dm-K OFFSET`, where K is the position of the
/// containing slice among the lines printed before and OFFSET is relative to its start.
///
/// Names and the device path are bytes and are printed as they are, UTF-8 or not.
pub fn render_text(naming: &Naming, device: &Path, slices: &[Slice]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ordinal: Vec<Option<usize>> = vec![None; slices.len()];
    let mut next = 0;
    for (i, slice) in slices.iter().enumerate() {
        if slice.size == 0 || slice.container.is_some() {
            continue;
        }
        ordinal[i] = Some(next);
        next += 1;
        line(&mut out, naming, i, slice.size, device, slice.start);
    }
    for (i, slice) in slices.iter().enumerate() {
        let Some(k) = slice.container else { continue };
        if slice.size == 0 {
            continue;
        }
        let container_start = slices.get(k).map_or(0, |c| c.start);
        let stacked_on = format!("/dev/dm-{}", ordinal.get(k).copied().flatten().unwrap_or(0));
        ordinal[i] = Some(next);
        next += 1;
        let offset = slice.start.wrapping_sub(container_start);
        line(
            &mut out,
            naming,
            i,
            slice.size,
            Path::new(&stacked_on),
            offset,
        );
    }
    out
}

fn line(out: &mut Vec<u8>, naming: &Naming, index: usize, size: u64, device: &Path, start: u64) {
    out.extend_from_slice(naming.name(index + 1).as_bytes());
    out.extend_from_slice(format!(" : 0 {size} ").as_bytes());
    out.extend_from_slice(device.as_os_str().as_bytes());
    out.extend_from_slice(format!(" {start}\n").as_bytes());
}

/// The `--json` listing of one device.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct JsonListing {
    /// The device as listed (for image files, the loop device).
    pub device: String,
    /// Table format that was recognised, or null.
    pub table: Option<&'static str>,
    /// Logical sector size of the device in bytes.
    pub sector_size: u32,
    /// Non-empty partitions in number order.
    pub partitions: Vec<JsonPartition>,
}

/// One partition in the `--json` listing. Positions are absolute, in 512-byte sectors.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct JsonPartition {
    /// Partition number (1-based, as used in the map name).
    pub number: usize,
    /// Map name kpartx uses for it.
    pub name: String,
    /// First 512-byte sector on the parent.
    pub start: u64,
    /// Length in 512-byte sectors.
    pub size: u64,
    /// The parent device.
    pub parent: String,
    /// Number of the containing partition (DOS extended, BSD/Sun outer slice), if any.
    pub container: Option<usize>,
    /// Partition type (`0x83`, a GPT type GUID, an Apple type name, …).
    #[serde(rename = "type")]
    pub part_type: Option<String>,
    /// Partition label or name, where the format has one.
    pub label: Option<String>,
    /// Partition UUID, where the format has one.
    pub uuid: Option<String>,
}

/// Builds the `--json` listing. JSON strings are Unicode, so a device path or a map name that
/// is not UTF-8 cannot be listed: the error names it (quoted, with escapes).
pub fn json_listing(
    naming: &Naming,
    device: &Path,
    sector_size: u32,
    table: Option<&Table>,
) -> Result<JsonListing, String> {
    let not_utf8 = |what: &dyn std::fmt::Debug| {
        format!("{what:?} is not valid UTF-8 and cannot be listed as JSON")
    };
    let device = device.to_str().ok_or_else(|| not_utf8(&device))?;
    let partitions = table
        .map(|t| t.slices.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.size > 0)
        .map(|(i, s)| {
            let name = naming.name(i + 1);
            Ok(JsonPartition {
                number: i + 1,
                name: name.to_str().ok_or_else(|| not_utf8(&name))?.to_string(),
                start: s.start,
                size: s.size,
                parent: device.to_string(),
                container: s.container.map(|k| k + 1),
                part_type: s.part_type.clone(),
                label: s.label.clone(),
                uuid: s.uuid.clone(),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(JsonListing {
        device: device.to_string(),
        table: table.map(|t| t.kind.name()),
        sector_size,
        partitions,
    })
}

/// Renders the `--json` listing as one line of JSON.
pub fn render_json(listing: &JsonListing) -> String {
    let mut text = serde_json::to_string(listing).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use kpartx_table::TableKind;

    fn contained(start: u64, size: u64, container: usize) -> Slice {
        Slice {
            container: Some(container),
            ..Slice::new(start, size)
        }
    }

    #[test]
    fn dos_logicals_render_stacked() {
        let slices = vec![
            Slice::new(2048, 10240),
            Slice::new(12288, 2),
            Slice::new(0, 0),
            Slice::new(0, 0),
            contained(14336, 4096, 1),
            contained(20480, 4096, 1),
        ];
        let text = render_text(
            &Naming::new("loop0", None),
            Path::new("/dev/loop0"),
            &slices,
        );
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "loop0p1 : 0 10240 /dev/loop0 2048\n\
             loop0p2 : 0 2 /dev/loop0 12288\n\
             loop0p5 : 0 4096 /dev/dm-1 2048\n\
             loop0p6 : 0 4096 /dev/dm-1 8192\n"
        );
    }

    #[test]
    fn empty_slots_keep_numbers() {
        let slices = vec![Slice::new(0, 0), Slice::new(34, 100)];
        let text = render_text(
            &Naming::new("sdb", Some("-part")),
            Path::new("/dev/sdb"),
            &slices,
        );
        assert_eq!(text, b"sdb-part2 : 0 100 /dev/sdb 34\n");
    }

    #[test]
    fn json_has_metadata_and_absolute_positions() {
        let table = Table {
            kind: TableKind::Dos,
            slices: vec![
                Slice::new(12288, 2),
                contained(14336, 4096, 0),
                Slice::new(0, 0),
            ],
        };
        let naming = Naming::new("loop0", None);
        let listing = json_listing(&naming, Path::new("/dev/loop0"), 512, Some(&table)).unwrap();
        assert_eq!(listing.table, Some("dos"));
        assert_eq!(listing.partitions.len(), 2);
        assert_eq!(listing.partitions[1].start, 14336);
        assert_eq!(listing.partitions[1].container, Some(1));
        let text = render_json(&listing);
        assert!(text.starts_with("{\"device\":\"/dev/loop0\",\"table\":\"dos\""));
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn non_utf8_names_and_paths() {
        use std::ffi::OsStr;
        let slices = vec![Slice::new(2048, 2048)];
        let naming = Naming::from_os(OsStr::from_bytes(b"caf\xe9"), None);
        let text = render_text(
            &naming,
            Path::new(OsStr::from_bytes(b"/dev/caf\xe9")),
            &slices,
        );
        assert_eq!(text, b"caf\xe91 : 0 2048 /dev/caf\xe9 2048\n");
        let table = Table {
            kind: TableKind::Dos,
            slices,
        };
        let err = json_listing(&naming, Path::new("/dev/x"), 512, Some(&table)).unwrap_err();
        assert_eq!(
            err,
            "\"caf\\xE91\" is not valid UTF-8 and cannot be listed as JSON"
        );
        let plain = Naming::new("x", None);
        let odd_path = Path::new(OsStr::from_bytes(b"/dev/\xff"));
        assert!(json_listing(&plain, odd_path, 512, None).is_err());
    }
}
