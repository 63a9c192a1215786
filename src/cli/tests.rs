//! The command-line front end on the fake machine: each action's text, JSON, messages and
//! exit status, without root and without the binary.

use std::ffi::OsString;
use std::path::PathBuf;

use super::args::{self, Command, Options};
use super::images::{self, Direction};
use super::{policy, run_on};
use crate::device::DevNum;
use crate::exit::Exit;
use crate::out::Captured;
use crate::policy::images::ImageEntry;
use crate::testkit::fake::{FakeSystem, disk, image};
use kpartx_table::Slice;
use kpartx_table::sector_size::SectorSize;

const UUID: &str = "mpath-3600a0b8";

fn mpath() -> FakeSystem {
    FakeSystem::new(vec![disk(
        "/dev/mapper/mpatha",
        DevNum::new(254, 0),
        Some(("mpatha", UUID)),
        Some(vec![Slice::new(2048, 1000), Slice::new(4096, 1000)]),
    )])
}

/// The options of a `kpartx ARGS…` command line.
fn opts(args: &[&str]) -> Options {
    match args::parse(args.iter().map(OsString::from).collect()) {
        Ok(Command::Run(opts)) => opts,
        other => panic!("{args:?}: {other:?}"),
    }
}

/// Runs `kpartx ARGS…` on `sys`; what it printed and its status.
fn run(sys: &FakeSystem, args: &[&str]) -> (Captured, Exit) {
    let mut p = Captured::default();
    let exit = run_on(&opts(args), sys, &mut p);
    (p, exit)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn list_prints_the_references_lines() {
    let (p, exit) = run(&mpath(), &["-l", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Ok);
    assert_eq!(
        p.stdout(),
        "mpatha1 : 0 1000 /dev/mapper/mpatha 2048\nmpatha2 : 0 1000 /dev/mapper/mpatha 4096\n"
    );
    assert_eq!(p.stderr, "");
}

#[test]
fn list_json_has_every_partition() {
    let (p, exit) = run(
        &mpath(),
        &["-l", "--json", "-p", "-part", "/dev/mapper/mpatha"],
    );
    assert_eq!(exit, Exit::Ok);
    let doc = json(&p.stdout());
    assert_eq!(doc["partitions"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["partitions"][1]["name"], "mpatha-part2");
}

#[test]
fn add_verbose_prints_add_map_lines_and_delete_del_devmap() {
    let sys = mpath();
    let (p, exit) = run(&sys, &["-av", "-p", "-part", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Ok);
    assert_eq!(
        p.stdout(),
        "add map mpatha-part1 (253:0): 0 1000 linear 254:0 2048\n\
         add map mpatha-part2 (253:1): 0 1000 linear 254:0 4096\n"
    );
    let (p, exit) = run(&sys, &["-dv", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Ok);
    assert_eq!(
        p.stdout(),
        "del devmap : mpatha-part1\ndel devmap : mpatha-part2\n"
    );
    assert!(sys.map_names().is_empty());
}

#[test]
fn add_json_reports_each_map_and_the_status() {
    let sys = mpath();
    let (p, exit) = run(&sys, &["-a", "--json", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Ok);
    let doc = json(&p.stdout());
    assert_eq!(doc["action"], "add");
    assert_eq!(doc["exit_status"], 0);
    assert_eq!(doc["maps"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["parent"]["read_only"], false);
}

#[test]
fn a_taken_name_refuses_the_run_and_names_the_holder() {
    let sys = mpath();
    sys.add_map("mpatha2", Some("LVM-x"), Some("8:0 0"), 0);
    let (p, exit) = run(&sys, &["-a", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Failed);
    assert!(
        p.stderr
            .contains("mpatha2 exists and belongs to DM UUID LVM-x"),
        "{}",
        p.stderr
    );
    assert_eq!(sys.map_names(), ["mpatha2"]);
    let (p, exit) = run(&sys, &["-a", "--json", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Failed);
    assert_eq!(json(&p.stdout())["error"]["kind"], "name-clash");
}

#[test]
fn a_failed_create_counts_in_the_exit_status() {
    let mut sys = mpath();
    sys.failing = vec!["mpatha1".into()];
    let (p, exit) = run(&sys, &["-a", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Failures(1));
    assert!(
        p.stderr.contains("create/reload failed on mpatha1"),
        "{}",
        p.stderr
    );
}

#[test]
fn delete_of_an_open_map_removes_nothing_and_says_which() {
    let sys = mpath();
    sys.add_map(
        "mpatha1",
        Some(&format!("part1-{UUID}")),
        Some("254:0 2048"),
        0,
    );
    sys.add_map(
        "mpatha2",
        Some(&format!("part2-{UUID}")),
        Some("254:0 4096"),
        1,
    );
    let (p, exit) = run(&sys, &["-d", "--busy-timeout", "0", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Failed);
    assert!(
        p.stderr
            .contains("mpatha2 is in use (open count 1), not removed"),
        "{}",
        p.stderr
    );
    assert_eq!(sys.map_names(), ["mpatha1", "mpatha2"]);
}

#[test]
fn update_removes_the_map_of_a_vanished_partition() {
    let sys = mpath();
    sys.add_map(
        "mpatha3",
        Some(&format!("part3-{UUID}")),
        Some("254:0 8192"),
        0,
    );
    let (_, exit) = run(&sys, &["-u", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Ok);
    assert_eq!(sys.map_names(), ["mpatha1", "mpatha2"]);
}

#[test]
fn a_missing_device_is_a_usage_error() {
    let (p, exit) = run(&mpath(), &["-a"]);
    assert_eq!(exit, Exit::Failed);
    assert!(p.stderr.contains("kpartx: no device given"), "{}", p.stderr);
    assert!(p.stdout().contains("Usage: kpartx"), "{}", p.stdout());
}

#[test]
fn delete_of_an_image_no_loop_shows_succeeds() {
    let sys = FakeSystem::new(vec![image("/img", 3, false, None)]);
    let (p, exit) = run(&sys, &["-d", "/img"]);
    assert_eq!(exit, Exit::Ok);
    assert_eq!(p.stdout(), "");
}

#[test]
fn status_and_prune_report_the_maps_of_this_tool() {
    let sys = FakeSystem::new(vec![disk(
        "/dev/loop3",
        DevNum::new(7, 3),
        None,
        Some(vec![Slice::new(2048, 1000), Slice::new(4096, 1000)]),
    )]);
    run(&sys, &["-a", "/dev/loop3"]);
    sys.add_map(
        "loop3p3",
        Some("part3-devnode_7:3_Wh5pYvM"),
        Some("7:3 8192"),
        0,
    );
    let (p, exit) = run(&sys, &["--status", "--json"]);
    assert_eq!(exit, Exit::Ok);
    let doc = json(&p.stdout());
    assert_eq!(doc["maps"].as_array().map(Vec::len), Some(3), "{doc}");
    let (p, exit) = run(&sys, &["--prune"]);
    assert_eq!(exit, Exit::Ok, "{}", p.stderr);
    assert!(p.stdout().contains("loop3p3"), "{}", p.stdout());
    assert_eq!(
        sys.map_names(),
        ["loop3p1", "loop3p2"],
        "the map of a partition the table does not have is pruned, the others stay"
    );
}

fn entry(path: &str, name: &str) -> ImageEntry {
    ImageEntry {
        path: PathBuf::from(path),
        name: name.into(),
        read_only: false,
        delimiter: Some("p".into()),
        sector_size: SectorSize::Auto,
        origin: "images.toml:1:1".into(),
    }
}

#[test]
fn the_image_list_maps_each_image_with_its_own_wait() {
    let two = Some(vec![Slice::new(2048, 1000)]);
    let sys = FakeSystem::new(vec![
        image("/a.img", 1, false, two.clone()),
        image("/b.img", 2, false, two),
    ]);
    let list = vec![entry("/a.img", "vm1"), entry("/b.img", "vm2")];
    let mut p = Captured::default();
    let exit = images::run_list(
        &Options::default(),
        &sys,
        list.clone(),
        Direction::Map,
        &mut p,
    );
    assert_eq!(exit, Exit::Ok, "{}", p.stderr);
    assert_eq!(sys.map_names(), ["vm1p1", "vm2p1"]);
    assert_eq!(
        *sys.transactions.lock().unwrap(),
        [1, 1],
        "one udev wait per image, for that image's map: {:?}",
        sys.events()
    );
    let exit = images::run_list(&Options::default(), &sys, list, Direction::Unmap, &mut p);
    assert_eq!(exit, Exit::Ok, "{}", p.stderr);
    assert!(sys.map_names().is_empty());
}

#[test]
fn check_config_says_valid_or_where_it_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&good, "[defaults]\nbusy_timeout = 2\n").unwrap();
    std::fs::write(&bad, "[defaults]\nbusy_timeout = -2\n").unwrap();
    let mut p = Captured::default();
    assert_eq!(policy::check_config(&[good.into()], &mut p), Exit::Ok);
    assert!(p.stdout().contains("policy is valid"), "{}", p.stdout());
    let mut p = Captured::default();
    assert_eq!(policy::check_config(&[bad.into()], &mut p), Exit::Failed);
    assert!(
        p.stderr.contains("bad.toml:2:16: busy_timeout"),
        "{}",
        p.stderr
    );
}

#[test]
fn show_policy_of_something_that_is_not_a_block_device_fails() {
    let mut p = Captured::default();
    let exit = policy::show_policy(&opts(&["/etc/hostname"]), &mut p);
    assert_eq!(exit, Exit::Failed);
    assert!(p.stderr.contains("is not a block device"), "{}", p.stderr);
}

fn unanswered() -> crate::dm::Unanswered {
    crate::dm::Unanswered {
        events: 2,
        cookie: 0x0d4d_1234,
        reach: crate::dm::unanswered::Reach::ForeignIpc { pid: 127 },
    }
}

#[test]
fn an_unanswered_cookie_is_one_warning_line_and_success() {
    let mut sys = mpath();
    sys.settle_unanswered = Some(unanswered());
    for args in [
        &["-a", "-p", "-part", "/dev/mapper/mpatha"][..],
        &["-d", "-p", "-part", "/dev/mapper/mpatha"][..],
    ] {
        let (p, exit) = run(&sys, args);
        assert_eq!(exit, Exit::Ok, "{args:?}: {}", p.stderr);
        assert_eq!(p.stderr.lines().count(), 1, "{}", p.stderr);
        assert!(
            p.stderr
                .starts_with("kpartx: warning: udev processed the 2 device-mapper event(s)")
                && p.stderr.contains("another IPC namespace")
                && p.stderr.contains("--ipc=host")
                && p.stderr.contains("DM_DISABLE_UDEV=1"),
            "{}",
            p.stderr
        );
    }
}

#[test]
fn json_tells_how_the_udev_wait_ended() {
    let sys = mpath();
    let (p, _) = run(&sys, &["-a", "--json", "/dev/mapper/mpatha"]);
    let doc = json(&p.stdout());
    assert_eq!(doc["udev"]["wait"], "completed");
    assert!(doc["udev"]["warning"].is_null());
    let (p, _) = run(&sys, &["-a", "--json", "--dry-run", "/dev/mapper/mpatha"]);
    assert_eq!(json(&p.stdout())["udev"]["wait"], "none");

    let mut sys = mpath();
    sys.settle_unanswered = Some(unanswered());
    let (p, exit) = run(&sys, &["-a", "--json", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Ok);
    let doc = json(&p.stdout());
    assert_eq!(doc["udev"]["ok"], true);
    assert_eq!(doc["udev"]["wait"], "unanswered");
    assert!(
        doc["udev"]["warning"]
            .as_str()
            .is_some_and(|w| w.contains("cookie 0xd4d1234")),
        "{doc}"
    );
    assert_eq!(doc["exit_status"], 0);
}

#[test]
fn a_failed_look_up_names_the_map_and_fails_the_run() {
    let mut sys = mpath();
    sys.look_errors = vec![("mpatha-part1".to_string(), libc::EPERM)];
    let (p, exit) = run(&sys, &["-a", "-p", "-part", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Failed);
    assert_eq!(
        p.stderr,
        "kpartx: cannot look up device-mapper map mpatha-part1: Operation not permitted\n"
    );
    assert_eq!(p.stdout(), "");
    let (p, exit) = run(&sys, &["-a", "--json", "-p", "-part", "/dev/mapper/mpatha"]);
    assert_eq!(exit, Exit::Failed);
    let doc = json(&p.stdout());
    assert_eq!(doc["error"]["kind"], "device-mapper", "{doc}");
}

#[test]
fn prune_fails_when_udev_does_not_finish() {
    let mut sys = FakeSystem::new(vec![disk(
        "/dev/loop3",
        DevNum::new(7, 3),
        None,
        Some(vec![Slice::new(2048, 1000)]),
    )]);
    sys.add_map(
        "loop3p3",
        Some("part3-devnode_7:3_Wh5pYvM"),
        Some("7:3 8192"),
        0,
    );
    sys.settle_error = Some(crate::dm::OpError::new(
        crate::dm::Stage::Udev,
        "udev did not finish",
    ));
    let (p, exit) = run(&sys, &["--prune"]);
    assert_eq!(exit, Exit::Failed, "{}", p.stderr);
    assert!(p.stderr.contains("udev did not finish"), "{}", p.stderr);
    assert!(sys.map_names().is_empty(), "the map is still removed");
}
