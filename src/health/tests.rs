//! The classification of partition maps against their parents, and the prune plan.

use std::path::PathBuf;

use super::*;
use crate::dm::model::{TargetKind, TargetLine};
use crate::dm::types::MapName;
use crate::plan::prune::{LoopFacts, PruneAction, plan_prune};
use crate::render::action::SCHEMA_VERSION;
use crate::render::survey::{
    MapStatus, PruneReport, map_status, prune_text, status_report, status_text,
};

fn map(name: &str, uuid: &str, params: Option<&str>, length: u64, open: i32) -> ExistingMap {
    ExistingMap {
        name: MapName::new(name),
        uuid: Some(MapUuid::new(uuid)),
        dev: DevNum::new(253, name.len() as u32),
        open_count: open,
        read_only: false,
        pending: false,
        targets: params
            .map(|p| {
                vec![TargetLine::new(
                    Sectors(0),
                    Sectors(length),
                    TargetKind::Linear,
                    p.into(),
                )]
            })
            .unwrap_or_default(),
    }
}

fn parent(table: ParentTable) -> ParentView {
    ParentView {
        dev: DevNum::new(7, 0),
        path: "/dev/loop0".into(),
        table,
    }
}

fn two() -> ParentTable {
    ParentTable::Slices(
        vec![Slice::new(2048, 100), Slice::new(4096, 100)],
        Sectors(10_000),
    )
}

#[test]
fn owners_are_parsed_from_the_uuid() {
    assert_eq!(
        parse_owner(&MapUuid::new("part3-mpath-3600a0b8")),
        Some((3, ParentRef::Dm(MapUuid::new("mpath-3600a0b8"))))
    );
    assert_eq!(
        parse_owner(&MapUuid::new("part1-devnode_7:0_Wh5pYvM")),
        Some((1, ParentRef::Devnode(DevNum::new(7, 0))))
    );
    assert_eq!(
        parse_owner(&MapUuid::new("part12-devnode_bad_Wh5pYvM")),
        Some((12, ParentRef::Dm(MapUuid::new("devnode_bad_Wh5pYvM"))))
    );
    for not_ours in ["LVM-abc", "part-x", "partx-y", "part1-", "mpath-part1-x"] {
        assert_eq!(parse_owner(&MapUuid::new(not_ours)), None, "{not_ours}");
    }
}

#[test]
fn a_map_matching_its_partition_is_current() {
    let m = map(
        "loop0p2",
        "part2-devnode_7:0_Wh5pYvM",
        Some("7:0 4096"),
        100,
        0,
    );
    assert_eq!(classify(&m, 2, Some(&parent(two()))), Health::Current);
}

#[test]
fn a_map_whose_parent_is_gone_is_orphaned() {
    let m = map("x1", "part1-devnode_7:99_Wh5pYvM", Some("7:0 2048"), 100, 0);
    assert!(matches!(classify(&m, 1, None), Health::Orphaned(_)));
}

#[test]
fn a_map_that_no_longer_matches_the_table_is_stale() {
    let p = parent(two());
    let uuid = "part1-devnode_7:0_Wh5pYvM";
    let cases = [
        (
            map("a", uuid, Some("7:0 2048"), 200, 0),
            1,
            "now 100 sectors at 2048",
        ),
        (
            map("b", uuid, Some("7:0 1024"), 100, 0),
            1,
            "the map 100 at 1024",
        ),
        (
            map("c", uuid, Some("7:0 2048"), 100, 0),
            3,
            "partition 3 no longer exists",
        ),
        (
            map("d", uuid, Some("7:1 2048"), 100, 0),
            1,
            "not its parent 7:0",
        ),
        (map("e", uuid, None, 0, 0), 1, "no table"),
    ];
    for (m, number, why) in cases {
        match classify(&m, number, Some(&p)) {
            Health::Stale(reason) => assert!(reason.contains(why), "{reason} / {why}"),
            other => panic!("{} is {other:?}", m.name),
        }
    }
    let m = map("f", uuid, Some("7:0 2048"), 100, 0);
    assert!(matches!(
        classify(&m, 1, Some(&parent(ParentTable::None))),
        Health::Stale(_)
    ));
    let past_end = ParentTable::Slices(vec![Slice::new(2048, 100)], Sectors(2100));
    assert!(matches!(
        classify(&m, 1, Some(&parent(past_end))),
        Health::Stale(_)
    ));
    let mut two_targets = m.clone();
    two_targets.targets.push(two_targets.targets[0].clone());
    assert!(matches!(
        classify(&two_targets, 1, Some(&p)),
        Health::Stale(_)
    ));
}

#[test]
fn an_unreadable_parent_leaves_the_state_unknown_and_prune_alone() {
    let m = map("a", "part1-devnode_7:0_Wh5pYvM", Some("7:0 1"), 1, 0);
    let p = parent(ParentTable::Unreadable("Input/output error".into()));
    assert!(matches!(classify(&m, 1, Some(&p)), Health::Unknown(_)));
    let observed = [Observed {
        map: m,
        number: 1,
        parent_ref: ParentRef::Devnode(DevNum::new(7, 0)),
        parent: Some(p),
        holders: Vec::new(),
    }];
    assert!(plan_prune(&observed, &[]).is_empty());
}

#[test]
fn prune_keeps_open_maps_and_loops_still_in_use() {
    let owner = ParentRef::Devnode(DevNum::new(7, 0));
    let observed = |m: ExistingMap, number, holders: Vec<&str>| Observed {
        map: m,
        number,
        parent_ref: owner.clone(),
        parent: Some(parent(two())),
        holders: holders.into_iter().map(String::from).collect(),
    };
    let uuid = "part3-devnode_7:0_Wh5pYvM";
    let stale_open = map("open3", uuid, Some("7:0 8192"), 100, 1);
    let stale = map(
        "gone4",
        "part4-devnode_7:0_Wh5pYvM",
        Some("7:0 9000"),
        100,
        0,
    );
    let stale_dev = format!("dm-{}", stale.dev.minor);
    let loops = [LoopFacts {
        name: "loop0".into(),
        recorded: PathBuf::from("/img/a"),
        backing: Some(PathBuf::from("/img/a")),
        holders: vec![stale_dev.clone()],
    }];
    let steps = plan_prune(&[observed(stale_open.clone(), 3, vec!["dm-9"])], &[]);
    assert_eq!(steps[0].action, PruneAction::Skip);
    assert_eq!(steps[0].holders, ["dm-9"]);
    let steps = plan_prune(&[observed(stale, 4, vec![])], &loops);
    let actions: Vec<_> = steps.iter().map(|s| s.action.clone()).collect();
    assert_eq!(actions, [PruneAction::Remove, PruneAction::Detach]);
    let mut busy = loops[0].clone();
    busy.holders.push("dm-42".into());
    let steps = plan_prune(&[], &[busy]);
    assert_eq!(steps[0].action, PruneAction::Keep);
    assert!(prune_text(&steps, true).contains("kept /dev/loop0"));
}

#[test]
fn status_documents_validate_against_the_schema() {
    let uuid = "part1-devnode_7:0_Wh5pYvM";
    let observed = [
        Observed {
            map: map("loop0p1", uuid, Some("7:0 2048"), 100, 1),
            number: 1,
            parent_ref: ParentRef::Devnode(DevNum::new(7, 0)),
            parent: Some(parent(two())),
            holders: vec!["dm-7".into()],
        },
        Observed {
            map: map("gone1", "part1-mpath-x", Some("254:0 2048"), 100, 0),
            number: 1,
            parent_ref: ParentRef::Dm(MapUuid::new("mpath-x")),
            parent: None,
            holders: Vec::new(),
        },
    ];
    let maps: Vec<MapStatus> = observed.iter().map(map_status).collect();
    assert_eq!(maps[0].state, "current");
    assert_eq!(maps[1].state, "orphaned");
    assert_eq!(maps[1].parent.device, None);
    let text = status_text(&maps);
    assert!(
        text.contains("loop0p1 (253:7): partition 1 of /dev/loop0, open 1, held by dm-7: current")
    );
    crate::render::action::tests::assert_valid(
        "kpartx-status.schema.json",
        &crate::render::action::to_json(&status_report(maps)),
    );
    let doc = PruneReport {
        version: SCHEMA_VERSION,
        dry_run: true,
        steps: plan_prune(&observed, &[]),
        exit_status: 0,
    };
    crate::render::action::tests::assert_valid(
        "kpartx-status.schema.json",
        &crate::render::action::to_json(&doc),
    );
}
