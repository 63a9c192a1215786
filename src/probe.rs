//! Reading the partition table of a resolved parent device.

use crate::device::sysfs;
use crate::resolve::Parent;
use kpartx_table::dasd::DasdDevice;
use kpartx_table::naming::Naming;
use kpartx_table::{BlockSource, Diagnostics, ProbeContext, Table, TypeFilter};

/// What probing a device found.
#[derive(Debug, Clone)]
pub struct Found {
    /// The winning table, if any reader recognised one.
    pub table: Option<Table>,
    /// Reader warnings for stderr.
    pub diagnostics: Diagnostics,
    /// The device's logical sector size.
    pub sector_size: u32,
    /// The device's size in 512-byte sectors.
    pub size_sectors: u64,
}

impl Found {
    /// Indexes of non-empty slices that end beyond the end of the device.
    pub fn past_end(&self) -> Vec<usize> {
        let slices = self.table.as_ref().map(|t| t.slices.as_slice());
        slices
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.size > 0 && !s.fits_within(self.size_sectors))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Probes `disk` (the opened parent) with every reader `filter` allows.
pub fn probe_parent(
    disk: &dyn BlockSource,
    parent: &Parent,
    force_gpt: bool,
    filter: &TypeFilter,
) -> Found {
    let ctx = ProbeContext {
        force_gpt,
        dasd: dasd_device(parent),
    };
    let mut diagnostics = Diagnostics::default();
    let table = kpartx_table::probe(disk, &ctx, filter, &mut diagnostics);
    Found {
        table,
        diagnostics,
        sector_size: disk.sector_size(),
        size_sectors: disk.size_bytes() / 512,
    }
}

/// One stderr line per partition that does not fit on the device (such partitions are listed
/// like the reference does, but never mapped).
pub fn past_end_warnings(naming: &Naming, found: &Found) -> Vec<String> {
    let Some(table) = &found.table else {
        return Vec::new();
    };
    found
        .past_end()
        .into_iter()
        .map(|i| {
            let s = &table.slices[i];
            format!(
                "warning: {} (start {}, size {}) ends beyond the end of the device ({} sectors); it is not mapped",
                naming.display_name(i + 1),
                s.start,
                s.size,
                found.size_sectors
            )
        })
        .collect()
}

/// Device facts for the DASD reader, from sysfs. The DASD geometry ioctls are not issued, so
/// the reader uses the reference's fallbacks (which is what images and loop devices get too).
fn dasd_device(parent: &Parent) -> DasdDevice {
    DasdDevice {
        major: parent.dev.major,
        is_dm_map: parent.is_dm,
        first_dep_major: parent
            .is_dm
            .then(|| sysfs::slaves(parent.dev).first().map(|d| d.major))
            .flatten(),
        info: None,
        geometry: None,
    }
}
