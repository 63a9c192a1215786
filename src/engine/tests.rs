//! The use cases end to end on the fake machine: locks, ordering, ownership, failures and what
//! counts as one.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use super::outcome::StepResult;
use super::*;
use crate::deadline::Deadline;
use crate::dm::readiness::Readiness;
use crate::dm::{OpError, Stage};
use crate::plan::SkipReason;
use crate::testkit::fake::{FakeSystem, disk, image, map_request, unmap_request};
use kpartx_table::Slice;

const MPATH_UUID: &str = "mpath-3600a0b8";

fn mpath(slices: Option<Vec<Slice>>) -> FakeSystem {
    FakeSystem::new(vec![disk(
        "/dev/mapper/mpatha",
        DevNum::new(254, 0),
        Some(("mpatha", MPATH_UUID)),
        slices,
    )])
}

fn two() -> Option<Vec<Slice>> {
    Some(vec![Slice::new(2048, 1000), Slice::new(4096, 1000)])
}

fn add_req(device: &str, update: bool) -> MapRequest<'_> {
    MapRequest {
        delimiter: Some(OsStr::new("-part")),
        update,
        ..map_request(Path::new(device))
    }
}

fn delete_req(when_busy: WhenBusy) -> UnmapRequest {
    UnmapRequest {
        when_busy,
        ..unmap_request()
    }
}

#[test]
fn map_creates_in_order_and_waits_for_udev_after_unlocking() {
    let sys = mpath(two());
    let out = map(&sys, &add_req("/dev/mapper/mpatha", false)).unwrap();
    assert_eq!(out.mapped(), 2);
    assert_eq!(out.failures(), 0);
    assert_eq!(
        sys.events(),
        [
            "lock b-254:0",
            "read /dev/mapper/mpatha",
            "create mpatha-part1 254:0 2048",
            "create mpatha-part2 254:0 4096",
            "unlock b-254:0",
            "settle"
        ]
    );
    let uuids: Vec<_> = sys
        .snapshot()
        .unwrap()
        .into_iter()
        .map(|m| m.uuid.map(MapUuid::into_string))
        .collect();
    assert_eq!(
        uuids,
        [
            Some(format!("part1-{MPATH_UUID}")),
            Some(format!("part2-{MPATH_UUID}"))
        ]
    );
}

#[test]
fn map_renames_a_partition_found_by_uuid() {
    let sys = mpath(two());
    sys.add_map(
        "mpatha1",
        Some(&format!("part1-{MPATH_UUID}")),
        Some("254:0 2048"),
        0,
    );
    let out = map(&sys, &add_req("/dev/mapper/mpatha", true)).unwrap();
    assert_eq!(out.failures(), 0);
    assert_eq!(sys.map_names(), ["mpatha-part1", "mpatha-part2"]);
    assert!(
        sys.events()
            .contains(&"rename mpatha1 mpatha-part1".to_string())
    );
}

#[test]
fn update_removes_vanished_partitions_but_not_foreign_maps() {
    let sys = mpath(Some(vec![Slice::new(2048, 1000)]));
    ours(&sys, 2, Some("254:0 4096"), 0);
    sys.add_map(
        "mpatha-part3",
        Some(&format!("part3-{MPATH_UUID}")),
        Some("8:16 4096"),
        0,
    );
    sys.add_map("mpatha-part4", None, Some("254:0 8192"), 0);
    let out = map(&sys, &add_req("/dev/mapper/mpatha", true)).unwrap();
    assert_eq!(out.failures(), 0);
    assert_eq!(
        sys.map_names(),
        ["mpatha-part1", "mpatha-part3", "mpatha-part4"]
    );
}

#[test]
fn a_failed_operation_is_counted_once_and_the_rest_goes_on() {
    let mut sys = mpath(two());
    sys.failing = vec!["mpatha-part1".into()];
    let out = map(&sys, &add_req("/dev/mapper/mpatha", false)).unwrap();
    assert_eq!(out.failures(), 1);
    assert_eq!(out.mapped(), 1);
    assert!(matches!(out.records[0].result, StepResult::Failed(_)));
}

#[test]
fn contained_slices_are_mapped_but_their_failures_not_counted() {
    let mut logical = Slice::new(2100, 100);
    logical.container = Some(1);
    let mut sys = mpath(Some(vec![
        Slice::new(2048, 1000),
        Slice::new(4096, 4000),
        Slice::default(),
        Slice::default(),
        logical,
    ]));
    sys.failing = vec!["mpatha-part5".into()];
    let out = map(&sys, &add_req("/dev/mapper/mpatha", false)).unwrap();
    assert_eq!(out.records.len(), 3);
    assert!(out.records[2].failed() && !out.records[2].counted);
    assert_eq!(out.failures(), 0);
}

#[test]
fn a_udev_timeout_is_one_failure_and_the_maps_stay() {
    let mut sys = mpath(two());
    sys.settle_error = Some(OpError::udev_timeout(
        2,
        Duration::from_secs(30),
        0x0d4d_0001,
    ));
    let out = map(&sys, &add_req("/dev/mapper/mpatha", false)).unwrap();
    assert_eq!(out.failures(), 1);
    assert_eq!(out.mapped(), 2);
    assert_eq!(out.udev.as_ref().err().map(|e| e.stage), Some(Stage::Udev));
    assert_eq!(sys.map_names().len(), 2);
}

#[test]
fn a_held_device_lock_is_an_error_and_an_attached_loop_is_released() {
    let mut sys = FakeSystem::new(vec![image("/img", 3, false, two())]);
    sys.held = vec!["b-7:3".into()];
    let err = map(&sys, &add_req("/img", false)).unwrap_err();
    assert!(matches!(err, EngineError::Lock(..)), "{err}");
    assert_eq!(
        sys.events(),
        [
            "lock f-/img",
            "attach /dev/loop3",
            "detach /dev/loop3",
            "unlock f-/img"
        ]
    );
}

#[test]
fn an_image_without_table_does_not_keep_its_loop() {
    let sys = FakeSystem::new(vec![image("/img", 0, false, None)]);
    let out = map(&sys, &add_req("/img", false)).unwrap();
    assert_eq!(out.mapped(), 0);
    assert!(out.release.as_ref().is_some_and(|r| r.result.is_ok()));
    assert!(sys.events().contains(&"detach /dev/loop0".to_string()));
    // A loop that was there before is left alone.
    let sys = FakeSystem::new(vec![image("/img", 0, true, None)]);
    let out = map(&sys, &add_req("/img", false)).unwrap();
    assert!(out.release.is_none());
}

#[test]
fn a_loop_attach_failure_names_the_file_and_the_cause() {
    let mut sys = FakeSystem::new(vec![image("/srv/disk.img", 0, false, two())]);
    sys.attach_errno = Some(libc::EACCES);
    let err = map(&sys, &add_req("/srv/disk.img", false)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/srv/disk.img") && text.contains("Permission denied"),
        "{text}"
    );
    assert!(sys.map_names().is_empty());
}

#[test]
fn delete_of_a_busy_parent_removes_nothing_and_keeps_the_loop() {
    let sys = FakeSystem::new(vec![image("/img", 2, true, two())]);
    let owner = "devnode_7:2";
    let uuid = |n| {
        Some(format!(
            "part{n}-{}",
            kpartx_table::naming::devnode_uuid(DevNum::new(7, 2))
        ))
    };
    assert!(kpartx_table::naming::devnode_uuid(DevNum::new(7, 2)).starts_with(owner));
    sys.add_map("loop2p1", uuid(1).as_deref(), Some("7:2 2048"), 0);
    sys.add_map("loop2p2", uuid(2).as_deref(), Some("7:2 4096"), 1);
    let out = unmap(&sys, Path::new("/img"), delete_req(WhenBusy::RemoveNone)).unwrap();
    assert_eq!(out.failures(), 1);
    assert_eq!(sys.map_names(), ["loop2p1", "loop2p2"]);
    assert!(out.release.is_none());
    assert!(matches!(
        out.records[0].step,
        Step::Skip {
            reason: SkipReason::InUse { open_count: 1 },
            ..
        }
    ));
}

#[test]
fn delete_removes_the_maps_then_detaches_the_loop() {
    let sys = FakeSystem::new(vec![image("/img", 2, true, two())]);
    let uuid = |n| {
        Some(format!(
            "part{n}-{}",
            kpartx_table::naming::devnode_uuid(DevNum::new(7, 2))
        ))
    };
    sys.add_map("loop2p1", uuid(1).as_deref(), Some("7:2 2048"), 0);
    sys.add_map("vg-lv", Some("LVM-x"), Some("7:2 9000"), 0);
    let out = unmap(&sys, Path::new("/img"), delete_req(WhenBusy::RemoveNone)).unwrap();
    assert_eq!(out.failures(), 0);
    assert_eq!(sys.map_names(), ["vg-lv"]);
    let events = sys.events();
    let pos = |e: &str| events.iter().position(|x| x == e).unwrap();
    assert!(pos("unlock b-7:2") < pos("settle"));
    // vg-lv still holds the loop: the detach is retried, then reported as failed.
    assert!(out.release_failed());
}

#[test]
fn helper_teardown_removes_what_it_can_and_reports_the_busy_map() {
    let sys = mpath(None);
    held_partition(&sys, 2);
    let mut req = add_req("/dev/mapper/mpatha", true);
    req.no_table = NoTable::Unmap;
    let out = map(&sys, &req).unwrap();
    assert_eq!(sys.map_names(), ["mpatha-part2"]);
    assert_eq!(out.failures(), 1);
}

#[test]
fn the_cli_leaves_maps_alone_when_the_table_is_gone() {
    let sys = mpath(None);
    ours(&sys, 1, Some("254:0 2048"), 0);
    let out = map(&sys, &add_req("/dev/mapper/mpatha", true)).unwrap();
    assert!(out.records.is_empty());
    assert_eq!(sys.map_names(), ["mpatha-part1"]);
}

#[test]
fn a_node_that_is_not_the_expected_device_is_refused() {
    let sys = mpath(two());
    let mut req = add_req("/dev/mapper/mpatha", true);
    req.expect = Some(DevNum::new(254, 9));
    assert!(matches!(map(&sys, &req), Err(EngineError::Changed(_))));
    assert!(sys.map_names().is_empty());
}

#[test]
fn list_reads_an_image_without_a_loop() {
    let sys = FakeSystem::new(vec![image("/img", 5, false, two())]);
    let req = ListRequest {
        force_gpt: false,
        filter: &TypeFilter::All,
        sector_size: SectorSize::Auto,
        read_anyway: false,
    };
    let listing = list(&sys, Path::new("/img"), &req).unwrap();
    assert_eq!(listing.found.table.map(|t| t.slices.len()), Some(2));
    assert_eq!(listing.resolved.parent.path, Path::new("/dev/loop5"));
    assert!(listing.release.is_none());
    assert_eq!(sys.events(), ["read /img"]);
}

#[test]
fn a_name_maps_under_that_name() {
    let sys = FakeSystem::new(vec![image("/img", 5, false, two())]);
    let mut req = add_req("/img", false);
    req.delimiter = None;
    req.name = Some(OsStr::new("vm1"));
    let out = map(&sys, &req).unwrap();
    assert_eq!(out.failures(), 0);
    assert_eq!(sys.map_names(), ["vm1p1", "vm1p2"]);
    req.name = Some(OsStr::new("disk"));
    map(&sys, &req).unwrap();
    assert_eq!(sys.map_names(), ["disk1", "disk2"], "renamed by UUID");
}

#[test]
fn a_name_clash_refuses_everything_and_names_the_owner() {
    let sys = FakeSystem::new(vec![image("/img", 5, false, two())]);
    sys.add_map("vm1p2", Some("LVM-abc"), Some("8:0 0"), 0);
    let mut req = add_req("/img", false);
    req.delimiter = Some(OsStr::new("p"));
    req.name = Some(OsStr::new("vm1"));
    req.refuse_clashes = true;
    let err = map(&sys, &req).unwrap_err();
    let EngineError::NameClash(clashes) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        clashes,
        &[NameClash {
            name: "vm1p2".into(),
            owner: Some("LVM-abc".into())
        }]
    );
    assert!(
        err.to_string()
            .contains("vm1p2 exists and belongs to DM UUID LVM-abc")
    );
    assert_eq!(sys.map_names(), ["vm1p2"], "nothing made");
    let events = sys.events();
    assert!(
        events.contains(&"detach /dev/loop5".to_string()),
        "{events:?}"
    );
}

/// mpatha's partition map `n` (`mpatha-partN`, UUID `partN-mpath-…`) with table `params`
/// and `open` openers.
fn ours(sys: &FakeSystem, n: usize, params: Option<&str>, open: i32) {
    let uuid = format!("part{n}-{MPATH_UUID}");
    sys.add_map(&format!("mpatha-part{n}"), Some(&uuid), params, open);
}

/// A host with `n` unrelated maps, each over another device.
fn crowd(sys: &FakeSystem, n: u32) {
    for i in 0..n {
        sys.add_map(
            &format!("other{i}"),
            Some(&format!("LVM-{i}")),
            Some(&format!("8:{} 0", 16 + i)),
            0,
        );
    }
}

#[test]
fn map_looks_once_and_sees_only_the_parents_maps() {
    let sys = mpath(two());
    crowd(&sys, 500);
    sys.add_map("mpatha-part2", None, Some("254:0 4096"), 0);
    let out = map(&sys, &add_req("/dev/mapper/mpatha", true)).unwrap();
    assert_eq!(out.failures(), 0);
    assert_eq!(sys.looks.load(std::sync::atomic::Ordering::Relaxed), 1);
    let seen: Vec<&str> = out.before.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(seen, ["mpatha-part2"], "no unrelated map is looked at");
}

#[test]
fn unmap_looks_once_and_sees_only_the_parents_maps() {
    let sys = mpath(None);
    crowd(&sys, 500);
    ours(&sys, 1, Some("254:0 2048"), 0);
    let parent = sys.devices[0].parent.clone();
    let out = unmap_parent(&sys, parent, delete_req(WhenBusy::RemoveNone)).unwrap();
    assert_eq!(out.failures(), 0);
    assert_eq!(sys.looks.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(out.before.len(), 1);
    assert_eq!(sys.map_names().len(), 500);
}

#[test]
fn delete_finds_a_map_left_without_a_table_by_its_uuid() {
    let sys = mpath(None);
    ours(&sys, 3, None, 0);
    ours(&sys, 2, Some("254:0 4096"), 0);
    let parent = sys.devices[0].parent.clone();
    let out = unmap_parent(&sys, parent, delete_req(WhenBusy::RemoveNone)).unwrap();
    assert_eq!(out.failures(), 0);
    assert!(sys.map_names().is_empty(), "left: {:?}", sys.map_names());
}

#[test]
fn partition_query_grows_with_the_partitions_only() {
    let info = ParentInfo {
        dev: DevNum::new(254, 0),
        ownership_uuid: Some(MPATH_UUID.into()),
        dm_name: Some(MapName::new("mpatha")),
    };
    let naming = Naming::from_os(OsStr::new("mpatha"), Some(OsStr::new("-part")));
    let small = partition_query(&info, Some(&naming), 4);
    assert_eq!(small.stacked_on, Some(DevNum::new(254, 0)));
    assert_eq!(small.names.len(), 4);
    assert_eq!(small.names[3].as_str(), "mpatha-part4");
    assert_eq!(small.uuids.len(), TABLELESS_PROBES);
    assert_eq!(small.uuids[0].as_str(), format!("part1-{MPATH_UUID}"));
    let big = partition_query(&info, Some(&naming), 128);
    assert_eq!((big.names.len(), big.uuids.len()), (128, 128));
    let forced = ParentInfo {
        ownership_uuid: None,
        ..info
    };
    let unowned = partition_query(&forced, None, 0);
    assert!(unowned.uuids.is_empty() && unowned.names.is_empty());
}

fn queueing() -> Readiness {
    Readiness::NoUsablePath { queueing: true }
}

#[test]
fn a_map_without_a_usable_path_is_not_read() {
    let mut sys = mpath(two());
    sys.not_ready = vec![(DevNum::new(254, 0), queueing())];
    let err = map(&sys, &add_req("/dev/mapper/mpatha", true)).unwrap_err();
    assert!(matches!(err, EngineError::NotReady(_, state) if state == queueing()));
    assert!(
        !sys.events().iter().any(|e| e.starts_with("read")),
        "{:?}",
        sys.events()
    );
    assert!(sys.map_names().is_empty());
    assert!(err.to_string().contains("no usable path"), "{err}");
    let listed = list(
        &sys,
        Path::new("/dev/mapper/mpatha"),
        &ListRequest {
            force_gpt: false,
            filter: &TypeFilter::All,
            sector_size: SectorSize::Auto,
            read_anyway: false,
        },
    );
    assert!(matches!(listed, Err(EngineError::NotReady(..))));
}

#[test]
fn read_anyway_reads_a_suspended_map() {
    let mut sys = mpath(two());
    sys.not_ready = vec![(DevNum::new(254, 0), Readiness::Suspended)];
    let mut req = add_req("/dev/mapper/mpatha", false);
    req.read_anyway = true;
    let out = map(&sys, &req).unwrap();
    assert_eq!(out.mapped(), 2);
}

#[test]
fn only_device_mapper_parents_are_checked() {
    let mut sys = FakeSystem::new(vec![disk("/dev/sdb", DevNum::new(8, 16), None, two())]);
    sys.not_ready = vec![(DevNum::new(8, 16), Readiness::Suspended)];
    let out = map(&sys, &add_req("/dev/sdb", false)).unwrap();
    assert_eq!(out.mapped(), 2);
}

#[test]
fn a_read_only_parent_gets_read_only_maps() {
    let mut sys = mpath(two());
    sys.devices[0].parent.read_only = true;
    let out = map(&sys, &add_req("/dev/mapper/mpatha", false)).unwrap();
    assert_eq!(out.mapped(), 2);
    assert!(sys.snapshot().unwrap().iter().all(|m| m.read_only));
}

/// mpatha's two partition maps, the second one open `open` times.
fn held_partition(sys: &FakeSystem, open: i32) {
    ours(sys, 1, Some("254:0 2048"), 0);
    ours(sys, 2, Some("254:0 4096"), open);
}

#[test]
fn delete_waits_for_a_map_that_is_closed_within_the_bound() {
    let mut sys = mpath(None);
    sys.close_after_looks = Some(2);
    held_partition(&sys, 1);
    let mut req = delete_req(WhenBusy::RemoveNone);
    req.busy_timeout = Duration::from_secs(5);
    let parent = sys.devices[0].parent.clone();
    let out = unmap_parent(&sys, parent, req).unwrap();
    assert_eq!(out.failures(), 0);
    assert!(sys.map_names().is_empty(), "left: {:?}", sys.map_names());
    assert_eq!(sys.looks.load(std::sync::atomic::Ordering::Relaxed), 3);
}

#[test]
fn delete_removes_nothing_when_a_map_stays_open_past_the_bound() {
    let sys = mpath(None);
    held_partition(&sys, 1);
    let mut req = delete_req(WhenBusy::RemoveNone);
    req.busy_timeout = Duration::from_millis(500);
    let parent = sys.devices[0].parent.clone();
    let out = unmap_parent(&sys, parent, req).unwrap();
    assert_eq!(out.failures(), 1);
    assert_eq!(sys.map_names(), ["mpatha-part1", "mpatha-part2"]);
    assert!(sys.looks.load(std::sync::atomic::Ordering::Relaxed) >= 2);
}

#[test]
fn a_clash_refuses_the_run_and_detaches_the_loop_it_attached() {
    let sys = FakeSystem::new(vec![image("/img", 5, false, two())]);
    sys.add_map("loop5p1", None, Some("8:0 0"), 0);
    let mut req = add_req("/img", false);
    req.delimiter = Some(OsStr::new("p"));
    req.refuse_clashes = true;
    let err = map(&sys, &req).unwrap_err();
    assert!(
        err.to_string()
            .contains("loop5p1 exists and has no DM UUID"),
        "{err}"
    );
    assert_eq!(sys.map_names(), ["loop5p1"], "nothing made");
    assert!(
        sys.events().contains(&"detach /dev/loop5".to_string()),
        "{:?}",
        sys.events()
    );
}

#[test]
fn without_refusal_a_clash_leaves_out_that_partition_only() {
    let sys = mpath(two());
    sys.add_map("mpatha-part1", Some("LVM-abc"), Some("8:0 0"), 0);
    let out = map(&sys, &add_req("/dev/mapper/mpatha", true)).unwrap();
    assert_eq!(out.failures(), 1);
    assert_eq!(sys.map_names(), ["mpatha-part1", "mpatha-part2"]);
}

fn loop_disk() -> FakeSystem {
    let sys = FakeSystem::new(vec![disk("/dev/loop3", DevNum::new(7, 3), None, two())]);
    sys.add_map(
        "loop3p1",
        Some("part1-devnode_7:3_Wh5pYvM"),
        Some("7:3 2048"),
        0,
    );
    sys
}

#[test]
fn delete_by_loop_device_detaches_a_loop_this_tool_attached() {
    let sys = loop_disk();
    sys.loops
        .lock()
        .unwrap()
        .push(("loop3".into(), "/img".into(), Some("/img".into())));
    let out = unmap(
        &sys,
        Path::new("/dev/loop3"),
        delete_req(WhenBusy::RemoveNone),
    )
    .unwrap();
    assert_eq!(out.failures(), 0);
    assert!(out.release.is_some_and(|r| r.result.is_ok()));
    assert!(sys.events().contains(&"detach /dev/loop3".to_string()));
}

#[test]
fn delete_by_loop_device_leaves_a_loop_someone_else_attached_or_rebound() {
    for record in [None, Some("/other.img")] {
        let sys = loop_disk();
        if let Some(recorded) = record {
            sys.loops
                .lock()
                .unwrap()
                .push(("loop3".into(), recorded.into(), Some("/img".into())));
        }
        let out = unmap(
            &sys,
            Path::new("/dev/loop3"),
            delete_req(WhenBusy::RemoveNone),
        )
        .unwrap();
        assert_eq!(out.failures(), 0);
        assert!(out.release.is_none());
        assert!(!sys.events().iter().any(|e| e.starts_with("detach")));
        assert!(sys.map_names().is_empty());
    }
}

#[test]
fn the_fake_refuses_to_remove_an_open_map() {
    let sys = mpath(None);
    held_partition(&sys, 1);
    let err = sys
        .ops()
        .remove(&MapName::new("mpatha-part2"), true, Deadline::now())
        .unwrap_err();
    assert_eq!(err.stage, Stage::Remove);
    assert!(err.detail.contains("busy"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(sys.map_names(), ["mpatha-part1", "mpatha-part2"]);
}

#[test]
fn a_device_lock_excludes_a_second_run_until_released() {
    let sys = mpath(two());
    let first = sys
        .lock_device(DevNum::new(254, 0), Duration::from_secs(1))
        .unwrap();
    let start = std::time::Instant::now();
    let mut req = add_req("/dev/mapper/mpatha", false);
    req.lock_timeout = Duration::from_millis(200);
    assert!(matches!(map(&sys, &req), Err(EngineError::Lock(..))));
    assert!(start.elapsed() >= Duration::from_millis(200));
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
        });
        req.lock_timeout = Duration::from_secs(5);
        let out = map(&sys, &req).unwrap();
        assert_eq!(out.mapped(), 2);
    });
}

#[test]
fn filters_and_force_gpt_decide_what_the_fake_finds() {
    let mut sys = mpath(two());
    sys.devices[0].gpt_needs_force = true;
    let out = map(&sys, &add_req("/dev/mapper/mpatha", false)).unwrap();
    assert!(
        out.found.unwrap().table.is_none(),
        "a GPT behind a bad MBR needs -g"
    );
    let mut req = add_req("/dev/mapper/mpatha", false);
    req.force_gpt = true;
    let dos_only = TypeFilter::Only(kpartx_table::TableKind::Dos);
    req.filter = &dos_only;
    assert!(map(&sys, &req).unwrap().found.unwrap().table.is_none());
    req.filter = &TypeFilter::All;
    assert_eq!(map(&sys, &req).unwrap().mapped(), 2);
}

/// Every errno but ENXIO ("no such device") that a look-up could meet.
const LOOK_ERRNOS: [i32; 4] = [libc::EPERM, libc::ENOMEM, libc::EIO, libc::EACCES];

#[test]
fn a_failed_look_up_stops_a_map_run_before_anything_is_made() {
    for errno in LOOK_ERRNOS {
        for (key, update) in [("mpatha-part2", false), ("part1-mpath-3600a0b8", true)] {
            let mut sys = mpath(two());
            sys.look_errors = vec![(key.to_string(), errno)];
            let err = map(&sys, &add_req("/dev/mapper/mpatha", update)).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, EngineError::Look(_)), "{text}");
            assert!(text.contains(key), "{text}");
            let cause = std::io::Error::from_raw_os_error(errno);
            assert!(text.contains(&crate::sys_text::strerror(&cause)), "{text}");
            assert!(sys.map_names().is_empty(), "{errno}: {:?}", sys.map_names());
            assert!(
                sys.events().iter().all(|e| !e.starts_with("create")),
                "{:?}",
                sys.events()
            );
        }
    }
}

#[test]
fn a_failed_look_up_stops_an_unmap_run_before_anything_is_removed() {
    for errno in LOOK_ERRNOS {
        let mut sys = mpath(two());
        map(&sys, &add_req("/dev/mapper/mpatha", false)).unwrap();
        sys.look_errors = vec![("part2-mpath-3600a0b8".to_string(), errno)];
        let err = unmap(
            &sys,
            Path::new("/dev/mapper/mpatha"),
            delete_req(WhenBusy::RemoveNone),
        )
        .unwrap_err();
        assert!(matches!(err, EngineError::Look(_)), "{err}");
        assert!(err.to_string().contains("part2-mpath-3600a0b8"), "{err}");
        assert_eq!(sys.map_names().len(), 2);
    }
}

#[test]
fn no_such_map_is_the_only_absence() {
    // The fake answers ENXIO for every map it does not have: the run goes on as usual.
    let sys = mpath(two());
    assert_eq!(
        map(&sys, &add_req("/dev/mapper/mpatha", false))
            .unwrap()
            .mapped(),
        2
    );
}

#[test]
fn update_rides_out_a_transient_opener_of_a_map_it_removes() {
    let mut sys = mpath(two());
    sys.close_after_looks = Some(2);
    held_partition(&sys, 0);
    ours(&sys, 3, Some("254:0 6144"), 1);
    let mut req = add_req("/dev/mapper/mpatha", true);
    req.busy_timeout = Duration::from_secs(5);
    let out = map(&sys, &req).unwrap();
    assert_eq!(out.failures(), 0, "{:?}", out.records);
    assert_eq!(sys.map_names(), ["mpatha-part1", "mpatha-part2"]);
    assert_eq!(sys.looks.load(std::sync::atomic::Ordering::Relaxed), 3);
}

#[test]
fn update_refuses_a_map_held_past_the_bound_as_before() {
    let sys = mpath(two());
    held_partition(&sys, 0);
    ours(&sys, 3, Some("254:0 6144"), 1);
    let mut req = add_req("/dev/mapper/mpatha", true);
    req.busy_timeout = Duration::from_millis(500);
    let start = std::time::Instant::now();
    let out = map(&sys, &req).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert_eq!(out.failures(), 1);
    assert!(sys.map_names().contains(&"mpatha-part3".to_string()));
    assert!(sys.looks.load(std::sync::atomic::Ordering::Relaxed) >= 2);
}

#[test]
fn a_dry_run_never_waits_for_an_opener() {
    let sys = mpath(two());
    ours(&sys, 3, Some("254:0 6144"), 1);
    let mut req = add_req("/dev/mapper/mpatha", true);
    req.busy_timeout = Duration::from_secs(60);
    req.dry_run = true;
    map(&sys, &req).unwrap();
    assert_eq!(sys.looks.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn a_lock_error_reads_like_strerror() {
    let e = EngineError::Lock(
        "/dev/loop3".into(),
        std::io::Error::from_raw_os_error(libc::EACCES),
    );
    assert_eq!(e.to_string(), "cannot lock /dev/loop3: Permission denied");
}
