//! The real machine: device-mapper through [`Kernel`], advisory locks in `/run/kpartx`, block
//! devices and loop devices.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use super::{Devices, System};
use crate::device::blockdev::BlockDevice;
use crate::device::loopdev;
use crate::dm::MapOps;
use crate::dm::kernel::{Kernel, ListError};
use crate::dm::nodes::NodeOwner;
use crate::lock::{self, Lock};
use crate::naming::DevNum;
use crate::plan::ExistingMap;
use crate::probe::{self, Found};
use crate::resolve::{self, ImageLoop, Purpose, ResolveError, Resolved, Source};
use crate::table::TypeFilter;

/// The machine's block and loop devices (all `-l` needs: no device-mapper).
#[derive(Debug, Clone, Copy, Default)]
pub struct RealDevices;

/// The machine kpartx runs on: its devices and device-mapper.
pub struct RealSystem {
    kernel: Kernel,
}

impl RealSystem {
    /// Uses `kernel` for every device-mapper operation.
    pub fn new(kernel: Kernel) -> RealSystem {
        RealSystem { kernel }
    }

    /// The device-mapper side (for the helper's checks of the live maps).
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }
}

impl Devices for RealDevices {
    type Guard = Lock;

    fn lock_image(&self, arg: &Path) -> io::Result<Option<Lock>> {
        match fs::metadata(arg) {
            Ok(m) if m.is_file() => {
                lock::acquire(&format!("f-{}-{}", m.dev(), m.ino()), lock::LOCK_TIMEOUT).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn lock_device(&self, dev: DevNum, timeout: Duration) -> io::Result<Lock> {
        lock::acquire(&lock::device_key(dev), timeout)
    }

    fn resolve(&self, arg: &Path, purpose: Purpose) -> Result<Resolved, ResolveError> {
        resolve::resolve(arg, purpose)
    }

    fn read_table(
        &self,
        resolved: &Resolved,
        force_gpt: bool,
        filter: &TypeFilter,
    ) -> io::Result<Found> {
        let disk = match &resolved.source {
            Source::Parent => BlockDevice::open(&resolved.parent.path)?,
            Source::Image { file, sector_size } => BlockDevice::open_image(file, *sector_size)?,
        };
        Ok(probe::read_table(
            &disk,
            &resolved.parent,
            force_gpt,
            filter,
        ))
    }

    fn detach(&self, image: &ImageLoop, on_retry: &mut dyn FnMut()) -> io::Result<()> {
        loopdev::detach(&image.device.path, on_retry)
    }
}

impl Devices for RealSystem {
    type Guard = Lock;

    fn lock_image(&self, arg: &Path) -> io::Result<Option<Lock>> {
        RealDevices.lock_image(arg)
    }

    fn lock_device(&self, dev: DevNum, timeout: Duration) -> io::Result<Lock> {
        RealDevices.lock_device(dev, timeout)
    }

    fn resolve(&self, arg: &Path, purpose: Purpose) -> Result<Resolved, ResolveError> {
        RealDevices.resolve(arg, purpose)
    }

    fn read_table(
        &self,
        resolved: &Resolved,
        force_gpt: bool,
        filter: &TypeFilter,
    ) -> io::Result<Found> {
        RealDevices.read_table(resolved, force_gpt, filter)
    }

    fn detach(&self, image: &ImageLoop, on_retry: &mut dyn FnMut()) -> io::Result<()> {
        RealDevices.detach(image, on_retry)
    }
}

impl System for RealSystem {
    fn snapshot(&self) -> Result<Vec<ExistingMap>, ListError> {
        self.kernel.snapshot()
    }

    fn own_nodes_like(&self, parent: &Path) {
        self.kernel.set_node_owner(NodeOwner::of(parent));
    }

    fn ops(&self) -> &dyn MapOps {
        &self.kernel
    }
}
