//! The real machine: device-mapper through [`Kernel`], advisory locks in `/run/kpartx`, block
//! devices and loop devices.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Devices, System};
use crate::device::DevNum;
use crate::device::blockdev::BlockDevice;
use crate::device::{loop_records, loopdev, sysfs};
use crate::dm::kernel::{Kernel, LookError};
use crate::dm::model::ExistingMap;
use crate::dm::nodes::NodeOwner;
use crate::dm::readiness::{self, MapState};
use crate::dm::{MapOps, MapQuery};
use crate::lock::{self, Lock};
use crate::probe::{self, Found};
use crate::resolve::{self, ImageLoop, Parent, Purpose, ResolveError, Resolved, Source};
use kpartx_table::TypeFilter;

/// The machine's block and loop devices (all `-l` needs: no device-mapper).
#[derive(Debug, Clone, Copy, Default)]
pub struct RealDevices;

/// The machine kpartx runs on: its devices, and device-mapper through one handle.
pub struct RealSystem {
    devices: RealDevices,
    kernel: Kernel,
}

impl RealSystem {
    /// Uses `kernel` for every device-mapper operation.
    pub fn new(kernel: Kernel) -> RealSystem {
        RealSystem {
            devices: RealDevices,
            kernel,
        }
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
        let resolved = resolve::resolve(arg, purpose)?;
        if let (Purpose::Map { .. }, Some(image)) = (purpose, &resolved.image)
            && image.created
            && let Some(name) = loop_name(&image.device.path)
            && let Some(file) = sysfs::loop_backing_file(&name)
            && let Err(e) = loop_records::record(&name, &file)
        {
            // The loop works without its record; only --prune will not know it.
            tracing::warn!("cannot record loop {name}: {e}");
        }
        Ok(resolved)
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
        Ok(probe::probe_parent(
            &disk,
            &resolved.parent,
            force_gpt,
            filter,
        ))
    }

    fn detach(&self, image: &ImageLoop, on_retry: &mut dyn FnMut()) -> io::Result<()> {
        loopdev::detach(&image.device.path, on_retry)?;
        if let Some(name) = loop_name(&image.device.path) {
            loop_records::forget(&name);
        }
        Ok(())
    }

    fn map_state(&self, parent: &Parent) -> MapState {
        // `-l` may run where device-mapper is not usable; the helper and the map use cases
        // ask through the run's handle (`System::map_state`).
        readiness::of_map(devicemapper::DM::new().ok().as_ref(), parent.dev)
    }

    fn device_by_number(&self, dev: DevNum) -> Option<Parent> {
        if !sysfs::exists(dev) {
            return None;
        }
        let kname = sysfs::kernel_name(dev)?;
        let dm_name = sysfs::dm_name(dev);
        Some(Parent {
            path: Path::new("/dev").join(&kname),
            dev,
            name: dm_name.clone().unwrap_or(kname).into(),
            dm_uuid: sysfs::dm_uuid(dev),
            is_dm: dm_name.is_some(),
            read_only: sysfs::read_only(dev),
        })
    }

    fn holders(&self, dev: DevNum) -> Vec<String> {
        sysfs::holders(dev)
    }

    fn loop_records(&self) -> Vec<(String, PathBuf)> {
        loop_records::list()
    }

    fn loop_backing(&self, name: &str) -> Option<PathBuf> {
        sysfs::loop_backing_file(name)
    }

    fn detach_recorded(&self, name: &str) -> io::Result<()> {
        let path = Path::new("/dev").join(name);
        // An exclusive open fails while anything (a map, a mount, a process) has it open, so
        // a loop in use is never detached lazily.
        drop(
            fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_EXCL | libc::O_CLOEXEC)
                .open(&path)?,
        );
        loopdev::detach(&path, || {})?;
        loop_records::forget(name);
        Ok(())
    }

    fn forget_loop(&self, name: &str) {
        loop_records::forget(name);
    }
}

/// The kernel name (`loop3`) of a loop device node.
fn loop_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    name.starts_with("loop").then(|| name.to_string())
}

impl System for RealSystem {
    type Devices = RealDevices;

    fn devices(&self) -> &RealDevices {
        &self.devices
    }

    fn map_state(&self, parent: &Parent) -> MapState {
        self.kernel.map_state(parent.dev)
    }

    fn snapshot(&self) -> Result<Vec<ExistingMap>, LookError> {
        self.kernel.snapshot()
    }

    fn look(&self, query: &MapQuery) -> Result<Vec<ExistingMap>, LookError> {
        self.kernel.look(query)
    }

    fn own_nodes_like(&self, parent: &Path) {
        self.kernel.set_node_owner(NodeOwner::of(parent));
    }

    fn ops(&self) -> &dyn MapOps {
        &self.kernel
    }
}
