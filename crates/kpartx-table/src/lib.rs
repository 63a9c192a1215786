//! kpartx's partition table readers, its map names and its device-mapper UUIDs, as a library.
//!
//! This is the part of the Rust `kpartx` that needs no device-mapper, no udev and no system
//! calls: it reads partition tables from any [`BlockSource`] (a trait over "read these bytes of
//! the disk") and forms the names (`sda1`, `loop0p1`, `mpatha-part1`) and UUIDs
//! (`part1-mpath-…`) that kpartx gives the partition maps. Tools that create or recognise
//! kpartx's maps can use it instead of running `kpartx -l` and parsing its output.
//!
//! # Readers
//!
//! Every reader is a pure function over a [`BlockSource`]: it never writes, never panics and
//! returns at most [`MAX_SLICES`] slices. [`probe`] runs them in the reference kpartx's order
//! (GPT, DOS, BSD, Solaris, UnixWare, DASD, Mac, Sun, PS3); the first one that returns at least
//! one slice wins. Each format has its module ([`gpt`], [`dos`], [`bsd`], [`solaris`],
//! [`unixware`], [`dasd`], [`mac`], [`sun`], [`ps3`]) with its `read` function; [`contain`]
//! holds the "this slice lies inside that one" pass some of them share, and [`sector_size`] the
//! choice of logical sector size for an image file. Positions are in 512-byte units whatever the
//! device's sector size, as kpartx prints them.
//!
//! ```
//! use kpartx_table::{Diagnostics, MemSource, ProbeContext, TableKind, TypeFilter, probe};
//!
//! // A 1 MiB disk whose MBR holds one Linux partition from sector 2048, 1024 sectors long.
//! let mut disk = vec![0u8; 1 << 20];
//! let entry = &mut disk[446..462];
//! entry[4] = 0x83; // type: Linux
//! entry[8..12].copy_from_slice(&2048u32.to_le_bytes()); // first sector
//! entry[12..16].copy_from_slice(&1024u32.to_le_bytes()); // number of sectors
//! disk[510] = 0x55;
//! disk[511] = 0xaa;
//!
//! let mut diag = Diagnostics::default();
//! let table = probe(
//!     &MemSource::new(disk),
//!     &ProbeContext::default(),
//!     &TypeFilter::All,
//!     &mut diag,
//! )
//! .expect("a partition table");
//! assert_eq!(table.kind, TableKind::Dos);
//! // One slot per primary entry; the unused ones have size 0 (and still count: partition
//! // numbers are slot index + 1).
//! assert_eq!(table.slices.len(), 4);
//! assert_eq!((table.slices[0].start, table.slices[0].size), (2048, 1024));
//! assert_eq!(table.slices[0].part_type.as_deref(), Some("0x83"));
//! assert!(table.slices[1..].iter().all(|s| s.size == 0));
//! assert!(diag.lines().is_empty());
//! ```
//!
//! # Names and UUIDs
//!
//! [`naming`] forms the map names and DM UUIDs byte for byte as the reference kpartx does, so
//! that maps made by either tool are recognised by both:
//!
//! ```
//! use kpartx_table::DevNum;
//! use kpartx_table::naming::{Naming, devnode_uuid, partition_uuid};
//!
//! assert_eq!(Naming::new("sda", None).display_name(1), "sda1");
//! assert_eq!(Naming::new("loop0", None).display_name(2), "loop0p2");
//! assert_eq!(Naming::new("mpatha", Some("-part")).display_name(3), "mpatha-part3");
//! assert_eq!(partition_uuid(1, "mpath-3600a0b80").unwrap(), "part1-mpath-3600a0b80");
//! assert_eq!(devnode_uuid(DevNum::new(7, 0)), "devnode_7:0_Wh5pYvM");
//! ```
//!
//! # Cargo features
//!
//! * `testkit` (off): the `testkit` module, on-disk label builders and the readers' invariants
//!   for tests and fuzz targets; not covered by semver, never needed to use the readers.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

// The README's example is compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod bsd;
pub mod contain;
pub mod dasd;
mod devnum;
pub mod dos;
pub mod gpt;
pub mod mac;
pub mod naming;
pub mod ps3;
pub mod sector_size;
pub mod solaris;
pub mod source;
pub mod sun;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod unixware;

use std::fmt;

pub use devnum::DevNum;
pub use source::{BlockSource, MemSource, bytes};

/// The most slices one table can yield (the reference's fixed array size).
pub const MAX_SLICES: usize = 256;

/// One partition as a reader found it.
///
/// `start` and `size` are always in 512-byte units, whatever the device's logical sector size.
/// A `size` of 0 marks an unused slot that still consumes a partition number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slice {
    /// First 512-byte sector, counted from the start of the whole device.
    pub start: u64,
    /// Length in 512-byte sectors; 0 means "no partition in this slot".
    pub size: u64,
    /// 0-based index of the slice that contains this one (DOS logicals, nested BSD/Sun slices).
    pub container: Option<usize>,
    /// Partition type as the table states it: `0x83`, a lower-case GPT type GUID, `Apple_HFS`, …
    pub part_type: Option<String>,
    /// Partition label or name where the format has one.
    pub label: Option<String>,
    /// Partition UUID where the format has one (GPT unique partition GUID).
    pub uuid: Option<String>,
}

impl Slice {
    /// A slice with only a position, as most readers produce.
    pub fn new(start: u64, size: u64) -> Self {
        Slice {
            start,
            size,
            ..Slice::default()
        }
    }

    /// One past the last 512-byte sector of the slice (saturating).
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.size)
    }

    /// Whether the slice lies entirely on a device of `device_sectors` 512-byte sectors.
    pub fn fits_within(&self, device_sectors: u64) -> bool {
        self.start
            .checked_add(self.size)
            .is_some_and(|end| end <= device_sectors)
    }
}

/// Partition table formats, in the reference's probe order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableKind {
    /// GUID partition table.
    Gpt,
    /// DOS/MBR with extended/logical partitions.
    Dos,
    /// BSD disklabel.
    Bsd,
    /// Solaris x86 VTOC.
    Solaris,
    /// UnixWare VTOC.
    Unixware,
    /// IBM DASD (CMS1, LNX1, VOL1).
    Dasd,
    /// Apple partition map.
    Mac,
    /// Sun VTOC.
    Sun,
    /// PlayStation 3.
    Ps3,
}

impl TableKind {
    /// Every format, in probe order.
    pub const ALL: [TableKind; 9] = [
        TableKind::Gpt,
        TableKind::Dos,
        TableKind::Bsd,
        TableKind::Solaris,
        TableKind::Unixware,
        TableKind::Dasd,
        TableKind::Mac,
        TableKind::Sun,
        TableKind::Ps3,
    ];

    /// The name `-t` accepts and the listing prints.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Gpt => "gpt",
            TableKind::Dos => "dos",
            TableKind::Bsd => "bsd",
            TableKind::Solaris => "solaris",
            TableKind::Unixware => "unixware",
            TableKind::Dasd => "dasd",
            TableKind::Mac => "mac",
            TableKind::Sun => "sun",
            TableKind::Ps3 => "ps3",
        }
    }

    /// Looks a format up by its `-t` name (exact, as the reference compares).
    pub fn from_name(name: &str) -> Option<TableKind> {
        TableKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Runs this format's reader.
    pub fn read(
        self,
        src: &dyn BlockSource,
        ctx: &ProbeContext,
        diag: &mut Diagnostics,
    ) -> Vec<Slice> {
        let mut slices = match self {
            TableKind::Gpt => gpt::read(src, ctx, diag),
            TableKind::Dos => dos::read(src, ctx, diag),
            TableKind::Bsd => bsd::read(src, ctx, diag),
            TableKind::Solaris => solaris::read(src, ctx, diag),
            TableKind::Unixware => unixware::read(src, ctx, diag),
            TableKind::Dasd => dasd::read(src, ctx, diag),
            TableKind::Mac => mac::read(src, ctx, diag),
            TableKind::Sun => sun::read(src, ctx, diag),
            TableKind::Ps3 => ps3::read(src, ctx, diag),
        };
        slices.truncate(MAX_SLICES);
        slices
    }
}

impl fmt::Display for TableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which readers to try (`-t TYPE`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TypeFilter {
    /// Every reader in probe order (the default).
    #[default]
    All,
    /// Only this reader.
    Only(TableKind),
    /// Only these readers, still in probe order (from policy).
    Among(Vec<TableKind>),
    /// An unknown name: like the reference, no reader runs at all.
    Unknown(String),
}

impl TypeFilter {
    /// Parses a `-t` argument; unknown names are kept, not rejected.
    pub fn parse(name: &str) -> TypeFilter {
        match TableKind::from_name(name) {
            Some(kind) => TypeFilter::Only(kind),
            None => TypeFilter::Unknown(name.to_string()),
        }
    }

    /// Whether tables of type `kind` are looked for: [`probe`] tries exactly these, in
    /// [`TableKind::ALL`] order.
    pub fn admits(&self, kind: TableKind) -> bool {
        match self {
            TypeFilter::All => true,
            TypeFilter::Only(only) => *only == kind,
            TypeFilter::Among(kinds) => kinds.contains(&kind),
            TypeFilter::Unknown(_) => false,
        }
    }
}

/// Facts about the device that some readers need beyond its bytes.
#[derive(Debug, Clone, Default)]
pub struct ProbeContext {
    /// `-g`: treat a disk with a valid GPT header as GPT even when its protective MBR is invalid.
    pub force_gpt: bool,
    /// What the DASD reader may know about the device (defaults fit images and loop devices).
    pub dasd: dasd::DasdDevice,
}

/// Warning lines a reader wants shown on stderr, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    lines: Vec<String>,
}

impl Diagnostics {
    /// Records one warning line (without a trailing newline).
    pub fn warn(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    /// The recorded lines, oldest first.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

/// The table that won the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Which reader recognised it.
    pub kind: TableKind,
    /// Its slices; index + 1 is the partition number.
    pub slices: Vec<Slice>,
}

/// Tries the readers the filter allows, in probe order; the first one that returns at least one
/// slice wins. `None` means no table was found (not an error for kpartx).
pub fn probe(
    src: &dyn BlockSource,
    ctx: &ProbeContext,
    filter: &TypeFilter,
    diag: &mut Diagnostics,
) -> Option<Table> {
    TableKind::ALL
        .into_iter()
        .filter(|&kind| filter.admits(kind))
        .find_map(|kind| {
            let slices = kind.read(src, ctx, diag);
            (!slices.is_empty()).then_some(Table { kind, slices })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_admits_what_it_names() {
        assert!(TableKind::ALL.iter().all(|&k| TypeFilter::All.admits(k)));
        let dos = TypeFilter::parse("dos");
        assert!(dos.admits(TableKind::Dos) && !dos.admits(TableKind::Gpt));
        let among = TypeFilter::Among(vec![TableKind::Mac, TableKind::Gpt]);
        let admitted: Vec<_> = TableKind::ALL
            .into_iter()
            .filter(|&k| among.admits(k))
            .collect();
        assert_eq!(admitted, [TableKind::Gpt, TableKind::Mac]);
        let unknown = TypeFilter::parse("nope");
        assert!(TableKind::ALL.iter().all(|&k| !unknown.admits(k)));
    }
}
