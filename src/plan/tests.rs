use super::*;
use crate::dm::model::TargetLine;
use crate::dm::types::{DisplayName, MapName, MapUuid, Sectors};

/// The plan as two lists, the way these tests compare it.
trait PlanView {
    fn steps(&self) -> Vec<Step>;
    fn counted(&self) -> Vec<bool>;
}

impl PlanView for Plan {
    fn steps(&self) -> Vec<Step> {
        self.entries.iter().map(|e| e.step.clone()).collect()
    }
    fn counted(&self) -> Vec<bool> {
        self.entries.iter().map(|e| e.counted).collect()
    }
}

use kpartx_table::naming::{DM_NAME_MAX, devnode_uuid};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

const LOOP0_UUID: &str = "devnode_7:0_Wh5pYvM";
const MPATH_UUID: &str = "mpath-3600a0b8";

fn dev(major: u32, minor: u32) -> DevNum {
    DevNum::new(major, minor)
}

/// A top-level slice.
fn slice(start: u64, size: u64) -> Slice {
    Slice::new(start, size)
}

/// An empty slot (keeps its partition number).
fn empty() -> Slice {
    Slice::new(0, 0)
}

/// A contained slice (DOS logical) inside slice index `container` (0-based).
fn logical(start: u64, size: u64, container: usize) -> Slice {
    Slice {
        container: Some(container),
        ..Slice::new(start, size)
    }
}

/// A single `linear` target line of `length` sectors with `params`.
fn linear(length: u64, params: &str) -> TargetLine {
    target("linear", length, params)
}

fn target(kind: &str, length: u64, params: &str) -> TargetLine {
    TargetLine::new(
        Sectors(0),
        Sectors(length),
        TargetKind::from_name(kind),
        params.to_string(),
    )
}

/// An existing map builder; starts as a closed, writable, single linear target.
#[derive(Clone)]
struct MapB(ExistingMap);

/// An existing map named `name` with a single linear target whose params are `params`.
fn map(name: &str, params: &str) -> MapB {
    MapB(ExistingMap {
        name: MapName::new(name),
        uuid: None,
        dev: dev(253, 0),
        open_count: 0,
        read_only: false,
        pending: false,
        targets: vec![linear(100, params)],
    })
}

impl MapB {
    fn uuid(mut self, uuid: &str) -> Self {
        self.0.uuid = Some(MapUuid::new(uuid));
        self
    }
    fn open(mut self, count: i32) -> Self {
        self.0.open_count = count;
        self
    }
    fn dev(mut self, d: DevNum) -> Self {
        self.0.dev = d;
        self
    }
    fn kind(mut self, kind: &str) -> Self {
        for t in &mut self.0.targets {
            *t = target(kind, t.length().0, t.params());
        }
        self
    }
    fn pending(mut self) -> Self {
        self.0.pending = true;
        self
    }
    fn read_only(mut self) -> Self {
        self.0.read_only = true;
        self
    }
    fn targets(mut self, targets: Vec<TargetLine>) -> Self {
        self.0.targets = targets;
        self
    }
    fn build(self) -> ExistingMap {
        self.0
    }
}

/// Everything `plan_add` and `plan_delete` take, with defaults for a loop device 7:0.
#[derive(Clone)]
struct Fx {
    parent: ParentInfo,
    naming: Naming,
    slices: Vec<Slice>,
    device_sectors: u64,
    existing: Vec<ExistingMap>,
    read_only: bool,
}

/// `/dev/loop0` (7:0), no DM UUID: ownership is `devnode_7:0_Wh5pYvM`, names `loop0pN`.
fn loop0() -> Fx {
    Fx {
        parent: ParentInfo {
            dev: dev(7, 0),
            ownership_uuid: Some(devnode_uuid(dev(7, 0))),
            dm_name: None,
        },
        naming: Naming::new("loop0", None),
        slices: Vec::new(),
        device_sectors: 1 << 20,
        existing: Vec::new(),
        read_only: false,
    }
}

/// `/dev/sda1` (8:1), no DM UUID, names `sda1pN`.
fn sda1() -> Fx {
    Fx {
        parent: ParentInfo {
            dev: dev(8, 1),
            ownership_uuid: Some(devnode_uuid(dev(8, 1))),
            dm_name: None,
        },
        naming: Naming::new("sda1", None),
        ..loop0()
    }
}

/// Multipath map `mpatha` (253:3), UUID `mpath-3600a0b8`, udev naming `-part`.
fn mpatha() -> Fx {
    Fx {
        parent: ParentInfo {
            dev: dev(253, 3),
            ownership_uuid: Some(MPATH_UUID.to_string()),
            dm_name: Some(MapName::new("mpatha")),
        },
        naming: Naming::new("mpatha", Some("-part")),
        ..loop0()
    }
}

impl Fx {
    fn slices(mut self, slices: Vec<Slice>) -> Self {
        self.slices = slices;
        self
    }
    fn existing(mut self, maps: Vec<MapB>) -> Self {
        self.existing = maps.into_iter().map(MapB::build).collect();
        self
    }
    fn sectors(mut self, n: u64) -> Self {
        self.device_sectors = n;
        self
    }
    fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
    fn naming(mut self, naming: Naming) -> Self {
        self.naming = naming;
        self
    }
    fn ownership(mut self, uuid: Option<&str>) -> Self {
        self.parent.ownership_uuid = uuid.map(str::to_string);
        self
    }
    fn input(&self) -> AddInput<'_> {
        AddInput {
            parent: &self.parent,
            naming: &self.naming,
            slices: &self.slices,
            device_sectors: Sectors(self.device_sectors),
            existing: &self.existing,
            read_only: self.read_only,
        }
    }
    fn add(&self) -> Plan {
        plan_add(&self.input(), false)
    }
    fn update(&self) -> Plan {
        plan_add(&self.input(), true)
    }
    fn delete(&self) -> Plan {
        self.delete_when_busy(WhenBusy::RemoveNone)
    }
    fn delete_when_busy(&self, when_busy: WhenBusy) -> Plan {
        plan_delete(&self.parent, &self.existing, when_busy, true)
    }
}

/// The loop0 partition UUID for partition `n`.
fn loop_uuid(n: usize) -> String {
    format!("part{n}-{LOOP0_UUID}")
}

/// The expected spec of loop0 partition `n` at `start`/`size`.
fn loop_spec(n: usize, start: u64, size: u64) -> MapSpec {
    MapSpec {
        number: n,
        name: MapName::new(format!("loop0p{n}")),
        display: DisplayName::new(format!("loop0p{n}")),
        uuid: MapUuid::new(loop_uuid(n)),
        size: Sectors(size),
        parent: dev(7, 0),
        start: Sectors(start),
        read_only: false,
    }
}

fn remove(name: &str, flush: bool) -> Step {
    Step::Remove {
        name: MapName::new(name),
        display: DisplayName::new(name),
        flush,
    }
}

fn skip(display: &str, reason: SkipReason) -> Step {
    Step::Skip {
        display: DisplayName::new(display),
        reason,
    }
}

fn in_use(display: &str, open_count: i32) -> Step {
    skip(display, SkipReason::InUse { open_count })
}

/// The stored names of all `Remove` steps, in order.
fn removed(plan: &Plan) -> Vec<&str> {
    plan.entries
        .iter()
        .map(|e| &e.step)
        .filter_map(|s| match s {
            Step::Remove { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// A map of the default fixture (device 253:0) that already is `spec`.
fn kept(spec: MapSpec) -> Step {
    Step::Keep {
        spec,
        dev: dev(253, 0),
    }
}

/// The spec of a Create, Reload, Keep or RenameReload.
fn spec_of(step: &Step) -> Option<&MapSpec> {
    match step {
        Step::Create(s)
        | Step::Reload(s)
        | Step::Keep { spec: s, .. }
        | Step::RenameReload { spec: s, .. } => Some(s),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// -a: fresh creation
// ---------------------------------------------------------------------------------------------

#[test]
fn fresh_gpt_creates_one_map_per_slice() {
    let fx = loop0().slices(vec![
        slice(2048, 204800),
        slice(206848, 409600),
        slice(616448, 8192),
    ]);
    let plan = fx.add();
    assert_eq!(
        plan.steps(),
        vec![
            Step::Create(loop_spec(1, 2048, 204800)),
            Step::Create(loop_spec(2, 206848, 409600)),
            Step::Create(loop_spec(3, 616448, 8192)),
        ]
    );
    assert_eq!(plan.counted(), vec![true; 3]);
}

#[test]
fn created_spec_has_reference_name_uuid_and_params() {
    let plan = loop0().slices(vec![slice(2048, 100)]).add();
    let steps = plan.steps();
    let [Step::Create(spec)] = steps.as_slice() else {
        panic!("expected one Create, got {:?}", plan.steps());
    };
    assert_eq!(spec.name.as_str(), "loop0p1");
    assert_eq!(spec.display.as_str(), "loop0p1");
    assert_eq!(spec.uuid.as_str(), "part1-devnode_7:0_Wh5pYvM");
    assert_eq!(spec.params(), "7:0 2048");
    assert_eq!(spec.parent, dev(7, 0));
    assert_eq!(spec.number, 1);
    assert!(!spec.read_only);
}

#[test]
fn params_use_parent_major_minor_and_absolute_start() {
    let plan = sda1().slices(vec![empty(), slice(63, 10)]).add();
    let steps = plan.steps();
    let [Step::Create(spec)] = steps.as_slice() else {
        panic!("expected one Create, got {:?}", plan.steps());
    };
    assert_eq!(spec.params(), "8:1 63");
    assert_eq!(spec.name.as_str(), "sda1p2");
    assert_eq!(spec.uuid.as_str(), "part2-devnode_8:1_Wh5pYvM");
}

#[test]
fn read_only_is_propagated_to_every_spec() {
    let plan = loop0()
        .slices(vec![
            slice(2048, 100),
            slice(4096, 100),
            logical(8192, 50, 1),
        ])
        .read_only()
        .add();
    assert_eq!(plan.steps().len(), 3);
    for step in &plan.steps() {
        assert!(spec_of(step).expect("create").read_only, "{step:?}");
    }
}

#[test]
fn read_only_also_on_reload_and_rename() {
    let fx = loop0()
        .slices(vec![slice(2048, 100), slice(4096, 100)])
        .existing(vec![
            map("loop0p1", "7:0 2048").uuid(&loop_uuid(1)),
            map("loop02", "7:0 4096").uuid(&loop_uuid(2)),
        ])
        .read_only();
    let plan = fx.add();
    assert!(matches!(&plan.steps()[0], Step::Reload(s) if s.read_only));
    assert!(matches!(&plan.steps()[1], Step::RenameReload { spec, .. } if spec.read_only));
}

#[test]
fn empty_slots_keep_numbering() {
    let fx = loop0().slices(vec![
        empty(),
        slice(2048, 100),
        empty(),
        empty(),
        slice(4096, 100),
    ]);
    let plan = fx.add();
    assert_eq!(
        plan.steps(),
        vec![
            Step::Create(loop_spec(2, 2048, 100)),
            Step::Create(loop_spec(5, 4096, 100)),
        ]
    );
}

#[test]
fn no_slices_no_steps() {
    assert_eq!(loop0().add(), Plan::default());
    assert_eq!(
        loop0().slices(vec![empty(), empty()]).add(),
        Plan::default()
    );
}

#[test]
fn empty_slot_with_nonzero_start_is_still_empty() {
    let plan = loop0().slices(vec![slice(2048, 0), slice(4096, 10)]).add();
    assert_eq!(plan.steps(), vec![Step::Create(loop_spec(2, 4096, 10))]);
}

#[test]
fn dos_logicals_come_after_top_level_and_are_not_counted() {
    // MBR: p1 primary, p2 extended at 12288, p5/p6 logicals; p3/p4 empty.
    let fx = loop0().slices(vec![
        slice(2048, 10240),
        slice(12288, 2),
        empty(),
        empty(),
        logical(14336, 4096, 1),
        logical(20480, 4096, 1),
    ]);
    let plan = fx.add();
    assert_eq!(
        plan.steps(),
        vec![
            Step::Create(loop_spec(1, 2048, 10240)),
            Step::Create(loop_spec(2, 12288, 2)),
            Step::Create(loop_spec(5, 14336, 4096)),
            Step::Create(loop_spec(6, 20480, 4096)),
        ]
    );
    assert_eq!(plan.counted(), vec![true, true, false, false]);
}

#[test]
fn contained_slices_are_mapped_absolutely_on_the_parent() {
    let plan = loop0()
        .slices(vec![slice(12288, 20000), logical(14336, 4096, 0)])
        .add();
    let spec = spec_of(&plan.entries[1].step).unwrap();
    assert_eq!(spec.params(), "7:0 14336");
    assert_eq!(spec.parent, dev(7, 0));
}

#[test]
fn contained_slices_interleaved_in_table_still_come_last() {
    // A BSD-style nesting where a contained slice has a lower index than a top-level one.
    let fx = loop0().slices(vec![
        slice(0, 1000),
        logical(100, 50, 0),
        slice(2000, 500),
        logical(200, 50, 0),
    ]);
    let plan = fx.add();
    let numbers: Vec<usize> = plan
        .steps()
        .iter()
        .map(|s| spec_of(s).unwrap().number)
        .collect();
    assert_eq!(numbers, vec![1, 3, 2, 4]);
    assert_eq!(plan.counted(), vec![true, true, false, false]);
}

#[test]
fn contained_slice_skips_are_not_counted() {
    let fx = loop0()
        .slices(vec![slice(0, 1000), logical(900, 500, 0)])
        .sectors(1000);
    let plan = fx.add();
    assert_eq!(
        plan.steps()[1],
        skip(
            "loop0p2",
            SkipReason::PastEnd {
                device_sectors: Sectors(1000)
            }
        )
    );
    assert_eq!(plan.counted(), vec![true, false]);
}

#[test]
fn contained_slice_name_taken_is_not_counted() {
    let fx = loop0()
        .slices(vec![slice(0, 1000), logical(100, 50, 0)])
        .existing(vec![map("loop0p2", "7:0 100").uuid("LVM-xyz")]);
    let plan = fx.add();
    assert_eq!(
        plan.steps()[1],
        skip("loop0p2", SkipReason::NameTaken("not a kpartx partition"))
    );
    assert_eq!(plan.counted(), vec![true, false]);
}

// ---------------------------------------------------------------------------------------------
// -a: existing maps with the wanted name
// ---------------------------------------------------------------------------------------------

#[test]
fn same_name_with_our_uuid_is_reloaded() {
    let fx = loop0()
        .slices(vec![slice(2048, 300)])
        .existing(vec![map("loop0p1", "7:0 2048").uuid(&loop_uuid(1))]);
    assert_eq!(
        fx.add().steps(),
        vec![Step::Reload(loop_spec(1, 2048, 300))]
    );
}

#[test]
fn a_map_that_already_is_the_partition_is_kept() {
    let live = map("loop0p1", "7:0 2048")
        .uuid(&loop_uuid(1))
        .targets(vec![linear(300, "7:0 2048")])
        .dev(dev(253, 5));
    let fx = loop0().slices(vec![slice(2048, 300)]);
    assert_eq!(
        fx.clone().existing(vec![live.clone()]).add().steps(),
        vec![Step::Keep {
            spec: loop_spec(1, 2048, 300),
            dev: dev(253, 5)
        }]
    );
    // Anything that a reload would change (or resume) makes it a reload.
    let reloaded = [
        live.clone().pending(),
        live.clone().read_only(),
        live.clone().targets(vec![linear(299, "7:0 2048")]),
        live.clone().targets(vec![linear(300, "7:0 2049")]),
        live.clone().targets(vec![linear(300, "7:1 2048")]),
        live.clone().uuid(&loop_uuid(7)),
        map("loop0p1", "7:0 2048").targets(vec![linear(300, "7:0 2048")]),
    ];
    for existing in reloaded {
        let shown = format!("{:?}", existing.clone().build());
        assert_eq!(
            fx.clone().existing(vec![existing]).add().steps(),
            vec![Step::Reload(loop_spec(1, 2048, 300))],
            "{shown}"
        );
    }
}

#[test]
fn same_name_with_our_uuid_is_reloaded_even_if_table_differs() {
    // Reload replaces the table; the old one may be anywhere (even another device).
    let fx = loop0().slices(vec![slice(2048, 300)]).existing(vec![
        map("loop0p1", "9:9 1").uuid(&loop_uuid(1)).kind("error"),
    ]);
    assert_eq!(
        fx.add().steps(),
        vec![Step::Reload(loop_spec(1, 2048, 300))]
    );
}

#[test]
fn same_name_with_our_uuid_of_other_number_is_reloaded() {
    // The reference does not check the partition number in the UUID.
    let fx = loop0()
        .slices(vec![slice(2048, 300)])
        .existing(vec![map("loop0p1", "7:0 2048").uuid(&loop_uuid(7))]);
    assert_eq!(
        fx.add().steps(),
        vec![Step::Reload(loop_spec(1, 2048, 300))]
    );
}

#[test]
fn same_name_open_is_still_reloaded() {
    let fx = loop0()
        .slices(vec![slice(2048, 300)])
        .existing(vec![map("loop0p1", "7:0 2048").uuid(&loop_uuid(1)).open(3)]);
    assert_eq!(
        fx.add().steps(),
        vec![Step::Reload(loop_spec(1, 2048, 300))]
    );
}

#[test]
fn same_name_with_foreign_uuid_is_skipped() {
    let fx = loop0()
        .slices(vec![slice(2048, 300), slice(4096, 10)])
        .existing(vec![map("loop0p1", "7:0 2048").uuid("LVM-abcdef")]);
    let plan = fx.add();
    assert_eq!(
        plan.steps(),
        vec![
            skip("loop0p1", SkipReason::NameTaken("not a kpartx partition")),
            Step::Create(loop_spec(2, 4096, 10)),
        ]
    );
    assert_eq!(plan.counted(), vec![true, true]);
}

#[test]
fn same_name_with_partition_uuid_of_other_parent_is_skipped() {
    let fx = loop0().slices(vec![slice(2048, 300)]).existing(vec![
        map("loop0p1", "7:1 2048").uuid("part1-devnode_7:1_Wh5pYvM"),
    ]);
    assert_eq!(
        fx.add().steps(),
        vec![skip(
            "loop0p1",
            SkipReason::NameTaken("a partition of a different device")
        )]
    );
}

#[test]
fn same_name_with_uuid_extending_ours_is_a_different_device() {
    // Exact-match tightening: `part1-<ours>X` is not ours.
    let fx = loop0().slices(vec![slice(2048, 300)]).existing(vec![
        map("loop0p1", "7:0 2048").uuid(&format!("{}X", loop_uuid(1))),
    ]);
    assert_eq!(
        fx.add().steps(),
        vec![skip(
            "loop0p1",
            SkipReason::NameTaken("a partition of a different device")
        )]
    );
}

#[test]
fn same_name_with_part_prefix_but_no_digits_is_not_kpartx() {
    for uuid in [
        format!("part-{LOOP0_UUID}"),
        format!("partx-{LOOP0_UUID}"),
        format!("part1{LOOP0_UUID}"),
        "PART1-devnode_7:0_Wh5pYvM".to_string(),
        String::new(),
    ] {
        let fx = loop0()
            .slices(vec![slice(2048, 300)])
            .existing(vec![map("loop0p1", "7:0 2048").uuid(&uuid)]);
        assert_eq!(
            fx.add().steps(),
            vec![skip(
                "loop0p1",
                SkipReason::NameTaken("not a kpartx partition")
            )],
            "uuid {uuid:?}"
        );
    }
}

#[test]
fn same_name_without_uuid_linear_on_parent_is_taken_over() {
    let fx = loop0()
        .slices(vec![slice(2048, 300)])
        .existing(vec![map("loop0p1", "7:0 2048")]);
    assert_eq!(
        fx.add().steps(),
        vec![Step::Reload(loop_spec(1, 2048, 300))]
    );
}

#[test]
fn same_name_without_uuid_elsewhere_is_skipped() {
    for params in ["7:1 2048", "70:0 2048", "17:0 2048", "garbage", ""] {
        let fx = loop0()
            .slices(vec![slice(2048, 300)])
            .existing(vec![map("loop0p1", params)]);
        assert_eq!(
            fx.add().steps(),
            vec![skip(
                "loop0p1",
                SkipReason::NameTaken("not a kpartx partition")
            )],
            "params {params:?}"
        );
    }
}

#[test]
fn same_name_without_uuid_non_linear_on_parent_is_skipped() {
    let fx = loop0()
        .slices(vec![slice(2048, 300)])
        .existing(vec![map("loop0p1", "7:0 2048").kind("striped")]);
    assert_eq!(
        fx.add().steps(),
        vec![skip(
            "loop0p1",
            SkipReason::NameTaken("not a kpartx partition")
        )]
    );
}

#[test]
fn same_name_without_uuid_several_targets_is_skipped() {
    let fx = loop0().slices(vec![slice(2048, 300)]).existing(vec![
        map("loop0p1", "").targets(vec![linear(10, "7:0 2048"), linear(10, "7:0 4096")]),
    ]);
    assert_eq!(
        fx.add().steps(),
        vec![skip(
            "loop0p1",
            SkipReason::NameTaken("not a kpartx partition")
        )]
    );
}

#[test]
fn same_name_without_uuid_and_substring_device_is_skipped() {
    // Parent 8:1; the map sits on 8:16. The reference's substring match would take it over.
    let fx = sda1()
        .slices(vec![slice(2048, 300)])
        .existing(vec![map("sda1p1", "8:16 2048")]);
    assert_eq!(
        fx.add().steps(),
        vec![skip(
            "sda1p1",
            SkipReason::NameTaken("not a kpartx partition")
        )]
    );
}

#[test]
fn name_match_wins_over_uuid_match() {
    // Both a same-name map and a map with our UUID under another name exist: reload by name.
    let fx = loop0().slices(vec![slice(2048, 300)]).existing(vec![
        map("loop01", "7:0 2048").uuid(&loop_uuid(1)),
        map("loop0p1", "7:0 2048").uuid(&loop_uuid(1)),
    ]);
    assert_eq!(
        fx.add().steps(),
        vec![Step::Reload(loop_spec(1, 2048, 300))]
    );
}

#[test]
fn foreign_name_holder_blocks_rename_too() {
    // Name taken by a foreign map: skipped, even though our map exists under another name.
    let fx = loop0().slices(vec![slice(2048, 300)]).existing(vec![
        map("loop0p1", "7:0 2048").uuid("LVM-x"),
        map("loop01", "7:0 2048").uuid(&loop_uuid(1)),
    ]);
    assert_eq!(
        fx.add().steps(),
        vec![skip(
            "loop0p1",
            SkipReason::NameTaken("not a kpartx partition")
        )]
    );
}

// ---------------------------------------------------------------------------------------------
// -a: our map under another name (delimiter change)
// ---------------------------------------------------------------------------------------------

#[test]
fn our_uuid_under_other_name_on_parent_is_renamed() {
    let fx = loop0()
        .slices(vec![slice(2048, 300)])
        .existing(vec![map("loop01", "7:0 2048").uuid(&loop_uuid(1))]);
    assert_eq!(
        fx.add().steps(),
        vec![Step::RenameReload {
            from: MapName::new("loop01"),
            spec: loop_spec(1, 2048, 300),
        }]
    );
}

#[test]
fn multipath_delimiter_change_renames() {
    let fx = mpatha()
        .slices(vec![slice(2048, 300), slice(4096, 300)])
        .existing(vec![
            map("mpatha", "")
                .uuid(MPATH_UUID)
                .kind("multipath")
                .dev(dev(253, 3)),
            map("mpatha1", "253:3 2048").uuid("part1-mpath-3600a0b8"),
            map("mpathap2", "253:3 4096").uuid("part2-mpath-3600a0b8"),
        ]);
    let plan = fx.add();
    assert_eq!(plan.steps().len(), 2);
    let Step::RenameReload { from, spec } = &plan.steps()[0] else {
        panic!("{:?}", plan.steps()[0]);
    };
    assert_eq!(from.as_str(), "mpatha1");
    assert_eq!(spec.name.as_str(), "mpatha-part1");
    assert_eq!(spec.uuid.as_str(), "part1-mpath-3600a0b8");
    assert_eq!(spec.params(), "253:3 2048");
    let Step::RenameReload { from, spec } = &plan.steps()[1] else {
        panic!("{:?}", plan.steps()[1]);
    };
    assert_eq!(from.as_str(), "mpathap2");
    assert_eq!(spec.name.as_str(), "mpatha-part2");
}

#[test]
fn our_uuid_under_other_name_on_substring_device_is_created() {
    // Parent sda1 = 8:1; the map with our UUID points at 8:16: the substring trap.
    let fx = sda1().slices(vec![slice(2048, 300)]).existing(vec![
        map("sda11", "8:16 2048").uuid("part1-devnode_8:1_Wh5pYvM"),
    ]);
    let plan = fx.add();
    let steps = plan.steps();
    let [Step::Create(spec)] = steps.as_slice() else {
        panic!("expected Create, got {:?}", plan.steps());
    };
    assert_eq!(spec.name.as_str(), "sda1p1");
    assert_eq!(spec.params(), "8:1 2048");
}

#[test]
fn our_uuid_under_other_name_elsewhere_is_created() {
    for params in ["18:1 2048", "81:0 2048", "8:10 2048", "8:1x 2048", ""] {
        let fx = sda1()
            .slices(vec![slice(2048, 300)])
            .existing(vec![map("sda11", params).uuid("part1-devnode_8:1_Wh5pYvM")]);
        assert!(
            matches!(fx.add().steps().as_slice(), [Step::Create(_)]),
            "params {params:?}"
        );
    }
}

#[test]
fn our_uuid_under_other_name_not_linear_is_created() {
    let fx = loop0().slices(vec![slice(2048, 300)]).existing(vec![
        map("loop01", "7:0 2048")
            .uuid(&loop_uuid(1))
            .kind("striped"),
    ]);
    assert_eq!(
        fx.add().steps(),
        vec![Step::Create(loop_spec(1, 2048, 300))]
    );
}

#[test]
fn our_uuid_under_other_name_several_targets_is_created() {
    let fx = loop0().slices(vec![slice(2048, 300)]).existing(vec![
        map("loop01", "")
            .uuid(&loop_uuid(1))
            .targets(vec![linear(10, "7:0 2048"), linear(10, "7:0 4096")]),
    ]);
    assert_eq!(
        fx.add().steps(),
        vec![Step::Create(loop_spec(1, 2048, 300))]
    );
}

#[test]
fn other_partitions_uuid_under_other_name_is_not_renamed() {
    // loop01 is partition 2's map; partition 1 gets a fresh map.
    let fx = loop0()
        .slices(vec![slice(2048, 300)])
        .existing(vec![map("loop01", "7:0 2048").uuid(&loop_uuid(2))]);
    assert_eq!(
        fx.add().steps(),
        vec![Step::Create(loop_spec(1, 2048, 300))]
    );
}

#[test]
fn params_with_extra_whitespace_still_count_as_on_parent() {
    let fx = loop0()
        .slices(vec![slice(2048, 300)])
        .existing(vec![map("loop01", "  7:0   2048 ").uuid(&loop_uuid(1))]);
    assert!(matches!(
        fx.add().steps().as_slice(),
        [Step::RenameReload { .. }]
    ));
}

// ---------------------------------------------------------------------------------------------
// -a: skips
// ---------------------------------------------------------------------------------------------

#[test]
fn slice_past_end_is_skipped_and_counted() {
    let fx = loop0()
        .slices(vec![
            slice(2048, 1000),
            slice(3048, 1001),
            slice(3048, 1000),
        ])
        .sectors(4048);
    let plan = fx.add();
    assert_eq!(
        plan.steps(),
        vec![
            Step::Create(loop_spec(1, 2048, 1000)),
            skip(
                "loop0p2",
                SkipReason::PastEnd {
                    device_sectors: Sectors(4048)
                }
            ),
            Step::Create(loop_spec(3, 3048, 1000)),
        ]
    );
    assert_eq!(plan.counted(), vec![true, true, true]);
}

#[test]
fn slice_ending_exactly_at_device_end_fits() {
    let plan = loop0().slices(vec![slice(0, 4096)]).sectors(4096).add();
    assert_eq!(plan.steps(), vec![Step::Create(loop_spec(1, 0, 4096))]);
}

#[test]
fn slice_with_overflowing_end_is_past_end() {
    let plan = loop0()
        .slices(vec![slice(u64::MAX - 5, 10)])
        .sectors(u64::MAX)
        .add();
    assert_eq!(
        plan.steps(),
        vec![skip(
            "loop0p1",
            SkipReason::PastEnd {
                device_sectors: Sectors(u64::MAX)
            }
        )]
    );
}

#[test]
fn past_end_is_reported_even_when_name_is_taken() {
    let fx = loop0()
        .slices(vec![slice(2048, 5000)])
        .sectors(4096)
        .existing(vec![map("loop0p1", "7:0 2048").uuid("LVM-x")]);
    assert_eq!(
        fx.add().steps(),
        vec![skip(
            "loop0p1",
            SkipReason::PastEnd {
                device_sectors: Sectors(4096)
            }
        )]
    );
}

#[test]
fn past_end_on_zero_sized_device() {
    let plan = loop0().slices(vec![slice(0, 1)]).sectors(0).add();
    assert_eq!(
        plan.steps(),
        vec![skip(
            "loop0p1",
            SkipReason::PastEnd {
                device_sectors: Sectors(0)
            }
        )]
    );
}

#[test]
fn name_too_long_is_bad_name() {
    // 125 + "p1" = 127 bytes fits; 126 + "p1" = 128 does not.
    let ok = "a".repeat(DM_NAME_MAX - 3) + "0";
    let plan = loop0()
        .naming(Naming::new(&ok, None))
        .slices(vec![slice(0, 10)])
        .add();
    assert!(
        matches!(plan.steps().as_slice(), [Step::Create(s)] if s.name.as_str().len() == DM_NAME_MAX)
    );

    let long = "a".repeat(DM_NAME_MAX - 2) + "0";
    let plan = loop0()
        .naming(Naming::new(&long, None))
        .slices(vec![slice(0, 10)])
        .add();
    let display = format!("{long}p1");
    assert_eq!(
        plan.steps(),
        vec![skip(
            &display,
            SkipReason::BadName(NameError::NameTooLong(display.clone()))
        )]
    );
    assert_eq!(plan.counted(), vec![true]);
}

#[test]
fn name_grows_too_long_only_for_higher_numbers() {
    // 125-byte prefix + "p" + N: partition 1 fits (127), partition 10 does not (128).
    let parent = "b".repeat(DM_NAME_MAX - 3) + "7";
    let mut slices: Vec<Slice> = (0..10).map(|i| slice(i * 10, 10)).collect();
    slices[1..9].iter_mut().for_each(|s| *s = empty());
    let plan = loop0()
        .naming(Naming::new(&parent, None))
        .slices(slices)
        .add();
    assert!(matches!(&plan.steps()[0], Step::Create(s) if s.number == 1));
    assert!(matches!(
        &plan.steps()[1],
        Step::Skip {
            reason: SkipReason::BadName(NameError::NameTooLong(_)),
            ..
        }
    ));
}

#[test]
fn name_too_long_after_mangling_is_bad_name() {
    // 42 spaces become 42 * 4 bytes once escaped.
    let parent = " ".repeat(42);
    let plan = loop0()
        .naming(Naming::new(&parent, Some("")))
        .slices(vec![slice(0, 10)])
        .add();
    assert!(matches!(
        plan.steps().as_slice(),
        [Step::Skip {
            reason: SkipReason::BadName(NameError::NameTooLong(_)),
            ..
        }]
    ));
}

#[test]
fn uuid_too_long_is_bad_name() {
    let owner = "u".repeat(124);
    let fx = loop0().ownership(Some(&owner)).slices(vec![slice(0, 10)]);
    let plan = fx.add();
    assert_eq!(
        plan.steps(),
        vec![skip(
            "loop0p1",
            SkipReason::BadName(NameError::UuidTooLong(format!("part1-{owner}")))
        )]
    );
}

#[test]
fn add_without_ownership_uuid_plans_nothing() {
    let fx = loop0()
        .ownership(None)
        .slices(vec![slice(2048, 100)])
        .existing(vec![map("loop0p2", "7:0 4096")]);
    assert_eq!(fx.add(), Plan::default());
    assert_eq!(fx.update(), Plan::default());
}

// ---------------------------------------------------------------------------------------------
// Multipath parents and mangled names
// ---------------------------------------------------------------------------------------------

#[test]
fn multipath_parent_names_and_uuids() {
    let plan = mpatha()
        .slices(vec![slice(2048, 100), slice(4096, 100)])
        .add();
    assert_eq!(
        plan.steps(),
        vec![
            Step::Create(MapSpec {
                number: 1,
                name: MapName::new("mpatha-part1"),
                display: DisplayName::new("mpatha-part1"),
                uuid: MapUuid::new("part1-mpath-3600a0b8"),
                size: Sectors(100),
                parent: dev(253, 3),
                start: Sectors(2048),
                read_only: false,
            }),
            Step::Create(MapSpec {
                number: 2,
                name: MapName::new("mpatha-part2"),
                display: DisplayName::new("mpatha-part2"),
                uuid: MapUuid::new("part2-mpath-3600a0b8"),
                size: Sectors(100),
                parent: dev(253, 3),
                start: Sectors(4096),
                read_only: false,
            }),
        ]
    );
}

#[test]
fn multipath_reload_of_own_partition() {
    // The partition grew from 100 to 200 sectors.
    let fx = mpatha().slices(vec![slice(2048, 200)]).existing(vec![
        map("mpatha", "")
            .uuid(MPATH_UUID)
            .kind("multipath")
            .dev(dev(253, 3)),
        map("mpatha-part1", "253:3 2048").uuid("part1-mpath-3600a0b8"),
    ]);
    assert!(
        matches!(fx.add().steps().as_slice(), [Step::Reload(s)] if s.name.as_str() == "mpatha-part1")
    );
}

#[test]
fn multipath_partition_of_other_multipath_is_a_different_device() {
    let fx = mpatha().slices(vec![slice(2048, 100)]).existing(vec![
        map("mpatha-part1", "253:4 2048").uuid("part1-mpath-3600a0b9"),
    ]);
    assert_eq!(
        fx.add().steps(),
        vec![skip(
            "mpatha-part1",
            SkipReason::NameTaken("a partition of a different device")
        )]
    );
}

#[test]
fn names_with_spaces_are_mangled_in_name_only() {
    let fx = loop0()
        .naming(Naming::new("my space", None))
        .slices(vec![slice(2048, 10)]);
    let plan = fx.add();
    let steps = plan.steps();
    let [Step::Create(spec)] = steps.as_slice() else {
        panic!("{:?}", plan.steps());
    };
    assert_eq!(spec.name.as_str(), "my\\x20space1");
    assert_eq!(spec.display.as_str(), "my space1");
}

#[test]
fn mangled_existing_name_is_matched_by_stored_name() {
    let fx = loop0()
        .naming(Naming::new("my space", None))
        .slices(vec![slice(2048, 10)])
        .existing(vec![map("my\\x20space1", "7:0 2048").uuid("LVM-q")]);
    assert_eq!(
        fx.add().steps(),
        vec![skip(
            "my space1",
            SkipReason::NameTaken("not a kpartx partition")
        )]
    );
    // An unmangled stored name is a different map: no match, created.
    let fx = fx.existing(vec![map("my space1", "7:0 2048").uuid("LVM-q")]);
    assert!(matches!(fx.add().steps().as_slice(), [Step::Create(_)]));
}

#[test]
fn slash_in_delimiter_becomes_bang_then_escaped() {
    let plan = loop0()
        .naming(Naming::new("loop0", Some("/")))
        .slices(vec![slice(0, 10)])
        .add();
    let spec = spec_of(&plan.entries[0].step).unwrap();
    assert_eq!(spec.display.as_str(), "loop0/1");
    assert_eq!(spec.name.as_str(), "loop0\\x211");
}

#[test]
fn mangled_names_are_unmangled_for_display_in_removals() {
    let mut fx = loop0()
        .naming(Naming::new("my space", None))
        .slices(vec![slice(2048, 10)])
        .existing(vec![map("my\\x20space2", "7:0 4096").uuid(&loop_uuid(2))]);
    assert_eq!(
        fx.update().steps()[1],
        Step::Remove {
            name: MapName::new("my\\x20space2"),
            display: DisplayName::new("my space2"),
            flush: false,
        }
    );
    assert_eq!(
        fx.delete().steps(),
        vec![Step::Remove {
            name: MapName::new("my\\x20space2"),
            display: DisplayName::new("my space2"),
            flush: true,
        }]
    );
    fx.existing[0].open_count = 1;
    assert_eq!(fx.delete().steps(), vec![in_use("my space2", 1)]);
}

// ---------------------------------------------------------------------------------------------
// -u
// ---------------------------------------------------------------------------------------------

/// loop0 had 4 partitions; the table now has 2.
fn shrunk() -> Fx {
    loop0()
        .slices(vec![slice(2048, 100), slice(4096, 100)])
        .existing(vec![
            map("loop0p1", "7:0 2048").uuid(&loop_uuid(1)),
            map("loop0p2", "7:0 4096").uuid(&loop_uuid(2)),
            map("loop0p3", "7:0 8192").uuid(&loop_uuid(3)),
            map("loop0p4", "7:0 16384").uuid(&loop_uuid(4)),
        ])
}

#[test]
fn update_removes_vanished_partitions_and_keeps_live_ones() {
    let plan = shrunk().update();
    assert_eq!(
        plan.steps(),
        vec![
            kept(loop_spec(1, 2048, 100)),
            kept(loop_spec(2, 4096, 100)),
            remove("loop0p3", false),
            remove("loop0p4", false),
        ]
    );
    assert_eq!(plan.counted(), vec![true; 4]);
}

#[test]
fn add_without_update_never_removes() {
    let plan = shrunk().add();
    assert!(removed(&plan).is_empty());
    assert_eq!(plan.steps().len(), 2);
}

#[test]
fn update_removals_follow_existing_order() {
    let mut fx = shrunk();
    fx.existing.reverse();
    assert_eq!(removed(&fx.update()), vec!["loop0p4", "loop0p3"]);
}

#[test]
fn update_removes_vanished_map_under_any_name() {
    // The map is ours by UUID whatever it is called (e.g. an old delimiter).
    let fx = loop0()
        .slices(vec![slice(2048, 100)])
        .existing(vec![map("loop03", "7:0 8192").uuid(&loop_uuid(3))]);
    assert_eq!(removed(&fx.update()), vec!["loop03"]);
}

#[test]
fn update_keeps_a_map_with_our_uuid_that_points_elsewhere() {
    // -u applies -d's ownership rule: our UUID *and* a linear target on exactly the parent.
    let fx = loop0().slices(vec![slice(2048, 100)]).existing(vec![
        map("loop0p3", "9:9 0").uuid(&loop_uuid(3)).kind("error"),
        map("loop0p4", "7:1 0").uuid(&loop_uuid(4)),
    ]);
    assert_eq!(removed(&fx.update()), Vec::<&str>::new());
    assert_eq!(removed(&fx.delete()), Vec::<&str>::new());
}

#[test]
fn update_and_delete_remove_a_half_made_map_of_ours() {
    // A run killed between create and table load leaves a map with our UUID and no table.
    let fx = loop0()
        .slices(vec![slice(2048, 100)])
        .existing(vec![map("loop0p2", "").uuid(&loop_uuid(2)).targets(vec![])]);
    assert_eq!(removed(&fx.update()), vec!["loop0p2"]);
    assert_eq!(removed(&fx.delete()), vec!["loop0p2"]);
    // -a takes it over: table loaded, resumed.
    let fx = loop0()
        .slices(vec![slice(2048, 100)])
        .existing(vec![map("loop0p1", "").uuid(&loop_uuid(1)).targets(vec![])]);
    assert_eq!(
        fx.add().steps(),
        vec![Step::Reload(loop_spec(1, 2048, 100))]
    );
}

#[test]
fn update_keeps_live_partitions_in_empty_slots_table() {
    // Partition 3 is live although slot 2 is empty.
    let fx = loop0()
        .slices(vec![slice(2048, 100), empty(), slice(8192, 100)])
        .existing(vec![
            map("loop0p2", "7:0 4096").uuid(&loop_uuid(2)),
            map("loop0p3", "7:0 8192").uuid(&loop_uuid(3)),
        ]);
    let plan = fx.update();
    assert_eq!(removed(&plan), vec!["loop0p2"]);
    assert!(plan.steps().contains(&kept(loop_spec(3, 8192, 100))));
}

#[test]
fn update_keeps_live_contained_partitions() {
    let fx = loop0()
        .slices(vec![
            slice(2048, 10000),
            empty(),
            empty(),
            empty(),
            logical(4096, 100, 0),
        ])
        .existing(vec![
            map("loop0p5", "7:0 4096").uuid(&loop_uuid(5)),
            map("loop0p6", "7:0 8192").uuid(&loop_uuid(6)),
        ]);
    let plan = fx.update();
    assert_eq!(removed(&plan), vec!["loop0p6"]);
    // Removals are counted even though contained steps are not.
    assert_eq!(plan.counted(), vec![true, false, true]);
}

#[test]
fn update_keeps_partition_whose_name_is_taken() {
    // Slice 1's name is held by a foreign map; our old map for partition 1 is left alone.
    let fx = loop0().slices(vec![slice(2048, 100)]).existing(vec![
        map("loop0p1", "7:0 2048").uuid("LVM-x"),
        map("loop01", "7:0 2048").uuid(&loop_uuid(1)),
    ]);
    let plan = fx.update();
    assert!(removed(&plan).is_empty());
}

#[test]
fn update_never_touches_foreign_maps() {
    let fx = loop0().slices(vec![slice(2048, 100)]).existing(vec![
        // LVM volume on the same parent.
        map("vg-lv", "7:0 4096").uuid("LVM-abcdef"),
        // Partitions of another loop device.
        map("loop1p2", "7:1 4096").uuid("part2-devnode_7:1_Wh5pYvM"),
        // Uuid that extends ours.
        map("loop0p2x", "7:0 4096").uuid(&format!("{}0", loop_uuid(2))),
        // part prefix without number.
        map("loop0p3", "7:0 4096").uuid(&format!("part-{LOOP0_UUID}")),
        // UUID-less map named like no partition of ours.
        map("scratch", "7:0 4096"),
        // UUID-less map named like a vanished partition but on another device.
        map("loop0p4", "7:1 4096"),
        // UUID-less, right name, on parent, but not linear.
        map("loop0p5", "7:0 4096").kind("striped"),
        // UUID-less, right name, on the parent, but several targets.
        map("loop0p6", "").targets(vec![linear(1, "7:0 1"), linear(1, "7:0 2")]),
    ]);
    let plan = fx.update();
    assert_eq!(plan.steps(), vec![Step::Create(loop_spec(1, 2048, 100))]);
}

#[test]
fn update_never_touches_the_dm_parent_itself() {
    // The parent is loop0p1 (253:0), a kpartx partition map itself; its partitions are
    // loop0p1p<N> with UUID part<N>-part1-devnode_7:0_Wh5pYvM.
    let parent_uuid = loop_uuid(1);
    let fx = Fx {
        parent: ParentInfo {
            dev: dev(253, 0),
            ownership_uuid: Some(parent_uuid.clone()),
            dm_name: Some(MapName::new("loop0p1")),
        },
        naming: Naming::new("loop0p1", None),
        ..loop0()
    }
    .slices(vec![slice(63, 100)])
    .existing(vec![
        map("loop0p1", "7:0 2048")
            .uuid(&parent_uuid)
            .dev(dev(253, 0)),
        map("loop0p2", "7:0 8192")
            .uuid(&loop_uuid(2))
            .dev(dev(253, 1)),
        map("loop0p1p1", "253:0 63")
            .uuid(&format!("part1-{parent_uuid}"))
            .dev(dev(253, 2)),
        map("loop0p1p2", "253:0 263")
            .uuid(&format!("part2-{parent_uuid}"))
            .dev(dev(253, 3)),
    ]);
    let plan = fx.update();
    let reloaded = spec_of(&plan.entries[0].step).unwrap();
    assert_eq!(reloaded.name.as_str(), "loop0p1p1");
    assert_eq!(reloaded.uuid.as_str(), "part1-part1-devnode_7:0_Wh5pYvM");
    assert_eq!(reloaded.params(), "253:0 63");
    assert_eq!(removed(&plan), vec!["loop0p1p2"]);
    assert_eq!(plan.steps().len(), 2);
}

#[test]
fn update_skips_parent_by_name_even_if_it_looks_like_a_legacy_partition() {
    // Defensive: a parent whose DM name equals a partition name of its own naming (odd `-p`)
    // is still never removed.
    let fx = Fx {
        parent: ParentInfo {
            dev: dev(253, 5),
            ownership_uuid: Some("mpath-x".to_string()),
            dm_name: Some(MapName::new("mp1")),
        },
        naming: Naming::new("mp", Some("")),
        ..loop0()
    }
    .slices(vec![empty(), slice(0, 10)])
    .existing(vec![map("mp1", "253:5 0").dev(dev(253, 5))]);
    let plan = fx.update();
    assert!(removed(&plan).is_empty(), "{:?}", plan.steps());
}

#[test]
fn update_reports_open_vanished_map_as_in_use() {
    let mut fx = shrunk();
    fx.existing[2].open_count = 2;
    let plan = fx.update();
    assert_eq!(
        plan.steps()[2..],
        [in_use("loop0p3", 2), remove("loop0p4", false)]
    );
    assert_eq!(plan.counted(), vec![true; 4]);
}

#[test]
fn update_keeps_legacy_uuidless_map_of_vanished_partition() {
    // Removing needs our UUID (as for -d); taking over a live partition's name does not.
    let fx = loop0()
        .slices(vec![slice(2048, 100)])
        .existing(vec![map("loop0p1", "7:0 2048"), map("loop0p2", "7:0 4096")]);
    let plan = fx.update();
    assert_eq!(plan.steps(), vec![Step::Reload(loop_spec(1, 2048, 100))]);
}

#[test]
fn update_legacy_map_uses_current_naming() {
    // A UUID-less map named with another delimiter is not recognised as a partition.
    let fx = loop0()
        .slices(vec![slice(2048, 100)])
        .existing(vec![map("loop02", "7:0 4096")]);
    assert!(removed(&fx.update()).is_empty());
}

#[test]
fn update_legacy_map_on_substring_device_is_kept() {
    let fx = sda1()
        .slices(vec![slice(2048, 100)])
        .existing(vec![map("sda1p2", "8:16 4096"), map("sda1p3", "18:1 4096")]);
    assert!(removed(&fx.update()).is_empty());
}

#[test]
fn update_removes_map_of_partition_now_past_end() {
    let fx = loop0()
        .slices(vec![slice(2048, 100), slice(4096, 10_000)])
        .sectors(8192)
        .existing(vec![
            map("loop0p1", "7:0 2048").uuid(&loop_uuid(1)),
            map("loop0p2", "7:0 4096").uuid(&loop_uuid(2)),
        ]);
    let plan = fx.update();
    assert_eq!(
        plan.steps(),
        vec![
            kept(loop_spec(1, 2048, 100)),
            skip(
                "loop0p2",
                SkipReason::PastEnd {
                    device_sectors: Sectors(8192)
                }
            ),
            remove("loop0p2", false),
        ]
    );
}

#[test]
fn update_keeps_legacy_map_of_partition_now_past_end() {
    let fx = loop0()
        .slices(vec![slice(4096, 10_000)])
        .sectors(8192)
        .existing(vec![map("loop0p1", "7:0 4096")]);
    assert_eq!(
        fx.update().steps(),
        vec![skip(
            "loop0p1",
            SkipReason::PastEnd {
                device_sectors: Sectors(8192)
            }
        ),]
    );
}

#[test]
fn update_removes_vanished_maps_of_renamed_parent() {
    // -u after a delimiter change: live partition renamed, vanished one removed by its old name.
    let fx = mpatha().slices(vec![slice(2048, 100)]).existing(vec![
        map("mpatha", "")
            .uuid(MPATH_UUID)
            .kind("multipath")
            .dev(dev(253, 3)),
        map("mpatha1", "253:3 2048").uuid("part1-mpath-3600a0b8"),
        map("mpatha2", "253:3 4096").uuid("part2-mpath-3600a0b8"),
    ]);
    let plan = fx.update();
    assert_eq!(plan.steps().len(), 2);
    assert!(matches!(&plan.steps()[0], Step::RenameReload { from, spec }
        if from.as_str() == "mpatha1" && spec.name.as_str() == "mpatha-part1"));
    assert_eq!(plan.steps()[1], remove("mpatha2", false));
}

#[test]
fn update_with_empty_table_removes_all_our_maps() {
    // The planner is only called when a table was found; an all-empty one removes everything.
    let fx = loop0().slices(vec![empty(), empty()]).existing(vec![
        map("loop0p1", "7:0 2048").uuid(&loop_uuid(1)),
        map("vg-lv", "7:0 4096").uuid("LVM-x"),
    ]);
    assert_eq!(fx.update().steps(), vec![remove("loop0p1", false)]);
}

#[test]
fn update_removes_part0_uuid_map() {
    // `part0-<ours>` matches the ownership rule, and partition 0 is never live.
    let fx = loop0().slices(vec![slice(2048, 100)]).existing(vec![
        map("odd", "7:0 0").uuid(&format!("part0-{LOOP0_UUID}")),
    ]);
    assert_eq!(removed(&fx.update()), vec!["odd"]);
}

#[test]
fn update_does_not_remove_map_of_partition_with_bad_name() {
    // The user asks for a delimiter that makes names too long: every slice is skipped, and
    // then the existing maps of those (still present) partitions are removed.
    let delimiter = "-".repeat(DM_NAME_MAX);
    let fx = loop0()
        .naming(Naming::new("loop0", Some(&delimiter)))
        .slices(vec![slice(2048, 100)])
        .existing(vec![map("loop0p1", "7:0 2048").uuid(&loop_uuid(1))]);
    let plan = fx.update();
    assert!(matches!(
        plan.steps()[0],
        Step::Skip {
            reason: SkipReason::BadName(_),
            ..
        }
    ));
    assert!(removed(&plan).is_empty(), "{:?}", plan.steps());
}

#[test]
fn non_utf8_names_fail_per_map() {
    // A device path or delimiter that is not UTF-8 yields names device-mapper cannot take:
    // each partition is a counted failure naming the problem, the run goes on.
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let fx = loop0()
        .naming(Naming::from_os(
            OsStr::new("loop0"),
            Some(OsStr::from_bytes(b"\xe9")),
        ))
        .slices(vec![slice(2048, 100), slice(4096, 100)]);
    let plan = fx.add();
    assert_eq!(plan.steps().len(), 2, "{:?}", plan.steps());
    for (step, counted) in plan.steps().iter().zip(&plan.counted()) {
        let Step::Skip {
            display,
            reason: SkipReason::BadName(NameError::NotUtf8(name)),
        } = step
        else {
            panic!("{step:?}");
        };
        assert!(display.as_str().starts_with("loop0\u{fffd}"), "{display}");
        assert!(name.starts_with("\"loop0\\xE9"), "{name}");
        assert!(*counted);
    }
}

#[test]
fn update_never_reloads_and_removes_the_same_map() {
    // loop0p1 carries partition 2's UUID (a renumbered table). Slice 1 claims it by name and
    // reloads it; partition 2 is gone, so the removal pass deletes the map just reloaded.
    // (The reference does the same via rename-then-remove, but the plan contradicts itself.)
    let fx = loop0()
        .slices(vec![slice(2048, 100)])
        .existing(vec![map("loop0p1", "7:0 2048").uuid(&loop_uuid(2))]);
    let plan = fx.update();
    let reloaded: Vec<&str> = plan
        .entries
        .iter()
        .map(|e| &e.step)
        .filter_map(|s| match s {
            Step::Reload(spec) => Some(spec.name.as_str()),
            Step::RenameReload { from, .. } => Some(from.as_str()),
            _ => None,
        })
        .collect();
    for name in removed(&plan) {
        assert!(
            !reloaded.contains(&name),
            "{name} reloaded then removed: {:?}",
            plan.steps()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// -d
// ---------------------------------------------------------------------------------------------

#[test]
fn delete_removes_our_maps_with_flush_in_kernel_order() {
    let fx = loop0().existing(vec![
        map("loop0p3", "7:0 8192").uuid(&loop_uuid(3)),
        map("loop0p1", "7:0 2048").uuid(&loop_uuid(1)),
        map("loop01", "7:0 4096").uuid(&loop_uuid(2)),
    ]);
    let plan = fx.delete();
    assert_eq!(
        plan.steps(),
        vec![
            remove("loop0p3", true),
            remove("loop0p1", true),
            remove("loop01", true)
        ]
    );
    assert_eq!(plan.counted(), vec![true; 3]);
}

#[test]
fn delete_does_not_read_the_table() {
    // Slices and sizes are irrelevant to -d.
    let fx = loop0()
        .slices(vec![slice(2048, 100)])
        .sectors(0)
        .existing(vec![map("loop0p9", "7:0 2048").uuid(&loop_uuid(9))]);
    assert_eq!(fx.delete().steps(), vec![remove("loop0p9", true)]);
}

#[test]
fn delete_with_nothing_existing_is_empty() {
    assert_eq!(loop0().delete(), Plan::default());
}

#[test]
fn delete_skips_non_linear_map_on_parent() {
    let fx = loop0().existing(vec![
        map("loop0p1", "7:0 2048")
            .uuid(&loop_uuid(1))
            .kind("striped"),
        map("loop0p2", "7:0 4096").uuid(&loop_uuid(2)),
    ]);
    assert_eq!(
        fx.delete().steps(),
        vec![
            skip("loop0p1", SkipReason::NotLinear),
            remove("loop0p2", true)
        ]
    );
}

#[test]
fn delete_skips_foreign_maps_on_parent() {
    let fx = loop0().existing(vec![
        map("vg-lv", "7:0 4096").uuid("LVM-abc"),
        map("legacy", "7:0 4096"),
        map("loop0p2", "7:0 4096").uuid("part2-devnode_7:1_Wh5pYvM"),
        map("loop0p3", "7:0 4096").uuid(&format!("part-{LOOP0_UUID}")),
        map("loop0p4", "7:0 4096").uuid(&format!("{}0", loop_uuid(4))),
        map("loop0p5", "7:0 4096").uuid(&loop_uuid(5)),
    ]);
    assert_eq!(
        fx.delete().steps(),
        vec![
            skip("vg-lv", SkipReason::NotOurs),
            skip("legacy", SkipReason::NotOurs),
            skip("loop0p2", SkipReason::NotOurs),
            skip("loop0p3", SkipReason::NotOurs),
            skip("loop0p4", SkipReason::NotOurs),
            remove("loop0p5", true),
        ]
    );
}

#[test]
fn delete_ignores_maps_with_several_targets() {
    let fx = loop0().existing(vec![
        map("loop0p1", "")
            .uuid(&loop_uuid(1))
            .targets(vec![linear(10, "7:0 2048"), linear(10, "7:0 4096")]),
        map("empty-table", "").uuid("LVM-x").targets(vec![]),
    ]);
    assert_eq!(fx.delete(), Plan::default());
}

#[test]
fn delete_ignores_maps_on_other_devices() {
    let fx = sda1().existing(vec![
        map("sda1p1", "8:16 2048").uuid("part1-devnode_8:1_Wh5pYvM"),
        map("sda1p2", "18:1 2048").uuid("part2-devnode_8:1_Wh5pYvM"),
        map("sda1p3", "8:10 2048").uuid("part3-devnode_8:1_Wh5pYvM"),
        map("sda1p4", "81:1 2048").uuid("part4-devnode_8:1_Wh5pYvM"),
        map("sda1p5", "2048 8:1").uuid("part5-devnode_8:1_Wh5pYvM"),
        map("sdb1", "8:17 2048").uuid("part1-devnode_8:16_Wh5pYvM"),
    ]);
    assert_eq!(fx.delete(), Plan::default());
}

#[test]
fn delete_force_ignores_substring_devices_too() {
    let fx = sda1().ownership(None).existing(vec![
        map("a", "8:16 2048"),
        map("b", "18:1 2048"),
        map("c", "8:1 2048"),
    ]);
    assert_eq!(fx.delete().steps(), vec![remove("c", true)]);
}

#[test]
fn delete_non_linear_on_other_device_is_ignored_not_reported() {
    let fx = sda1().existing(vec![map("x", "8:16 0").kind("striped")]);
    assert_eq!(fx.delete(), Plan::default());
}

#[test]
fn delete_skips_the_parent_itself() {
    let parent_uuid = loop_uuid(1);
    let fx = Fx {
        parent: ParentInfo {
            dev: dev(253, 0),
            ownership_uuid: Some(parent_uuid.clone()),
            dm_name: Some(MapName::new("loop0p1")),
        },
        naming: Naming::new("loop0p1", None),
        ..loop0()
    }
    .existing(vec![
        map("loop0p1", "7:0 2048")
            .uuid(&parent_uuid)
            .dev(dev(253, 0)),
        map("loop0p1p1", "253:0 63").uuid(&format!("part1-{parent_uuid}")),
    ]);
    assert_eq!(fx.delete().steps(), vec![remove("loop0p1p1", true)]);
}

#[test]
fn delete_skips_parent_by_name_even_if_its_table_points_at_itself() {
    // Defensive: the parent is skipped by name before its table is even looked at.
    let fx = Fx {
        parent: ParentInfo {
            dev: dev(253, 5),
            ownership_uuid: None,
            dm_name: Some(MapName::new("weird")),
        },
        ..loop0()
    }
    .existing(vec![map("weird", "253:5 0").dev(dev(253, 5))]);
    assert_eq!(fx.delete(), Plan::default());
}

#[test]
fn delete_multipath_partitions() {
    let fx = mpatha().existing(vec![
        map("mpatha", "")
            .uuid(MPATH_UUID)
            .kind("multipath")
            .dev(dev(253, 3)),
        map("mpatha-part1", "253:3 2048").uuid("part1-mpath-3600a0b8"),
        map("mpathb-part1", "253:4 2048").uuid("part1-mpath-3600a0b9"),
        map("mpatha-part2", "253:3 4096").uuid("part2-mpath-3600a0b8"),
    ]);
    assert_eq!(
        fx.delete().steps(),
        vec![remove("mpatha-part1", true), remove("mpatha-part2", true)]
    );
}

#[test]
fn delete_force_without_uuid_removes_every_linear_map_on_parent() {
    let fx = loop0().ownership(None).existing(vec![
        map("loop0p1", "7:0 2048"),
        map("vg-lv", "7:0 4096").uuid("LVM-abc"),
        map("loop0p2", "7:0 8192").uuid(&loop_uuid(2)),
        map("loop0p3", "7:0 8192").kind("crypt"),
        map("loop1p1", "7:1 2048"),
        map("multi", "").targets(vec![linear(1, "7:0 0"), linear(1, "7:0 1")]),
    ]);
    assert_eq!(
        fx.delete().steps(),
        vec![
            remove("loop0p1", true),
            remove("vg-lv", true),
            remove("loop0p2", true),
            skip("loop0p3", SkipReason::NotLinear),
        ]
    );
}

#[test]
fn delete_force_with_open_map_removes_nothing() {
    let fx = loop0().ownership(None).existing(vec![
        map("loop0p1", "7:0 2048"),
        map("loop0p2", "7:0 4096").open(1),
    ]);
    assert_eq!(fx.delete().steps(), vec![in_use("loop0p2", 1)]);
}

#[test]
fn delete_with_open_partition_removes_nothing() {
    let fx = loop0().existing(vec![
        map("loop0p1", "7:0 2048").uuid(&loop_uuid(1)),
        map("loop0p2", "7:0 4096").uuid(&loop_uuid(2)).open(1),
        map("vg-lv", "7:0 4096").uuid("LVM-abc"),
        map("loop0p3", "7:0 8192").uuid(&loop_uuid(3)),
        map("loop0p4", "7:0 9000").uuid(&loop_uuid(4)).open(5),
        map("loop0p5", "7:0 9000")
            .uuid(&loop_uuid(5))
            .kind("striped")
            .open(1),
    ]);
    let plan = fx.delete();
    assert_eq!(
        plan.steps(),
        vec![
            in_use("loop0p2", 1),
            skip("vg-lv", SkipReason::NotOurs),
            in_use("loop0p4", 5),
            skip("loop0p5", SkipReason::NotLinear),
        ]
    );
    assert_eq!(plan.counted(), vec![true; 4]);
    assert!(removed(&plan).is_empty());
    // Helper mode removes the unused ones and still reports the open ones.
    let plan = fx.delete_when_busy(WhenBusy::RemoveUnused);
    assert_eq!(
        plan.steps(),
        vec![
            remove("loop0p1", true),
            in_use("loop0p2", 1),
            skip("vg-lv", SkipReason::NotOurs),
            remove("loop0p3", true),
            in_use("loop0p4", 5),
            skip("loop0p5", SkipReason::NotLinear),
        ]
    );
}

#[test]
fn delete_open_foreign_map_does_not_block() {
    // Only our partition maps count as busy: an open LVM volume on the parent is NotOurs.
    let fx = loop0().existing(vec![
        map("vg-lv", "7:0 4096").uuid("LVM-abc").open(4),
        map("other", "7:1 0").uuid(&loop_uuid(9)).open(4),
        map("loop0p1", "7:0 2048").uuid(&loop_uuid(1)),
    ]);
    assert_eq!(
        fx.delete().steps(),
        vec![skip("vg-lv", SkipReason::NotOurs), remove("loop0p1", true)]
    );
}

#[test]
fn delete_open_parent_does_not_block() {
    let fx = mpatha().existing(vec![
        map("mpatha", "253:3 0")
            .uuid(MPATH_UUID)
            .dev(dev(253, 3))
            .open(9),
        map("mpatha-part1", "253:3 2048").uuid("part1-mpath-3600a0b8"),
    ]);
    assert_eq!(fx.delete().steps(), vec![remove("mpatha-part1", true)]);
}

// ---------------------------------------------------------------------------------------------
// Helpers of plan.rs
// ---------------------------------------------------------------------------------------------

#[test]
fn is_linear_on_requires_exact_device_and_single_linear_target() {
    let on = |m: MapB| m.build().is_linear_on(dev(8, 1));
    assert!(on(map("a", "8:1 0")));
    assert!(on(map("a", "8:1")));
    assert!(!on(map("a", "8:16 0")));
    assert!(!on(map("a", "18:1 0")));
    assert!(!on(map("a", "8:1 0").kind("striped")));
    assert!(!on(map("a", "").targets(vec![])));
    assert!(!on(
        map("a", "").targets(vec![linear(1, "8:1 0"), linear(1, "8:1 1")])
    ));
    assert!(!on(map("a", "/dev/sda1 0")));
}

#[test]
fn map_spec_params_format() {
    let spec = MapSpec {
        parent: dev(253, 12),
        start: Sectors(0),
        ..loop_spec(1, 0, 1)
    };
    assert_eq!(spec.params(), "253:12 0");
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const PROP_OWNER: &str = "devnode_7:0_Wh5pYvM";

fn arb_slices() -> impl Strategy<Value = Vec<Slice>> {
    prop::collection::vec(
        (
            0u64..4000,
            prop_oneof![Just(0u64), 1u64..2000],
            prop::option::of(0usize..4),
        ),
        0..10,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .map(|(start, size, container)| Slice {
                container,
                ..Slice::new(start, size)
            })
            .collect()
    })
}

fn arb_uuid() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        (0usize..12).prop_map(|n| Some(format!("part{n}-{PROP_OWNER}"))),
        (0usize..12).prop_map(|n| Some(format!("part{n}-devnode_7:1_Wh5pYvM"))),
        (0usize..12).prop_map(|n| Some(format!("part{n}-{PROP_OWNER}x"))),
        Just(Some(format!("part-{PROP_OWNER}"))),
        Just(Some(format!("partx-{PROP_OWNER}"))),
        Just(Some(PROP_OWNER.to_string())),
        Just(Some("LVM-abcdef".to_string())),
        Just(Some(String::new())),
    ]
}

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..12).prop_map(|n| format!("loop0p{n}")),
        (1usize..12).prop_map(|n| format!("loop0{n}")),
        (1usize..4).prop_map(|n| format!("loop1p{n}")),
        Just("vg-lv".to_string()),
        Just("loop0".to_string()),
    ]
}

fn arb_targets() -> impl Strategy<Value = Vec<TargetLine>> {
    let one = (
        prop_oneof![Just("linear"), Just("striped"), Just("error")],
        prop_oneof![
            Just("7:0"),
            Just("7:1"),
            Just("70:0"),
            Just("17:0"),
            Just("7:00")
        ],
        0u64..5000,
    )
        .prop_map(|(kind, devn, start)| target(kind, 10, &format!("{devn} {start}")));
    prop::collection::vec(one, 0..3)
}

fn arb_existing() -> impl Strategy<Value = Vec<ExistingMap>> {
    let flags = (0i32..2, any::<bool>(), any::<bool>());
    prop::collection::vec((arb_name(), arb_uuid(), arb_targets(), flags), 0..10).prop_map(|raw| {
        let mut seen = BTreeSet::new();
        raw.into_iter()
            .filter(|(name, ..)| seen.insert(name.clone()))
            .enumerate()
            .map(
                |(i, (name, uuid, targets, (open_count, read_only, pending)))| ExistingMap {
                    name: MapName::new(name),
                    uuid: uuid.map(MapUuid::new),
                    dev: dev(253, i as u32),
                    open_count,
                    read_only,
                    pending,
                    targets,
                },
            )
            .collect()
    })
}

fn prop_parent() -> ParentInfo {
    ParentInfo {
        dev: dev(7, 0),
        ownership_uuid: Some(PROP_OWNER.to_string()),
        dm_name: None,
    }
}

/// Ours by UUID, or a UUID-less linear map on the parent.
fn may_touch(map: &ExistingMap, parent: DevNum) -> bool {
    match map.uuid.as_ref().map(MapUuid::as_str) {
        Some(uuid) => naming::partition_number_of(uuid, PROP_OWNER).is_some(),
        None => map.is_linear_on(parent),
    }
}

fn find<'a>(existing: &'a [ExistingMap], name: &MapName) -> Option<&'a ExistingMap> {
    existing.iter().find(|m| m.name == *name)
}

proptest! {
    #[test]
    fn prop_add_update_only_touch_our_maps(
        slices in arb_slices(),
        existing in arb_existing(),
        device_sectors in 0u64..6000,
        delimiter in prop_oneof![Just(None), Just(Some("")), Just(Some("-part"))],
        update in any::<bool>(),
    ) {
        let parent = prop_parent();
        let naming = Naming::new("loop0", delimiter);
        let input = AddInput {
            parent: &parent,
            naming: &naming,
            slices: &slices,
            device_sectors: Sectors(device_sectors),
            existing: &existing,
            read_only: false,
        };
        let plan = plan_add(&input, update);
        prop_assert_eq!(plan.steps().len(), plan.counted().len());
        let mut removed_names = BTreeSet::new();
        for step in &plan.steps() {
            match step {
                Step::Reload(spec) => {
                    let m = find(&existing, &spec.name);
                    prop_assert!(m.is_some(), "reload of a missing map {:?}", spec);
                    prop_assert!(may_touch(m.unwrap(), parent.dev), "reload of {:?}", m);
                }
                Step::Keep { spec, dev } => {
                    let m = find(&existing, &spec.name);
                    prop_assert!(m.is_some(), "keep of a missing map {:?}", spec);
                    let m = m.unwrap();
                    prop_assert!(may_touch(m, parent.dev), "keep of {:?}", m);
                    prop_assert!(m.is_live(spec), "kept {:?}, which is not {:?}", m, spec);
                    prop_assert_eq!(*dev, m.dev);
                }
                Step::RenameReload { from, spec } => {
                    let m = find(&existing, from);
                    prop_assert!(m.is_some(), "rename of a missing map {}", from);
                    let m = m.unwrap();
                    prop_assert_eq!(m.uuid.as_ref(), Some(&spec.uuid));
                    prop_assert!(m.is_linear_on(parent.dev) || m.targets.is_empty());
                    prop_assert!(find(&existing, &spec.name).is_none());
                }
                Step::Create(spec) => {
                    prop_assert!(find(&existing, &spec.name).is_none(), "create over {:?}", spec);
                }
                Step::Remove { name, flush, .. } => {
                    prop_assert!(update, "-a removed {}", name);
                    prop_assert!(!flush);
                    let m = find(&existing, name);
                    prop_assert!(m.is_some(), "removal of a missing map {}", name);
                    let m = m.unwrap();
                    prop_assert!(may_touch(m, parent.dev), "removal of {:?}", m);
                    // The ownership rule -d applies: our UUID and a table on exactly the parent.
                    prop_assert!(m.uuid.is_some(), "removal of a map without UUID {:?}", m);
                    prop_assert!(m.is_linear_on(parent.dev) || m.targets.is_empty(), "removal of {:?}", m);
                    prop_assert_eq!(m.open_count, 0);
                    prop_assert!(removed_names.insert(name.clone()), "removed twice: {}", name);
                }
                Step::Skip { reason, .. } => {
                    prop_assert!(
                        !matches!(reason, SkipReason::NotLinear | SkipReason::NotOurs),
                        "-a/-u never reports {:?}", reason
                    );
                }
            }
        }
    }

    #[test]
    fn prop_specs_fit_inside_device(
        slices in arb_slices(),
        existing in arb_existing(),
        device_sectors in 0u64..6000,
        update in any::<bool>(),
        read_only in any::<bool>(),
    ) {
        let parent = prop_parent();
        let naming = Naming::new("loop0", None);
        let input = AddInput {
            parent: &parent,
            naming: &naming,
            slices: &slices,
            device_sectors: Sectors(device_sectors),
            existing: &existing,
            read_only,
        };
        let plan = plan_add(&input, update);
        let mut numbers = BTreeSet::new();
        for step in &plan.steps() {
            if let Some(spec) = spec_of(step) {
                prop_assert!(spec.size > Sectors(0));
                prop_assert!(spec.start.0 + spec.size.0 <= device_sectors, "{:?}", spec);
                prop_assert_eq!(spec.read_only, read_only);
                prop_assert_eq!(spec.parent, parent.dev);
                let slice = &slices[spec.number - 1];
                prop_assert_eq!((slice.start, slice.size), (spec.start.0, spec.size.0));
                prop_assert_eq!(spec.uuid.as_str(), format!("part{}-{PROP_OWNER}", spec.number));
                prop_assert!(numbers.insert(spec.number), "partition {} twice", spec.number);
            }
        }
        // Every non-empty slice yields exactly one step of its own (mapped or skipped), top-level
        // ones first and counted, contained ones after and not counted.
        let per_slice = slices.iter().filter(|s| s.size > 0).count();
        let top = slices.iter().filter(|s| s.size > 0 && s.container.is_none()).count();
        let mut expected = vec![true; top];
        expected.resize(per_slice, false);
        prop_assert_eq!(&plan.counted()[..per_slice], &expected[..]);
        prop_assert!(plan.counted()[per_slice..].iter().all(|&c| c));
        let only_removals = plan.steps()[per_slice..].iter().all(|s| {
            matches!(
                s,
                Step::Remove { .. } | Step::Skip { reason: SkipReason::InUse { .. }, .. }
            )
        });
        prop_assert!(only_removals, "{:?}", plan.steps());
    }

    #[test]
    fn prop_delete_only_removes_our_linear_maps(
        existing in arb_existing(),
        force in any::<bool>(),
        partial in any::<bool>(),
    ) {
        let mut parent = prop_parent();
        if force {
            parent.ownership_uuid = None;
        }
        let when_busy = if partial { WhenBusy::RemoveUnused } else { WhenBusy::RemoveNone };
        let plan = plan_delete(&parent, &existing, when_busy, true);
        prop_assert_eq!(plan.steps().len(), plan.counted().len());
        let busy = plan.steps().iter().any(|s| matches!(
            s, Step::Skip { reason: SkipReason::InUse { .. }, .. }
        ));
        // Steps follow existing order.
        let mut last = None;
        for step in &plan.steps() {
            let pos = match step {
                Step::Remove { name, .. } => existing.iter().position(|m| m.name == *name),
                Step::Skip { display, .. } => {
                    existing.iter().position(|m| m.name.unmangled() == *display)
                }
                other => {
                    return Err(TestCaseError::fail(format!("-d planned {other:?}")));
                }
            };
            prop_assert!(pos.is_some());
            prop_assert!(last < pos, "out of order");
            last = pos;
            let m = &existing[pos.unwrap()];
            if let Step::Remove { flush, .. } = step {
                prop_assert!(flush);
                prop_assert!(!busy || partial);
                prop_assert!(m.is_linear_on(parent.dev) || (m.targets.is_empty() && !force));
                prop_assert_eq!(m.open_count, 0);
                if !force {
                    prop_assert!(may_touch(m, parent.dev) && m.uuid.is_some(), "removed {:?}", m);
                }
            }
        }
    }
}
