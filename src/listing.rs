//! `-l` output: the reference's text lines, and a stable JSON form for scripts.

use serde::Serialize;

use crate::naming::Naming;
use crate::table::{Slice, Table};

/// Renders `-l` exactly as the reference prints it.
///
/// Non-empty top-level slices come first, in table order, as
/// `NAME : 0 SIZE DEVICE START`. Contained slices (DOS logicals, nested BSD/Sun slices) follow in
/// the legacy stacked form `NAME : 0 SIZE /dev/dm-K OFFSET`, where K is the position of the
/// containing slice among the lines printed before and OFFSET is relative to its start.
pub fn render_text(naming: &Naming, device: &str, slices: &[Slice]) -> String {
    let mut out = String::new();
    let mut ordinal: Vec<Option<usize>> = vec![None; slices.len()];
    let mut next = 0;
    for (i, slice) in slices.iter().enumerate() {
        if slice.size == 0 || slice.container.is_some() {
            continue;
        }
        ordinal[i] = Some(next);
        next += 1;
        out.push_str(&line(naming, i, slice.size, device, slice.start));
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
        out.push_str(&line(naming, i, slice.size, &stacked_on, offset));
    }
    out
}

fn line(naming: &Naming, index: usize, size: u64, device: &str, start: u64) -> String {
    format!(
        "{} : 0 {} {} {}\n",
        naming.display_name(index + 1),
        size,
        device,
        start
    )
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

/// Builds the `--json` listing.
pub fn json_listing(
    naming: &Naming,
    device: &str,
    sector_size: u32,
    table: Option<&Table>,
) -> JsonListing {
    let partitions = table
        .map(|t| t.slices.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.size > 0)
        .map(|(i, s)| JsonPartition {
            number: i + 1,
            name: naming.display_name(i + 1),
            start: s.start,
            size: s.size,
            parent: device.to_string(),
            container: s.container.map(|k| k + 1),
            part_type: s.part_type.clone(),
            label: s.label.clone(),
            uuid: s.uuid.clone(),
        })
        .collect();
    JsonListing {
        device: device.to_string(),
        table: table.map(|t| t.kind.name()),
        sector_size,
        partitions,
    }
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
    use crate::table::TableKind;

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
        let text = render_text(&Naming::new("loop0", None), "/dev/loop0", &slices);
        assert_eq!(
            text,
            "loop0p1 : 0 10240 /dev/loop0 2048\n\
             loop0p2 : 0 2 /dev/loop0 12288\n\
             loop0p5 : 0 4096 /dev/dm-1 2048\n\
             loop0p6 : 0 4096 /dev/dm-1 8192\n"
        );
    }

    #[test]
    fn empty_slots_keep_numbers() {
        let slices = vec![Slice::new(0, 0), Slice::new(34, 100)];
        let text = render_text(&Naming::new("sdb", Some("-part")), "/dev/sdb", &slices);
        assert_eq!(text, "sdb-part2 : 0 100 /dev/sdb 34\n");
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
        let listing = json_listing(&Naming::new("loop0", None), "/dev/loop0", 512, Some(&table));
        assert_eq!(listing.table, Some("dos"));
        assert_eq!(listing.partitions.len(), 2);
        assert_eq!(listing.partitions[1].start, 14336);
        assert_eq!(listing.partitions[1].container, Some(1));
        let text = render_json(&listing);
        assert!(text.starts_with("{\"device\":\"/dev/loop0\",\"table\":\"dos\""));
        assert!(text.ends_with("}\n"));
    }
}
