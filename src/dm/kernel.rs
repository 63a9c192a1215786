//! The real device-mapper, through the `devicemapper` crate plus [`super::raw`] for the
//! cookie-carrying ioctls.

use std::io;
use std::os::fd::AsRawFd;

use devicemapper::{DM, DevId, DmFlags, DmName, DmOptions, DmUuid};

use super::cookie::{self, Cookie, Progress, UdevMode, WaitError, flags};
use super::nodes::{self, NodeOwner};
use super::raw::{self, Reply};
use super::{MapOps, OpError, Stage};
use crate::naming::DevNum;
use crate::plan::{ExistingMap, MapSpec, TargetLine};

/// An open device-mapper control node plus how udev takes part.
pub struct Kernel {
    dm: DM,
    mode: UdevMode,
    owner: NodeOwner,
    progress: Progress,
}

impl Kernel {
    /// Opens `/dev/mapper/control` and checks that the `linear` target exists (the
    /// reference's prerequisite check). `None` when device-mapper is not usable.
    pub fn open(mode: UdevMode) -> Option<Kernel> {
        let dm = DM::new().ok()?;
        let versions = dm.list_versions().ok()?;
        versions
            .iter()
            .any(|(name, ..)| name.starts_with("linear"))
            .then_some(Kernel {
                dm,
                mode,
                owner: NodeOwner::default(),
                progress: Progress::default(),
            })
    }

    /// Uses `owner` for nodes this run creates itself.
    pub fn set_node_owner(&mut self, owner: NodeOwner) {
        self.owner = owner;
    }

    /// Every map with its UUID, open count, read-only flag and table, in kernel list order.
    /// Maps that vanish while being looked at are left out.
    pub fn snapshot(&self) -> Result<Vec<ExistingMap>, String> {
        let list = self
            .dm
            .list_devices()
            .map_err(|e| format!("cannot list device-mapper devices: {e}"))?;
        let table_opts = DmOptions::default().set_flags(DmFlags::DM_STATUS_TABLE);
        let mut maps = Vec::with_capacity(list.len());
        for (name, dev, _) in list {
            let id = DevId::Name(&name);
            let Ok(info) = self.dm.device_info(&id) else {
                continue;
            };
            let Ok((_, table)) = self.dm.table_status(&id, table_opts) else {
                continue;
            };
            maps.push(ExistingMap {
                name: name.to_string(),
                uuid: info.uuid().map(|u| u.to_string()).filter(|u| !u.is_empty()),
                dev: DevNum::new(dev.major, dev.minor),
                open_count: info.open_count(),
                read_only: info.flags().contains(DmFlags::DM_READONLY),
                targets: table
                    .into_iter()
                    .map(|(start, length, kind, params)| TargetLine {
                        start,
                        length,
                        kind,
                        params,
                    })
                    .collect(),
            });
        }
        Ok(maps)
    }

    /// Runs one cookie-carrying ioctl the way the udev mode requires. `Ok(true)` means udev
    /// has finished with the event (or will never see one), `Ok(false)` that it was not waited
    /// for. A wait that runs out is an error of stage [`Stage::Udev`].
    fn with_udev(
        &self,
        map: &str,
        stage: Stage,
        udev_flags: u16,
        op: impl FnOnce(u32) -> io::Result<Reply>,
    ) -> Result<bool, OpError> {
        let failed = |e: io::Error| OpError::new(stage, e);
        match self.mode {
            UdevMode::NoUdev => {
                let nr = cookie::flags_only(
                    udev_flags | flags::DISABLE_DM_RULES | flags::DISABLE_SUBSYSTEM_RULES,
                );
                op(nr).map_err(failed)?;
                Ok(false)
            }
            UdevMode::FlagsOnly => {
                op(cookie::flags_only(
                    udev_flags | flags::DISABLE_LIBRARY_FALLBACK,
                ))
                .map_err(failed)?;
                Ok(false)
            }
            UdevMode::Wait(timeout) => {
                let cookie = Cookie::create()
                    .map_err(|e| OpError::new(stage, format!("cannot create udev cookie: {e}")))?;
                let reply = op(cookie.event_nr(udev_flags)).map_err(failed)?;
                if !reply.uevent {
                    cookie.complete_without_event();
                }
                match cookie.wait(timeout, &self.progress) {
                    Ok(()) => Ok(true),
                    Err(WaitError::TimedOut(waited)) => {
                        Err(OpError::udev_timeout(map, waited, cookie.key()))
                    }
                    Err(WaitError::Io(e)) => Err(OpError::new(
                        Stage::Udev,
                        format!("waiting for udev failed: {e}"),
                    )),
                }
            }
        }
    }

    fn resume(&self, spec: &MapSpec, reload: bool) -> Result<(), OpError> {
        let fd = self.dm.file().as_raw_fd();
        let udev_flags = if reload { flags::SUBSYSTEM_FLAG0 } else { 0 };
        let result = self.with_udev(&spec.display, Stage::Resume, udev_flags, |nr| {
            raw::resume(fd, &spec.name, nr, reload)
        });
        self.settle_node(&spec.name, &result);
        result.map(drop)
    }

    /// After a create or reload: make sure the node exists when nobody else will make it.
    fn settle_node(&self, name: &str, result: &Result<bool, OpError>) {
        let needed = match (self.mode, result) {
            (UdevMode::NoUdev, Ok(_)) => true,
            (UdevMode::Wait(_), Ok(true)) => true,
            (UdevMode::Wait(_), Err(e)) => e.stage == Stage::Udev,
            _ => false,
        };
        if !needed {
            return;
        }
        let Ok(dmname) = DmName::new(name) else {
            return;
        };
        if let Ok(info) = self.dm.device_info(&DevId::Name(dmname)) {
            let dev = info.device();
            let dev = DevNum::new(dev.major, dev.minor);
            if let Err(e) = nodes::create_node(name, dev, self.owner) {
                eprintln!(
                    "kpartx: cannot create {}: {e}",
                    nodes::node_path(name).display()
                );
            }
        }
    }

    fn load(&self, spec: &MapSpec) -> Result<(), OpError> {
        let name = dm_name(&spec.name, Stage::Load)?;
        let table = [(0, spec.size, "linear".to_string(), spec.params())];
        self.dm
            .table_load(&DevId::Name(name), &table, table_options(spec))
            .map(drop)
            .map_err(|e| OpError::new(Stage::Load, e))
    }

    fn device_of(&self, name: &str) -> Result<DevNum, OpError> {
        let info = self
            .dm
            .device_info(&DevId::Name(dm_name(name, Stage::Load)?))
            .map_err(|e| OpError::new(Stage::Load, e))?;
        let dev = info.device();
        Ok(DevNum::new(dev.major, dev.minor))
    }
}

fn dm_name(name: &str, stage: Stage) -> Result<&DmName, OpError> {
    DmName::new(name).map_err(|e| OpError::new(stage, e))
}

fn table_options(spec: &MapSpec) -> DmOptions {
    if spec.read_only {
        DmOptions::default().set_flags(DmFlags::DM_READONLY)
    } else {
        DmOptions::default()
    }
}

impl MapOps for Kernel {
    fn create(&self, spec: &MapSpec) -> Result<DevNum, OpError> {
        let name = dm_name(&spec.name, Stage::Load)?;
        let uuid = DmUuid::new(&spec.uuid).map_err(|e| OpError::new(Stage::Load, e))?;
        let info = self
            .dm
            .device_create(name, Some(uuid), table_options(spec))
            .map_err(|e| OpError::new(Stage::Load, e))?;
        let dev = info.device();
        let loaded = self.load(spec).and_then(|()| self.resume(spec, false));
        match loaded {
            Err(e) if e.stage != Stage::Udev => {
                let _ = self.remove(&spec.name, false);
                Err(e)
            }
            other => other.map(|()| DevNum::new(dev.major, dev.minor)),
        }
    }

    fn reload(&self, spec: &MapSpec) -> Result<DevNum, OpError> {
        self.load(spec)?;
        self.resume(spec, true)?;
        self.device_of(&spec.name)
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), OpError> {
        let fd = self.dm.file().as_raw_fd();
        let result = self.with_udev(to, Stage::Rename, flags::DISABLE_LIBRARY_FALLBACK, |nr| {
            raw::rename(fd, from, to, nr)
        });
        if self.mode == UdevMode::NoUdev && result.is_ok() {
            let _ = nodes::rename_node(from, to);
        }
        result.map(drop)
    }

    fn remove(&self, name: &str, flush: bool) -> Result<(), OpError> {
        let fd = self.dm.file().as_raw_fd();
        let result = self.with_udev(name, Stage::Remove, 0, |nr| {
            raw::remove(fd, name, nr, flush)
        });
        let gone = match (&result, self.mode) {
            (Ok(_), UdevMode::NoUdev | UdevMode::Wait(_)) => true,
            (Err(e), UdevMode::Wait(_)) => e.stage == Stage::Udev,
            _ => false,
        };
        if gone {
            let _ = nodes::remove_node(name);
        }
        result.map(drop)
    }
}
