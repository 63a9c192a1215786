//! Reports built from the engine's outcomes on the fake machine, validated against the
//! committed JSON Schemas; dry runs report the same steps as the real runs.

use std::path::Path;

use serde_json::Value;

use super::*;
use crate::engine::{self, MapRequest, UnmapRequest};
use crate::exit::Exit;
use crate::testkit::fake::{FakeSystem, image, map_request, unmap_request};
use kpartx_table::Slice;

/// Validates `doc` (one JSON text) against `packaging/schema/<schema>` with Python's
/// `jsonschema` (Debian's python3-jsonschema; scripts/setup-host.sh installs it), the validator
/// the VM logs are checked with too (tests/vm/validate-json.py).
pub(crate) fn assert_valid(schema: &str, doc: &str) {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/schema")
        .join(schema);
    let _: Value = serde_json::from_str(doc).expect("valid JSON");
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        errors = [f'{e.message} at {list(e.path)}' for e in \
                  jsonschema.Draft202012Validator(schema).iter_errors(json.load(sys.stdin))]\n\
        print('\\n'.join(errors))\n\
        sys.exit(1 if errors else 0)\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(doc.as_bytes())
        .expect("document written");
    let out = child.wait_with_output().expect("python3 finishes");
    assert!(
        out.status.success(),
        "{doc}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn add_req(update: bool, dry_run: bool) -> MapRequest<'static> {
    MapRequest {
        update,
        dry_run,
        ..map_request(Path::new("/img/disk.img"))
    }
}

fn delete_req(dry_run: bool) -> UnmapRequest {
    UnmapRequest {
        dry_run,
        ..unmap_request()
    }
}

fn system(bound: bool, slices: Vec<Slice>) -> FakeSystem {
    FakeSystem::new(vec![image("/img/disk.img", 0, bound, Some(slices))])
}

/// The maps list without what only a real run knows (result, new device numbers).
fn steps(report: &ActionReport) -> Vec<(MapAction, String, Option<String>, Option<String>)> {
    report
        .maps
        .iter()
        .map(|m| (m.action, m.name.clone(), m.table.clone(), m.reason.clone()))
        .collect()
}

fn add(sys: &FakeSystem, update: bool, dry_run: bool) -> ActionReport {
    let outcome = engine::map(sys, &add_req(update, dry_run)).unwrap();
    let status = Exit::counting(outcome.failures());
    let kind = if update {
        ActionKind::Update
    } else {
        ActionKind::Add
    };
    let report = action_report(kind, &outcome, status);
    assert_valid("kpartx-action.schema.json", &to_json(&report));
    report
}

fn delete(sys: &FakeSystem, dry_run: bool) -> ActionReport {
    let outcome = engine::unmap(sys, Path::new("/img/disk.img"), delete_req(dry_run)).unwrap();
    let status = Exit::of_outcome(outcome.failures(), false);
    let report = action_report(ActionKind::Delete, &outcome, status);
    assert_valid("kpartx-action.schema.json", &to_json(&report));
    report
}

#[test]
fn a_dry_run_add_predicts_the_loop_and_the_real_run_does_the_same_steps() {
    let sys = system(false, vec![Slice::new(2048, 100), Slice::new(4096, 100)]);
    let planned = add(&sys, false, true);
    assert!(sys.map_names().is_empty());
    assert!(!sys.events().iter().any(|e| e.starts_with("attach")));
    let loop_dev = planned.parent.loop_dev.clone().unwrap();
    assert!(loop_dev.predicted && loop_dev.attached && !loop_dev.detached);
    assert!(planned.maps.iter().all(|m| m.result == MapResult::Planned));
    assert_eq!(
        planned.maps[0].table.as_deref(),
        Some("0 100 linear 7:0 2048")
    );
    assert_eq!(
        planned.maps[0].uuid.as_deref(),
        Some("part1-devnode_7:0_Wh5pYvM")
    );
    let done = add(&sys, false, false);
    assert_eq!(steps(&planned), steps(&done));
    assert!(
        done.maps
            .iter()
            .all(|m| m.result == MapResult::Ok && m.dev.is_some())
    );
    assert!(
        plan_text(&engine::map(&sys, &add_req(false, true)).unwrap())
            .contains("would keep loop0p1")
    );
}

#[test]
fn update_and_busy_delete_match_their_dry_runs() {
    let sys = system(true, vec![Slice::new(2048, 100)]);
    let owner = "devnode_7:0_Wh5pYvM";
    sys.add_map(
        "loop0p1",
        Some(&format!("part1-{owner}")),
        Some("7:0 2048"),
        0,
    );
    sys.add_map(
        "loop0p2",
        Some(&format!("part2-{owner}")),
        Some("7:0 4096"),
        1,
    );
    sys.add_map(
        "loop0p3",
        Some(&format!("part3-{owner}")),
        Some("7:0 8192"),
        0,
    );
    let planned = add(&sys, true, true);
    let done = add(&sys, true, false);
    assert_eq!(steps(&planned), steps(&done));
    let actions: Vec<MapAction> = done.maps.iter().map(|m| m.action).collect();
    assert_eq!(
        actions,
        [MapAction::Keep, MapAction::Skip, MapAction::Remove]
    );
    assert_eq!(done.maps[1].result, MapResult::Failed);
    assert_eq!(
        done.maps[2].uuid.as_deref(),
        Some("part3-devnode_7:0_Wh5pYvM")
    );
    assert_eq!(done.exit_status, 1);

    let planned = delete(&sys, true);
    assert!(!planned.parent.loop_dev.clone().unwrap().detached);
    let done = delete(&sys, false);
    assert_eq!(steps(&planned), steps(&done));
    assert_eq!(done.exit_status, 1);
    assert_eq!(sys.map_names(), ["loop0p1", "loop0p2"]);
}

#[test]
fn a_delete_detaches_the_loop_and_says_so() {
    let sys = system(true, vec![Slice::new(2048, 100)]);
    sys.add_map(
        "loop0p1",
        Some("part1-devnode_7:0_Wh5pYvM"),
        Some("7:0 2048"),
        0,
    );
    let planned = delete(&sys, true);
    assert!(planned.parent.loop_dev.clone().unwrap().detached);
    assert_eq!(sys.map_names(), ["loop0p1"]);
    let done = delete(&sys, false);
    assert_eq!(steps(&planned), steps(&done));
    assert!(done.parent.loop_dev.unwrap().detached);
}

#[test]
fn failures_are_reported_with_their_stage() {
    let mut sys = system(true, vec![Slice::new(2048, 100)]);
    sys.failing = vec!["loop0p1".into()];
    sys.settle_error = Some(crate::dm::OpError::new(Stage::Udev, "udev did not finish"));
    let done = add(&sys, false, false);
    let error = done.maps[0].error.clone().unwrap();
    assert_eq!(
        (error.stage, done.maps[0].result),
        ("load", MapResult::Failed)
    );
    assert!(!done.udev.ok);
    assert_eq!(done.exit_status, 2);
}

#[test]
fn error_and_nothing_documents_validate() {
    for (kind, status) in [
        ("usage", Exit::Failed),
        ("device", Exit::Failed),
        ("no-loop", Exit::Ok),
        ("device-mapper", Exit::Failed),
    ] {
        assert_valid(
            "kpartx-action.schema.json",
            &error_report(kind, "something is wrong", status),
        );
    }
    assert_valid(
        "kpartx-action.schema.json",
        &to_json(&NothingReport::new("the device is gone")),
    );
}

#[test]
fn an_unanswered_wait_validates_and_is_not_a_failure() {
    let mut sys = system(true, vec![Slice::new(2048, 100)]);
    sys.settle_unanswered = Some(crate::dm::Unanswered {
        events: 1,
        cookie: 0x0d4d_0001,
        reach: crate::dm::unanswered::Reach::NoCompletingRule,
    });
    for done in [add(&sys, false, false), delete(&sys, false)] {
        assert!(done.udev.ok);
        assert_eq!(done.udev.wait, UdevWait::Unanswered);
        let warning = done.udev.warning.clone().unwrap();
        assert!(warning.contains("95-dm-notify.rules"), "{warning}");
        assert_eq!(done.exit_status, 0);
    }
}
