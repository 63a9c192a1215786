//! A machine in memory for the engine's tests (unit tests, and through the `testkit` feature
//! integration tests and fuzz targets): devices with tables, a device-mapper that keeps
//! its maps in a list, locks, loop devices, and a log of everything in the order it happened.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::deadline::Deadline;
use crate::device::DevNum;
use crate::device::loopdev::{AttachError, LoopDevice};
use crate::dm::kernel::{LookError, Looked};
use crate::dm::model::{ExistingMap, MapSpec, TargetKind, TargetLine};
use crate::dm::readiness::{MapState, Readiness};
use crate::dm::types::{MapName, MapUuid, Sectors};
use crate::dm::{MapOps, MapQuery, OpError, Settled, Stage};
use crate::engine::{Devices, System};
use crate::probe::Found;
use crate::resolve::{ImageLoop, Parent, Purpose, ResolveError, Resolved, Source};
use kpartx_table::{Diagnostics, Slice, Table, TableKind, TypeFilter};

/// A device the fake knows: a block device, or an image file that gets a loop. Its table is a
/// DOS table; with `gpt_needs_force` it is a GPT behind an invalid protective MBR, found only
/// with `-g`.
#[derive(Debug, Clone)]
pub struct FakeDevice {
    /// Its path as given on the command line.
    pub path: PathBuf,
    /// The parent it resolves to (for an image, its loop).
    pub parent: Parent,
    /// `Some(existing)` for an image file: whether a loop is already bound to it.
    pub image: Option<bool>,
    /// Its partitions (`None`: no table).
    pub slices: Option<Vec<Slice>>,
    /// Its size in 512-byte sectors.
    pub sectors: u64,
    /// The table is a GPT whose protective MBR is invalid: only `-g` finds it.
    pub gpt_needs_force: bool,
}

/// The fake machine.
pub struct FakeSystem {
    /// The devices arguments resolve to.
    pub devices: Vec<FakeDevice>,
    /// Device-mapper's maps, in creation order.
    pub maps: Mutex<Vec<ExistingMap>>,
    /// Everything that happened, in order (see [`FakeSystem::events`]).
    pub log: Arc<Mutex<Vec<String>>>,
    /// Map names whose operations fail.
    pub failing: Vec<String>,
    /// What the udev wait returns.
    pub settle_error: Option<OpError>,
    /// When set, the udev wait ends as one whose cookie udev never completed.
    pub settle_unanswered: Option<crate::dm::Unanswered>,
    /// Look-ups the kernel answers with an error: the map's name or UUID, and the errno.
    pub look_errors: Vec<(String, i32)>,
    /// Lock keys someone else holds for good: taking one fails as a timed-out wait would,
    /// without spending the time.
    pub held: Vec<String>,
    /// Lock keys held now by guards of this fake; shared with the guards, which release
    /// them when dropped.
    locked: Arc<Mutex<Vec<String>>>,
    /// Attaching a loop fails with this errno.
    pub attach_errno: Option<i32>,
    /// Image files this fake bound a loop to (through `-a`), until that loop is detached.
    bound: Mutex<Vec<PathBuf>>,
    /// Loop records: kernel name, recorded image, image bound now (`None`: unbound).
    pub loops: Mutex<Vec<(String, PathBuf, Option<PathBuf>)>>,
    /// Devices that exist besides `devices` (for status lookups).
    pub present: Vec<DevNum>,
    /// How many looks at device-mapper were taken.
    pub looks: AtomicUsize,
    /// Map operations since the last udev wait (what the real cookie counts).
    in_transaction: Mutex<usize>,
    /// For every udev wait, how many operations it waited for.
    pub transactions: Mutex<Vec<usize>>,
    /// After this many looks, every open map is closed (a transient opener letting go).
    pub close_after_looks: Option<usize>,
    /// Multipath maps whose table has the legacy `no_partitions` feature.
    pub no_partitions: Vec<DevNum>,
    /// Devices that must not be read now, and why.
    pub not_ready: Vec<(DevNum, Readiness)>,
    next_minor: Mutex<u32>,
}

/// A lock of the fake; releases its key and logs that when dropped.
pub struct FakeGuard {
    key: String,
    log: Arc<Mutex<Vec<String>>>,
    locked: Arc<Mutex<Vec<String>>>,
}

impl Drop for FakeGuard {
    fn drop(&mut self) {
        self.locked.lock().unwrap().retain(|k| *k != self.key);
        self.log
            .lock()
            .unwrap()
            .push(format!("unlock {}", self.key));
    }
}

/// A plain block device `path` with device number `dev`.
pub fn disk(
    path: &str,
    dev: DevNum,
    dm: Option<(&str, &str)>,
    slices: Option<Vec<Slice>>,
) -> FakeDevice {
    let name = dm.map_or_else(
        || Path::new(path).file_name().unwrap().into(),
        |(n, _)| OsString::from(n),
    );
    FakeDevice {
        path: path.into(),
        parent: Parent {
            path: path.into(),
            dev,
            name,
            dm_uuid: dm.map(|(_, u)| u.to_string()),
            is_dm: dm.is_some(),
            read_only: false,
        },
        image: None,
        slices,
        sectors: 1 << 20,
        gpt_needs_force: false,
    }
}

/// An image file at `path` that gets loop device `loop_dev` (`/dev/loop<minor>`).
pub fn image(path: &str, loop_minor: u32, bound: bool, slices: Option<Vec<Slice>>) -> FakeDevice {
    let loop_path = format!("/dev/loop{loop_minor}");
    let mut d = disk(&loop_path, DevNum::new(7, loop_minor), None, slices);
    d.path = path.into();
    d.image = Some(bound);
    d
}

impl FakeSystem {
    /// A machine with `devices`, no maps, no loops and nothing held.
    pub fn new(devices: Vec<FakeDevice>) -> FakeSystem {
        FakeSystem {
            devices,
            maps: Mutex::new(Vec::new()),
            log: Arc::new(Mutex::new(Vec::new())),
            failing: Vec::new(),
            settle_error: None,
            settle_unanswered: None,
            look_errors: Vec::new(),
            held: Vec::new(),
            locked: Arc::new(Mutex::new(Vec::new())),
            attach_errno: None,
            bound: Mutex::new(Vec::new()),
            loops: Mutex::new(Vec::new()),
            present: Vec::new(),
            looks: AtomicUsize::new(0),
            not_ready: Vec::new(),
            no_partitions: Vec::new(),
            close_after_looks: None,
            in_transaction: Mutex::new(0),
            transactions: Mutex::new(Vec::new()),
            next_minor: Mutex::new(0),
        }
    }

    /// Everything that happened, in order.
    pub fn events(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The names of the maps that exist now, sorted.
    pub fn map_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .maps
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.name.to_string())
            .collect();
        names.sort();
        names
    }

    /// Adds a map as if someone had made it.
    pub fn add_map(&self, name: &str, uuid: Option<&str>, params: Option<&str>, open_count: i32) {
        let dev = self.minor();
        self.maps.lock().unwrap().push(ExistingMap {
            name: MapName::new(name),
            uuid: uuid.map(MapUuid::new),
            dev,
            open_count,
            read_only: false,
            pending: false,
            targets: params
                .map(|p| {
                    vec![TargetLine::new(
                        Sectors(0),
                        Sectors(100),
                        TargetKind::Linear,
                        p.into(),
                    )]
                })
                .unwrap_or_default(),
        });
    }

    fn note(&self, what: String) {
        let operation = ["create ", "reload ", "rename ", "remove "]
            .iter()
            .any(|op| what.starts_with(op));
        if operation {
            *self.in_transaction.lock().unwrap() += 1;
        }
        self.log.lock().unwrap().push(what);
    }

    fn minor(&self) -> DevNum {
        let mut next = self.next_minor.lock().unwrap();
        *next += 1;
        DevNum::new(253, *next - 1)
    }

    fn device(&self, path: &Path) -> Option<&FakeDevice> {
        self.devices
            .iter()
            .find(|d| d.path == path || d.parent.path == path)
    }

    fn check(&self, name: &str, stage: Stage) -> Result<(), OpError> {
        if self.failing.iter().any(|f| f == name) {
            return Err(OpError::new(stage, "Device or resource busy"));
        }
        Ok(())
    }

    /// Takes lock `key`, waiting at most `timeout` while another guard of this fake has it,
    /// like the real advisory locks.
    fn guard(&self, key: String, timeout: Duration) -> io::Result<FakeGuard> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            {
                let mut locked = self.locked.lock().unwrap();
                if !self.held.contains(&key) && !locked.contains(&key) {
                    locked.push(key.clone());
                    break;
                }
            }
            if self.held.contains(&key) || std::time::Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "another kpartx is still working on this device",
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.note(format!("lock {key}"));
        Ok(FakeGuard {
            key,
            log: Arc::clone(&self.log),
            locked: Arc::clone(&self.locked),
        })
    }
}

impl Devices for FakeSystem {
    type Guard = FakeGuard;

    fn lock_image(&self, arg: &Path) -> io::Result<Option<FakeGuard>> {
        match self.device(arg) {
            Some(d) if d.image.is_some() && d.path == arg => self
                .guard(format!("f-{}", arg.display()), crate::lock::LOCK_TIMEOUT)
                .map(Some),
            _ => Ok(None),
        }
    }

    fn lock_device(&self, dev: DevNum, timeout: Duration) -> io::Result<FakeGuard> {
        self.guard(format!("b-{dev}"), timeout)
    }

    fn resolve(&self, arg: &Path, purpose: Purpose) -> Result<Resolved, ResolveError> {
        let Some(d) = self.device(arg) else {
            return Err(ResolveError::Stat(
                arg.to_path_buf(),
                io::Error::from_raw_os_error(libc::ENOENT),
            ));
        };
        let bound_now = self.bound.lock().unwrap().contains(&d.path);
        let image = match (d.image.map(|b| b || bound_now), purpose) {
            (None, _) => None,
            (Some(true), _) => Some((false, false)),
            (Some(false), Purpose::Delete) => return Err(ResolveError::NoLoopForDelete),
            (Some(_), Purpose::List { .. }) => {
                return Ok(Resolved {
                    parent: d.parent.clone(),
                    image: None,
                    source: Source::Image {
                        file: d.path.clone(),
                        sector_size: 512,
                    },
                });
            }
            (Some(false), Purpose::Map { read_only, .. }) => Some((true, read_only)),
            (Some(false), Purpose::Preview { .. }) => {
                return Ok(Resolved {
                    parent: d.parent.clone(),
                    image: Some(ImageLoop {
                        device: LoopDevice {
                            path: d.parent.path.clone(),
                            read_only: false,
                        },
                        created: false,
                        predicted_from: Some(d.path.clone()),
                    }),
                    source: Source::Image {
                        file: d.path.clone(),
                        sector_size: 512,
                    },
                });
            }
        };
        if let Some((true, _)) = image {
            if let Some(errno) = self.attach_errno {
                return Err(ResolveError::LoopSetup {
                    file: arg.to_path_buf(),
                    error: AttachError {
                        context: Some("/dev/loop-control".into()),
                        source: io::Error::from_raw_os_error(errno),
                    },
                });
            }
            self.note(format!("attach {}", d.parent.path.display()));
            self.bound.lock().unwrap().push(d.path.clone());
        }
        Ok(Resolved {
            parent: d.parent.clone(),
            image: image.map(|(created, read_only)| ImageLoop {
                device: LoopDevice {
                    path: d.parent.path.clone(),
                    read_only,
                },
                created,
                predicted_from: None,
            }),
            source: Source::Parent,
        })
    }

    fn read_table(
        &self,
        resolved: &Resolved,
        force_gpt: bool,
        filter: &TypeFilter,
    ) -> io::Result<Found> {
        let parent = &resolved.parent;
        let d = self
            .device(&parent.path)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        match &resolved.source {
            Source::Parent => self.note(format!("read {}", parent.path.display())),
            Source::Image { file, .. } => self.note(format!("read {}", file.display())),
        }
        let kind = if d.gpt_needs_force {
            TableKind::Gpt
        } else {
            TableKind::Dos
        };
        let found = filter.admits(kind) && (force_gpt || !d.gpt_needs_force);
        Ok(Found {
            table: d
                .slices
                .clone()
                .filter(|_| found)
                .map(|slices| Table { kind, slices }),
            diagnostics: Diagnostics::default(),
            sector_size: 512,
            size_sectors: d.sectors,
        })
    }

    fn detach(&self, image: &ImageLoop, on_retry: &mut dyn FnMut()) -> io::Result<()> {
        let busy = self.maps.lock().unwrap().iter().any(|m| {
            m.targets.iter().any(|t| {
                t.params()
                    .starts_with(&format!("7:{} ", image_minor(image)))
            })
        });
        if busy {
            on_retry();
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        self.note(format!("detach {}", image.device.path.display()));
        let loop_path = &image.device.path;
        let files: Vec<PathBuf> = self
            .devices
            .iter()
            .filter(|d| d.image.is_some() && d.parent.path == *loop_path)
            .map(|d| d.path.clone())
            .collect();
        self.bound.lock().unwrap().retain(|f| !files.contains(f));
        Ok(())
    }

    fn map_state(&self, parent: &Parent) -> MapState {
        let readiness = self
            .not_ready
            .iter()
            .find(|(dev, _)| *dev == parent.dev)
            .map_or(Readiness::Ready, |(_, state)| *state);
        MapState {
            readiness,
            no_partitions: self.no_partitions.contains(&parent.dev),
        }
    }

    fn device_by_number(&self, dev: DevNum) -> Option<Parent> {
        if let Some(d) = self.devices.iter().find(|d| d.parent.dev == dev) {
            return Some(d.parent.clone());
        }
        self.present.contains(&dev).then(|| Parent {
            path: format!("/dev/block/{dev}").into(),
            dev,
            name: dev.to_string().into(),
            dm_uuid: None,
            is_dm: false,
            read_only: false,
        })
    }

    fn holders(&self, dev: DevNum) -> Vec<String> {
        let on = format!("{dev} ");
        self.maps
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.targets.iter().any(|t| t.params().starts_with(&on)))
            .map(|m| format!("dm-{}", m.dev.minor))
            .collect()
    }

    fn loop_records(&self) -> Vec<(String, PathBuf)> {
        let loops = self.loops.lock().unwrap();
        loops.iter().map(|l| (l.0.clone(), l.1.clone())).collect()
    }

    fn loop_backing(&self, name: &str) -> Option<PathBuf> {
        let loops = self.loops.lock().unwrap();
        loops.iter().find(|l| l.0 == name).and_then(|l| l.2.clone())
    }

    fn detach_recorded(&self, name: &str) -> io::Result<()> {
        self.note(format!("detach /dev/{name}"));
        self.loops.lock().unwrap().retain(|l| l.0 != name);
        Ok(())
    }

    fn forget_loop(&self, name: &str) {
        self.note(format!("forget {name}"));
        self.loops.lock().unwrap().retain(|l| l.0 != name);
    }
}

impl FakeSystem {
    /// The error injected for looking up `key` (a name or UUID), if any.
    fn look_error(&self, looked: Looked, key: &str) -> Result<(), LookError> {
        match self.look_errors.iter().find(|(k, _)| k == key) {
            Some(&(_, errno)) => {
                let err = io::Error::from_raw_os_error(errno);
                Err(LookError::new(looked, crate::sys_text::strerror(&err), err))
            }
            None => Ok(()),
        }
    }
}

impl System for FakeSystem {
    type Devices = FakeSystem;

    fn devices(&self) -> &FakeSystem {
        self
    }

    fn map_state(&self, parent: &Parent) -> MapState {
        Devices::map_state(self, parent)
    }

    fn snapshot(&self) -> Result<Vec<ExistingMap>, LookError> {
        let maps = self.maps.lock().unwrap().clone();
        for map in &maps {
            self.look_error(Looked::Name(map.name.clone()), map.name.as_str())?;
        }
        Ok(maps)
    }

    /// Like the kernel: a map is stacked on a device when one of its targets names the
    /// device; the result is sorted by name. Every look is logged.
    fn look(&self, query: &MapQuery) -> Result<Vec<ExistingMap>, LookError> {
        for name in &query.names {
            self.look_error(Looked::Name(name.clone()), name.as_str())?;
        }
        for uuid in &query.uuids {
            self.look_error(Looked::Uuid(uuid.clone()), uuid.as_str())?;
        }
        let looks = self.looks.fetch_add(1, Ordering::Relaxed) + 1;
        if self.close_after_looks.is_some_and(|n| looks > n) {
            for map in self.maps.lock().unwrap().iter_mut() {
                map.open_count = 0;
            }
        }
        let stacked = |m: &ExistingMap| {
            query.stacked_on.is_some_and(|dev| {
                m.targets.iter().any(|t| {
                    t.params()
                        .split_whitespace()
                        .any(|w| DevNum::parse(w) == Some(dev))
                })
            })
        };
        let mut found: Vec<ExistingMap> = self
            .maps
            .lock()
            .unwrap()
            .iter()
            .filter(|m| {
                stacked(m)
                    || query.names.contains(&m.name)
                    || m.uuid.as_ref().is_some_and(|u| query.uuids.contains(u))
            })
            .cloned()
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    fn own_nodes_like(&self, _parent: &Path) {}

    fn ops(&self) -> &dyn MapOps {
        self
    }
}

/// The table `spec` loads, as the kernel would give it back.
fn linear_of(spec: &MapSpec) -> TargetLine {
    TargetLine::new(Sectors(0), spec.size, TargetKind::Linear, spec.params())
}

fn image_minor(image: &ImageLoop) -> String {
    image
        .device
        .path
        .to_string_lossy()
        .trim_start_matches("/dev/loop")
        .to_string()
}

impl MapOps for FakeSystem {
    fn create(&self, spec: &MapSpec) -> Result<DevNum, OpError> {
        self.check(spec.name.as_str(), Stage::Load)?;
        if self
            .maps
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.name == spec.name)
        {
            return Err(OpError::new(Stage::Load, "Device or resource busy"));
        }
        let dev = self.minor();
        self.note(format!("create {} {}", spec.name, spec.params()));
        self.maps.lock().unwrap().push(ExistingMap {
            name: spec.name.clone(),
            uuid: Some(spec.uuid.clone()),
            dev,
            open_count: 0,
            read_only: spec.read_only,
            pending: false,
            targets: vec![linear_of(spec)],
        });
        Ok(dev)
    }

    fn reload(&self, spec: &MapSpec) -> Result<DevNum, OpError> {
        self.check(spec.name.as_str(), Stage::Load)?;
        self.note(format!("reload {} {}", spec.name, spec.params()));
        let mut maps = self.maps.lock().unwrap();
        let map = maps
            .iter_mut()
            .find(|m| m.name == spec.name)
            .ok_or_else(|| OpError::new(Stage::Load, "No such device or address"))?;
        map.targets = vec![linear_of(spec)];
        map.read_only = spec.read_only;
        Ok(map.dev)
    }

    fn keep(&self, spec: &MapSpec, dev: DevNum) -> Result<DevNum, OpError> {
        self.check(spec.name.as_str(), Stage::Load)?;
        self.note(format!("keep {}", spec.name));
        Ok(dev)
    }

    fn rename(&self, from: &MapName, to: &MapName) -> Result<(), OpError> {
        self.check(from.as_str(), Stage::Rename)?;
        self.note(format!("rename {from} {to}"));
        let mut maps = self.maps.lock().unwrap();
        let map = maps
            .iter_mut()
            .find(|m| m.name == *from)
            .ok_or_else(|| OpError::new(Stage::Rename, "No such device or address"))?;
        map.name = to.clone();
        Ok(())
    }

    /// Refuses an open map with EBUSY, like device-mapper.
    /// One try: the fake's maps are not closed by anyone while a removal waits (a transient
    /// opener is [`FakeSystem::close_after_looks`], which the engine's look loop meets).
    fn remove(&self, name: &MapName, _flush: bool, _deadline: Deadline) -> Result<(), OpError> {
        self.check(name.as_str(), Stage::Remove)?;
        let mut maps = self.maps.lock().unwrap();
        if maps.iter().any(|m| m.name == *name && m.open_count > 0) {
            return Err(OpError::io(
                Stage::Remove,
                io::Error::from_raw_os_error(libc::EBUSY),
            ));
        }
        self.note(format!("remove {name}"));
        maps.retain(|m| m.name != *name);
        Ok(())
    }

    /// Ends the udev transaction: records how many operations it waited for (the real
    /// cookie's count), so a test sees one wait per transaction and none waited twice.
    fn settle(&self) -> Result<Settled, OpError> {
        let ops = std::mem::take(&mut *self.in_transaction.lock().unwrap());
        self.transactions.lock().unwrap().push(ops);
        self.note("settle".into());
        if let Some(e) = &self.settle_error {
            return Err(e.clone());
        }
        Ok(match &self.settle_unanswered {
            Some(unanswered) => Settled::Unanswered(unanswered.clone()),
            None => Settled::Completed,
        })
    }
}

/// An `-a` request for `device` as the engine's tests start from: no delimiter, no update,
/// not a dry run, a 1 s lock wait; tests change fields with struct update syntax.
pub fn map_request(device: &Path) -> crate::engine::MapRequest<'_> {
    crate::engine::MapRequest {
        device,
        expect: None,
        delimiter: None,
        read_only: false,
        force_gpt: false,
        filter: &TypeFilter::All,
        update: false,
        no_table: crate::engine::NoTable::Leave,
        lock_timeout: Duration::from_secs(1),
        busy_timeout: Duration::ZERO,
        dry_run: false,
        sector_size: kpartx_table::sector_size::SectorSize::Auto,
        name: None,
        read_anyway: false,
        refuse_clashes: false,
        no_partitions_feature: None,
    }
}

/// A `-d` request as the engine's tests start from: flush, remove none of a busy parent's
/// maps, no busy retries, not a dry run.
pub fn unmap_request() -> crate::engine::UnmapRequest {
    crate::engine::UnmapRequest {
        force: false,
        when_busy: crate::plan::WhenBusy::RemoveNone,
        flush: true,
        lock_timeout: Duration::from_secs(1),
        busy_timeout: Duration::ZERO,
        dry_run: false,
    }
}
