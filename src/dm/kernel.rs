//! The real device-mapper, through the `devicemapper` crate plus [`super::raw`] for the
//! cookie-carrying ioctls.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use devicemapper::{DM, DevId, DeviceInfo, DmFlags, DmName, DmOptions, DmUuid};

use super::by_id::IdStore;
use super::cookie::{self, Cookie, UdevMode, WaitError, Waited, Witness, flags};
use super::model::{ExistingMap, MapSpec, TargetKind, TargetLine};
use super::nodes::{self, NodeOwner};
use super::raw::{self, Reply};
use super::readiness::{self, MapState};
use super::types::{MapName, MapUuid, Sectors};
use super::udev_db::{Awaited, Expect, UdevDb};
use super::unanswered::Reach;
use super::{MapOps, MapQuery, OpError, Settled, Stage, Unanswered, udevd_probe};
use crate::deadline::{Attempt, Deadline, ride_out};
use crate::device::{DevNum, sysfs};
use crate::sys_text::strerror;

/// An open device-mapper control node plus how udev takes part.
///
/// Operations never wait for udev themselves: in [`UdevMode::Wait`] the operations of one
/// transaction carry one cookie (created with its first operation), and [`MapOps::settle`]
/// waits for it once, after the caller has released its locks, and ends the transaction: a
/// run that maps several devices (the image list) waits once per device.
pub struct Kernel {
    dm: DM,
    mode: UdevMode,
    owner: Cell<NodeOwner>,
    /// The udev transaction in progress: made by the first operation after the last wait.
    cookie: RefCell<Option<Cookie>>,
    touched: RefCell<Vec<Touched>>,
    /// The events of the transaction, as udev's database should show them once processed.
    awaited: RefCell<Vec<Awaited>>,
    db: UdevDb,
    /// Where partition maps' by-id properties are published for the rules (udev running).
    ids: Option<IdStore>,
}

/// What a look at device-mapper was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Looked {
    /// Every map (the list).
    Every,
    /// The map with this (stored) name.
    Name(MapName),
    /// The map with this DM UUID.
    Uuid(MapUuid),
}

/// The kernel would not say whether a map exists (or which maps exist): anything but "no
/// such device", which is the only answer that means absent.
#[derive(Debug, Clone)]
pub struct LookError {
    /// What was looked for.
    pub looked: Looked,
    /// What the kernel said, in plain words.
    pub detail: String,
    cause: Arc<dyn std::error::Error + Send + Sync>,
}

impl LookError {
    /// A look for `looked` that failed with `cause`, told as `detail`.
    pub fn new(
        looked: Looked,
        detail: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> LookError {
        LookError {
            looked,
            detail: detail.into(),
            cause: Arc::new(cause),
        }
    }

    fn dm(looked: Looked, err: devicemapper::DmError) -> LookError {
        LookError::new(looked, super::plain_cause(&err), err)
    }
}

impl fmt::Display for LookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.looked {
            Looked::Every => write!(f, "cannot list device-mapper devices: {}", self.detail),
            Looked::Name(name) => write!(
                f,
                "cannot look up device-mapper map {name}: {}",
                self.detail
            ),
            Looked::Uuid(uuid) => write!(
                f,
                "cannot look up the device-mapper map with UUID {uuid}: {}",
                self.detail
            ),
        }
    }
}

impl std::error::Error for LookError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.cause as &(dyn std::error::Error + 'static))
    }
}

/// A map whose node udev should have made or removed by the end of the run.
#[derive(Debug, Clone)]
enum Touched {
    Mapped(MapName, DevNum),
    Removed(MapName),
}

/// Why device-mapper cannot be used.
#[derive(Debug)]
pub enum OpenError {
    /// `/dev/mapper/control` could not be opened.
    Control(io::Error),
    /// The kernel's target list could not be read.
    Versions(devicemapper::DmError),
    /// The kernel has no `linear` target (dm-mod without it).
    NoLinear,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Control(e) => write!(
                f,
                "cannot open {}: {} (is the dm-mod module loaded?)",
                nodes::control_path().display(),
                strerror(e)
            ),
            OpenError::Versions(e) => write!(
                f,
                "cannot list device-mapper targets: {}",
                super::plain_cause(e)
            ),
            OpenError::NoLinear => f.write_str("the kernel has no device-mapper linear target"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Control(e) => Some(e),
            OpenError::Versions(e) => Some(e),
            OpenError::NoLinear => None,
        }
    }
}

impl Kernel {
    /// Opens `/dev/mapper/control` and checks that the `linear` target exists (the
    /// reference's prerequisite check).
    pub fn open(mode: UdevMode) -> Result<Kernel, OpenError> {
        // Opened here first for the plain cause (`No such device`): the crate wraps it in
        // layers of its own words.
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(nodes::control_path())
            .map_err(OpenError::Control)?;
        let dm =
            DM::new().map_err(|e| OpenError::Control(io::Error::other(super::plain_cause(&e))))?;
        let versions = dm.list_versions().map_err(OpenError::Versions)?;
        if !versions.iter().any(|(name, ..)| name.starts_with("linear")) {
            return Err(OpenError::NoLinear);
        }
        Ok(Kernel {
            dm,
            mode,
            owner: Cell::new(NodeOwner::default()),
            cookie: RefCell::new(None),
            touched: RefCell::new(Vec::new()),
            awaited: RefCell::new(Vec::new()),
            db: UdevDb::system(),
            ids: (mode != UdevMode::NoUdev).then(IdStore::system),
        })
    }

    /// Whether map `dev` can be read now and whether its table asks for no partitions
    /// ([`readiness::of_map`] through this handle).
    pub fn map_state(&self, dev: DevNum) -> MapState {
        readiness::of_map(Some(&self.dm), dev)
    }

    /// Uses `owner` for nodes this run creates itself.
    pub fn set_node_owner(&self, owner: NodeOwner) {
        self.owner.set(owner);
    }

    /// Every map with its UUID, open count, read-only flag and table, in kernel list order.
    /// Maps that vanish while being looked at are left out; any other error stops the look.
    /// Costs two ioctls per map on the host: only for commands that are about every map
    /// (`--status`, `--prune`).
    pub fn snapshot(&self) -> Result<Vec<ExistingMap>, LookError> {
        let list = self
            .dm
            .list_devices()
            .map_err(|e| LookError::dm(Looked::Every, e))?;
        let mut maps = Vec::with_capacity(list.len());
        for (name, ..) in &list {
            let looked = || Looked::Name(MapName::new(name.to_string()));
            maps.extend(self.fetch(&DevId::Name(name), looked)?);
        }
        Ok(maps)
    }

    /// The maps `query` asks for, each once, sorted by name (the order in which the kernel
    /// lists its maps). At most one ioctl per map asked for and none for the rest of the
    /// host: the holders come from sysfs, names and UUIDs are looked up directly, and a map
    /// already found is not asked for again under another of them. Maps that do not
    /// exist, or vanish while being looked at, are left out; any other answer from the kernel
    /// stops the look with an error that names the map. A name or UUID device-mapper cannot
    /// hold (too long, not ASCII) cannot be a map's, so it is not asked for.
    pub fn look(&self, query: &MapQuery) -> Result<Vec<ExistingMap>, LookError> {
        let mut found: BTreeMap<MapName, ExistingMap> = BTreeMap::new();
        let stacked: Vec<MapName> = query
            .stacked_on
            .map(sysfs::dm_holder_names)
            .into_iter()
            .flatten()
            .map(MapName::new)
            .collect();
        // The predicted names are usually the holders already fetched: each map is asked
        // for once.
        for name in stacked.iter().chain(&query.names) {
            if found.contains_key(name) {
                continue;
            }
            let Ok(dm_name) = DmName::new(name.as_str()) else {
                continue;
            };
            let looked = || Looked::Name(name.clone());
            if let Some(map) = self.fetch(&DevId::Name(dm_name), looked)? {
                found.entry(map.name.clone()).or_insert(map);
            }
        }
        for uuid in &query.uuids {
            if found.values().any(|m| m.uuid.as_ref() == Some(uuid)) {
                continue;
            }
            let Ok(dm_uuid) = DmUuid::new(uuid.as_str()) else {
                continue;
            };
            let looked = || Looked::Uuid(uuid.clone());
            if let Some(map) = self.fetch(&DevId::Uuid(dm_uuid), looked)? {
                found.entry(map.name.clone()).or_insert(map);
            }
        }
        Ok(found.into_values().collect())
    }

    /// One map's info and live table in one ioctl (`DM_TABLE_STATUS` returns both), `None`
    /// when there is no such map (the kernel's ENXIO); any other error is `looked`'s.
    fn fetch(
        &self,
        id: &DevId<'_>,
        looked: impl Fn() -> Looked,
    ) -> Result<Option<ExistingMap>, LookError> {
        let table_opts = DmOptions::default().set_flags(DmFlags::DM_STATUS_TABLE);
        let (info, table) = match self.dm.table_status(id, table_opts) {
            Ok(found) => found,
            Err(e) if super::no_such_map(&e) => return Ok(None),
            Err(e) => return Err(LookError::dm(looked(), e)),
        };
        let dev = info.device();
        let Some(name) = info.name() else {
            let unnamed = io::Error::other("the kernel returned no name");
            return Err(LookError::new(looked(), unnamed.to_string(), unnamed));
        };
        Ok(Some(ExistingMap {
            name: MapName::new(name.to_string()),
            uuid: info
                .uuid()
                .map(|u| u.to_string())
                .filter(|u| !u.is_empty())
                .map(MapUuid::new),
            dev: DevNum::new(dev.major, dev.minor),
            open_count: info.open_count(),
            read_only: info.flags().contains(DmFlags::DM_READONLY),
            pending: info
                .flags()
                .intersects(DmFlags::DM_SUSPEND | DmFlags::DM_INACTIVE_PRESENT),
            targets: table
                .into_iter()
                .map(|(start, length, kind, params)| {
                    TargetLine::new(
                        Sectors(start),
                        Sectors(length),
                        TargetKind::from_name(&kind),
                        params,
                    )
                })
                .collect(),
        }))
    }

    /// What udev's database should show once it processed the event of `expect` on map
    /// `name` (device `dev`), when this run waits for udev; taken just before the ioctl.
    fn awaiting(&self, expect: Expect, name: &MapName, dev: Option<DevNum>) -> Option<Awaited> {
        match (self.mode, dev) {
            (UdevMode::Wait(_), Some(dev)) => Some(self.db.before(expect, name.as_str(), dev)),
            _ => None,
        }
    }

    /// Runs one cookie-carrying ioctl the way the udev mode requires; never waits. `awaited`
    /// is what udev's database will show once it processed the event.
    fn with_udev(
        &self,
        stage: Stage,
        udev_flags: u16,
        awaited: Option<Awaited>,
        op: impl FnOnce(u32) -> io::Result<Reply>,
    ) -> Result<(), OpError> {
        let failed = |e: io::Error| OpError::io(stage, e);
        match self.mode {
            UdevMode::NoUdev => {
                let nr = cookie::flags_only(
                    udev_flags | flags::DISABLE_DM_RULES | flags::DISABLE_SUBSYSTEM_RULES,
                );
                op(nr).map(drop).map_err(failed)
            }
            UdevMode::FlagsOnly => op(cookie::flags_only(
                udev_flags | flags::DISABLE_LIBRARY_FALLBACK,
            ))
            .map(drop)
            .map_err(failed),
            UdevMode::Wait(_) => {
                let mut slot = self.cookie.borrow_mut();
                let cookie = match &mut *slot {
                    Some(cookie) => cookie,
                    None => slot.insert(
                        Cookie::create()
                            .map_err(|e| OpError::io_in(stage, "cannot create udev cookie", e))?,
                    ),
                };
                cookie
                    .begin_operation()
                    .map_err(|e| OpError::io_in(stage, "cannot count the udev cookie", e))?;
                match op(cookie.event_nr(udev_flags)) {
                    Ok(reply) => {
                        if !reply.uevent {
                            cookie.complete_without_event();
                        } else if let Some(awaited) = awaited {
                            self.awaited.borrow_mut().push(awaited);
                        }
                        Ok(())
                    }
                    Err(e) => {
                        cookie.complete_without_event();
                        Err(failed(e))
                    }
                }
            }
        }
    }

    fn resume(&self, spec: &MapSpec, dev: DevNum, reload: bool) -> Result<(), OpError> {
        let fd = self.dm.file().as_raw_fd();
        let udev_flags = if reload { flags::SUBSYSTEM_FLAG0 } else { 0 };
        let awaited = self.awaiting(Expect::Resumed, &spec.name, Some(dev));
        self.with_udev(Stage::Resume, udev_flags, awaited, |nr| {
            raw::resume(fd, spec.name.as_str(), nr, reload)
        })
    }

    /// After a create or reload: without udev, make the node now; with a udev wait, check
    /// it once the wait is over.
    fn mapped(&self, name: &MapName, dev: DevNum) {
        match self.mode {
            UdevMode::NoUdev => self.make_node(name, dev),
            UdevMode::Wait(_) => self.touch(Touched::Mapped(name.clone(), dev)),
            UdevMode::FlagsOnly => {}
        }
    }

    fn touch(&self, what: Touched) {
        self.touched.borrow_mut().push(what);
    }

    fn make_node(&self, name: &MapName, dev: DevNum) {
        if let Err(e) = nodes::create_node(name.as_str(), dev, self.owner.get()) {
            let node = nodes::node_path(name.as_str());
            tracing::error!("cannot create {}: {e}", node.display());
        }
    }

    /// With udev running: publishes the by-id properties of partition map `spec` for the
    /// rules, before its resume sends the uevent they are read for. A failure only costs the
    /// rules a program run, so it is logged, not returned.
    fn publish_ids(&self, spec: &MapSpec) {
        if let Some(ids) = &self.ids
            && let Err(e) = ids.publish(spec.parent, spec.uuid.as_str())
        {
            tracing::warn!("cannot publish the udev properties of {}: {e}", spec.name);
        }
    }

    /// Map `name`'s info when udev takes part: its UUID tells which published properties
    /// go with it, its device where udev records its events.
    fn info_for_udev(&self, name: &MapName, stage: Stage) -> Option<DeviceInfo> {
        if self.mode == UdevMode::NoUdev {
            return None;
        }
        self.info(name, stage).ok()
    }

    fn load(&self, spec: &MapSpec) -> Result<(), OpError> {
        let name = dm_name(&spec.name, Stage::Load)?;
        let table = [(0, spec.size.0, "linear".to_string(), spec.params())];
        self.dm
            .table_load(&DevId::Name(name), &table, table_options(spec))
            .map(drop)
            .map_err(|e| OpError::dm(Stage::Load, e))
    }

    fn device_of(&self, name: &MapName) -> Result<DevNum, OpError> {
        Ok(device(&self.info(name, Stage::Load)?))
    }

    /// Map `name`'s info (DM_DEV_STATUS); a failure is told as part of `stage`.
    fn info(&self, name: &MapName, stage: Stage) -> Result<DeviceInfo, OpError> {
        self.dm
            .device_info(&DevId::Name(dm_name(name, stage)?))
            .map_err(|e| OpError::dm(stage, e))
    }

    /// Whether map `name` exists (checked after a udev wait); `None` when the kernel would
    /// not say.
    fn exists(&self, name: &MapName) -> Option<bool> {
        let Ok(dm_name) = DmName::new(name.as_str()) else {
            return Some(false);
        };
        match self.dm.device_info(&DevId::Name(dm_name)) {
            Ok(_) => Some(true),
            Err(e) if super::no_such_map(&e) => Some(false),
            Err(_) => None,
        }
    }
}

fn device(info: &DeviceInfo) -> DevNum {
    DevNum::new(info.device().major, info.device().minor)
}

/// udev's database, checked against the events of one transaction.
struct DbWitness<'a> {
    db: &'a UdevDb,
    awaited: &'a [Awaited],
}

impl Witness for DbWitness<'_> {
    fn processed(&self) -> bool {
        !self.awaited.is_empty() && self.awaited.iter().all(|op| self.db.processed(op))
    }

    fn reach(&self) -> Reach {
        udevd_probe::probe()
    }
}

fn dm_name(name: &MapName, stage: Stage) -> Result<&DmName, OpError> {
    DmName::new(name.as_str()).map_err(|e| OpError::dm(stage, e))
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
        let uuid = DmUuid::new(spec.uuid.as_str()).map_err(|e| OpError::dm(Stage::Load, e))?;
        let info = self
            .dm
            .device_create(name, Some(uuid), table_options(spec))
            .map_err(|e| OpError::dm(Stage::Load, e))?;
        let dev = DevNum::new(info.device().major, info.device().minor);
        self.publish_ids(spec);
        if let Err(e) = self.load(spec).and_then(|()| self.resume(spec, dev, false)) {
            // A map without a live table has no opener: one try (a leftover has no table
            // and is found by its UUID by the next -d).
            let _ = self.remove(&spec.name, false, Deadline::now());
            return Err(e);
        }
        self.mapped(&spec.name, dev);
        Ok(dev)
    }

    fn reload(&self, spec: &MapSpec) -> Result<DevNum, OpError> {
        self.publish_ids(spec);
        let dev = self.device_of(&spec.name)?;
        self.load(spec)?;
        self.resume(spec, dev, true)?;
        self.mapped(&spec.name, dev);
        Ok(dev)
    }

    fn keep(&self, spec: &MapSpec, dev: DevNum) -> Result<DevNum, OpError> {
        match self.mode {
            UdevMode::NoUdev => {
                self.make_node(&spec.name, dev);
                Ok(dev)
            }
            _ if nodes::node_exists(spec.name.as_str(), dev) => Ok(dev),
            _ => {
                tracing::info!("reloading {}: its node is missing", spec.name);
                self.reload(spec)
            }
        }
    }

    fn rename(&self, from: &MapName, to: &MapName) -> Result<(), OpError> {
        let fd = self.dm.file().as_raw_fd();
        let dev = self.info_for_udev(from, Stage::Rename).map(|i| device(&i));
        let awaited = self.awaiting(Expect::Renamed, to, dev);
        self.with_udev(
            Stage::Rename,
            flags::DISABLE_LIBRARY_FALLBACK,
            awaited,
            |nr| raw::rename(fd, from.as_str(), to.as_str(), nr),
        )?;
        match self.mode {
            UdevMode::NoUdev => {
                let _ = nodes::rename_node(from.as_str(), to.as_str());
            }
            UdevMode::Wait(_) => self.touch(Touched::Removed(from.clone())),
            UdevMode::FlagsOnly => {}
        }
        Ok(())
    }

    /// A removal refused with EBUSY is tried again until `deadline` ([`ride_out`]): udev's
    /// probes keep a map open for a moment, and a teardown must not stop half-way for that.
    fn remove(&self, name: &MapName, flush: bool, deadline: Deadline) -> Result<(), OpError> {
        let fd = self.dm.file().as_raw_fd();
        let info = self.info_for_udev(name, Stage::Remove);
        let uuid = info.as_ref().and_then(|i| i.uuid().map(|u| u.to_string()));
        let awaited = self.awaiting(Expect::Removed, name, info.as_ref().map(device));
        self.with_udev(Stage::Remove, 0, awaited, |nr| {
            ride_out(deadline, || {
                match raw::remove(fd, name.as_str(), nr, flush) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Attempt::Busy(Err(e)),
                    result => Attempt::Done(result),
                }
            })
        })?;
        if let (Some(ids), Some(uuid)) = (&self.ids, uuid)
            && let Err(e) = ids.withdraw(&uuid)
        {
            tracing::warn!("cannot remove the udev properties of {name}: {e}");
        }
        match self.mode {
            UdevMode::NoUdev => {
                let _ = nodes::remove_node(name.as_str());
            }
            UdevMode::Wait(_) => self.touch(Touched::Removed(name.clone())),
            UdevMode::FlagsOnly => {}
        }
        Ok(())
    }

    fn settle(&self) -> Result<Settled, OpError> {
        let UdevMode::Wait(timeout) = self.mode else {
            return Ok(Settled::NotWaited);
        };
        let Some(cookie) = self.cookie.borrow_mut().take() else {
            return Ok(Settled::NotWaited);
        };
        let key = cookie.key();
        let awaited = std::mem::take(&mut *self.awaited.borrow_mut());
        let witness = DbWitness {
            db: &self.db,
            awaited: &awaited,
        };
        let result = cookie.wait(timeout, &witness);
        // Whether udev finished or not, leave the nodes as the maps are (libdevmapper's
        // node check after a wait).
        let touched = std::mem::take(&mut *self.touched.borrow_mut());
        let mut wrong_node = None;
        for what in touched {
            match what {
                Touched::Mapped(name, dev) if self.exists(&name) == Some(true) => {
                    self.make_node(&name, dev);
                    if !nodes::node_path(name.as_str()).exists() {
                        wrong_node = Some(name);
                    }
                }
                Touched::Removed(name) if self.exists(&name) == Some(false) => {
                    let _ = nodes::remove_node(name.as_str());
                    if nodes::node_path(name.as_str()).symlink_metadata().is_ok() {
                        wrong_node = Some(name);
                    }
                }
                _ => {}
            }
        }
        match result {
            Ok(Waited::Completed) => Ok(Settled::Completed),
            Ok(Waited::Unanswered { pending, reach }) => match wrong_node {
                None => Ok(Settled::Unanswered(Unanswered {
                    events: pending,
                    cookie: key,
                    reach,
                })),
                Some(name) => Err(OpError::new(
                    Stage::Udev,
                    format!(
                        "udev processed the device-mapper events of cookie 0x{key:x} but never \
                         completed it ({reach}), and {} is not as its map is",
                        nodes::node_path(name.as_str()).display()
                    ),
                )),
            },
            Err(WaitError::TimedOut { waited, pending }) => {
                Err(OpError::udev_timeout(pending, waited, key))
            }
            Err(WaitError::Io(e)) => Err(OpError::io_in(Stage::Udev, "waiting for udev failed", e)),
        }
    }
}
