//! `kpartx --udev-del-part-nodes`: removes the kernel partition devices of a disk that is a
//! path of a multipath map, so that nobody mounts one path's partition behind multipath's
//! back (the partitions are used through the map's kpartx partition maps instead). Run from
//! `68-del-part-nodes.rules`, once per disk; the disk's contents are never touched (the
//! `BLKPG` ioctl only changes the kernel's view of it).

use std::fs::File;
use std::path::Path;

use tracing::level_filters::LevelFilter;
use tracing::{error, info};

use super::event;
use super::identity;
use crate::device::blkpg;
use crate::device::sysfs::SYSFS;
use crate::exit::Exit;
use crate::logging;

/// Runs on the udev event in the process environment; 0 when every partition device is gone,
/// 1 when one could not be removed (in use), 2 when the event is unusable.
pub fn run(verbose: u8) -> Exit {
    logging::init(
        logging::Sink::JournalAndStderr,
        logging::level_for(LevelFilter::INFO, verbose),
    );
    let event = match event::from_process() {
        Ok((event, _)) => event,
        Err(e) => {
            error!("ignoring malformed udev event: {e}");
            return Exit::BadEvent;
        }
    };
    let seen = identity::observe(&event);
    let path = match super::verified(&event, &seen, &mut crate::out::Stdio) {
        Ok(path) => path,
        Err(exit) => return exit,
    };
    let Some(kernel_name) = &seen.kernel_name else {
        return Exit::Ok;
    };
    let numbers = blkpg::partition_numbers(&Path::new(SYSFS).join("block"), kernel_name);
    if numbers.is_empty() {
        return Exit::Ok;
    }
    let disk = match File::open(path) {
        Ok(disk) => disk,
        Err(e) => {
            error!("{}: cannot open: {e}", path.display());
            return Exit::Failed;
        }
    };
    let mut failed = 0;
    for n in numbers {
        match blkpg::delete_partition(&disk, n) {
            Ok(()) => info!(
                "{}: removed partition device {n} (the disk is a multipath path)",
                path.display()
            ),
            Err(e) => {
                error!(
                    "{}: cannot remove partition device {n}: {e}",
                    path.display()
                );
                failed += 1;
            }
        }
    }
    Exit::failed_if(failed > 0)
}
