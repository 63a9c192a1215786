//! Evaluation tests: built-in policy, the shipped file, layering and matching.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::level_filters::LevelFilter;

use super::load::add_text;
use super::*;

pub(crate) const MPATH_WWID: &str = "3600a0b80001234560000abcd00000000";

pub(crate) fn mpath() -> DeviceFacts {
    DeviceFacts {
        kernel_name: "dm-3".into(),
        dm_name: Some("mpatha".into()),
        dm_uuid: Some(format!("mpath-{MPATH_WWID}")),
        ..DeviceFacts::default()
    }
}

fn mpath_wwid(wwid: &str) -> DeviceFacts {
    DeviceFacts {
        dm_uuid: Some(format!("mpath-{wwid}")),
        ..mpath()
    }
}

fn lvm(name: &str) -> DeviceFacts {
    DeviceFacts {
        kernel_name: "dm-5".into(),
        dm_name: Some(name.into()),
        dm_uuid: Some(
            "LVM-Xk2vQpZJ0aMyKZ3pX9u1z0dVbT1bYq7cW3hJmLqNcO6cT4xRr2hE8sKx1nGfAbCd".into(),
        ),
        ..DeviceFacts::default()
    }
}

fn loop_dev(backing: &str) -> DeviceFacts {
    DeviceFacts {
        kernel_name: "loop0".into(),
        backing_file: Some(PathBuf::from(backing)),
        ..DeviceFacts::default()
    }
}

pub(crate) fn disk() -> DeviceFacts {
    DeviceFacts {
        kernel_name: "sda".into(),
        wwid: Some("35000c500a1b2c3d4".into()),
        serial: Some("ZA1B2C3D".into()),
        ..DeviceFacts::default()
    }
}

pub(crate) fn partition_map() -> DeviceFacts {
    DeviceFacts {
        kernel_name: "dm-4".into(),
        dm_name: Some("mpatha-part1".into()),
        dm_uuid: Some(format!("part1-mpath-{MPATH_WWID}")),
        ..DeviceFacts::default()
    }
}

/// The built-in policy plus `files` (name, text); panics on any error.
pub(super) fn parse(files: &[(&str, &str)]) -> Policy {
    let mut policy = Policy::builtin();
    let mut errors = Vec::new();
    for (name, text) in files {
        add_text(&mut policy, Path::new(name), text, &mut errors);
    }
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    policy
}

/// The settings without the provenance.
fn settings(mut eff: EffectivePolicy) -> EffectivePolicy {
    eff.matched_rules.clear();
    eff
}

fn shipped_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/kpartx.toml");
    std::fs::read_to_string(path).unwrap()
}

/// The commented `[[device]]` examples of the shipped file, uncommented.
fn shipped_examples(text: &str) -> String {
    let mut out = String::new();
    let mut in_block = false;
    for line in text
        .lines()
        .skip_while(|l| !l.starts_with("# --- Examples"))
    {
        in_block = match line.strip_prefix("# ") {
            Some(rest) if rest.starts_with("[[device]]") => true,
            Some(_) => in_block,
            None => false,
        };
        if in_block {
            out.push_str(&line[2..]);
            out.push('\n');
        }
    }
    out
}

#[test]
fn builtin_policy_per_kind() {
    let policy = Policy::builtin();
    let m = policy.evaluate(&mpath());
    assert_eq!(m.kind, DeviceKind::Multipath);
    assert!(m.partitions_enabled);
    assert_eq!(m.delimiter.as_deref(), Some("-part"));
    assert_eq!(m.matched_rules, ["built-in (rule 1: multipath maps)"]);
    for (facts, kind) in [
        (lvm("vg0-lv0"), DeviceKind::Dm),
        (loop_dev("/tmp/a.img"), DeviceKind::Loop),
        (disk(), DeviceKind::Disk),
    ] {
        let eff = policy.evaluate(&facts);
        assert_eq!(eff.kind, kind);
        assert!(!eff.partitions_enabled, "{kind:?}");
        assert_eq!(eff.delimiter, None);
        assert_eq!(eff.matched_rules.len(), 1);
    }
    let eff = policy.evaluate(&disk());
    assert!(!eff.read_only && !eff.force_gpt && !eff.remove_on_change);
    assert!(policy.evaluate(&mpath()).remove_on_change);
    assert_eq!(eff.tables, None);
    assert_eq!(eff.udev_timeout, Duration::from_secs(30));
    assert_eq!(eff.log_level, LevelFilter::INFO);
}

#[test]
fn partition_maps_are_never_enabled() {
    let p = partition_map();
    assert_eq!(p.kind(), DeviceKind::PartitionMap);
    let eff = Policy::builtin().evaluate(&p);
    assert!(!eff.partitions_enabled);
    assert!(eff.matched_rules.is_empty());
    let hostile = "[defaults]\npartitions = \"enabled\"\n\
        [[device]]\nmatch = {}\npartitions = \"enabled\"\n\
        [[device]]\nmatch = { kind = \"dm\" }\npartitions = \"enabled\"\n\
        [[device]]\nmatch = { dm_name = \"mpatha-part*\", dm_uuid = \"part*\" }\npartitions = \"enabled\"\n\
        [[device]]\nmatch = { kernel = \"dm-*\", wwid = \"*\" }\npartitions = \"enabled\"\n";
    let eff = parse(&[("hostile.toml", hostile)]).evaluate(&p);
    assert!(!eff.partitions_enabled);
    assert!(eff.matched_rules.is_empty());
    // The same rules do enable an ordinary device-mapper device.
    assert!(
        parse(&[("h.toml", hostile)])
            .evaluate(&lvm("vg-x"))
            .partitions_enabled
    );
}

#[test]
fn kind_detection() {
    let f = |kernel: &str, name: Option<&str>, uuid: Option<&str>| DeviceFacts {
        kernel_name: kernel.into(),
        dm_name: name.map(Into::into),
        dm_uuid: uuid.map(Into::into),
        ..DeviceFacts::default()
    };
    use DeviceKind::*;
    assert_eq!(
        f("dm-0", Some("mpatha"), Some("mpath-36")).kind(),
        Multipath
    );
    assert_eq!(
        f("dm-0", Some("x"), Some("part12-mpath-36")).kind(),
        PartitionMap
    );
    assert_eq!(
        f("dm-0", Some("x"), Some("part1-devnode_7:0_Wh5pYvM")).kind(),
        PartitionMap
    );
    assert_eq!(f("dm-0", Some("x"), Some("partition-x")).kind(), Dm);
    assert_eq!(f("dm-0", Some("x"), Some("part-x")).kind(), Dm);
    assert_eq!(f("dm-0", Some("x"), Some("LVM-abc")).kind(), Dm);
    assert_eq!(f("dm-0", Some("x"), Some("MPATH-36")).kind(), Dm);
    assert_eq!(f("dm-0", Some("x"), Some("")).kind(), Dm);
    assert_eq!(f("dm-7", None, None).kind(), Dm);
    assert_eq!(f("loop3", None, None).kind(), Loop);
    assert_eq!(f("sdb", None, None).kind(), Disk);
    assert_eq!(f("nvme0n1", None, None).kind(), Disk);
    assert_eq!(mpath().effective_wwid(), Some(MPATH_WWID));
    assert_eq!(disk().effective_wwid(), Some("35000c500a1b2c3d4"));
}

#[test]
fn facts_from_udev_environment() {
    let env = [
        ("DEVNAME", "/dev/sdc"),
        ("ID_SERIAL", "35000c500a1b2c3d4"),
        ("ID_WWN", "0x5000c500a1b2c3d4"),
        ("ID_SERIAL_SHORT", "ZA1B2C3D"),
        ("DM_NAME", ""),
    ];
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    };
    let facts = DeviceFacts::from_udev_env(get);
    assert_eq!(facts.kernel_name, "sdc");
    assert_eq!(facts.wwid.as_deref(), Some("35000c500a1b2c3d4"));
    assert_eq!(facts.serial.as_deref(), Some("ZA1B2C3D"));
    assert_eq!(facts.dm_name, None);
    assert_eq!(facts.kind(), DeviceKind::Disk);
}

#[test]
fn shipped_config_evaluates_like_builtin() {
    let text = shipped_text();
    let shipped = parse(&[("/etc/kpartx/kpartx.toml", &text)]);
    let builtin = Policy::builtin();
    for facts in [
        mpath(),
        lvm("vg0-lv0"),
        loop_dev("/var/lib/images/a.img"),
        disk(),
        partition_map(),
    ] {
        let (a, b) = (shipped.evaluate(&facts), builtin.evaluate(&facts));
        assert_eq!(settings(a.clone()), settings(b), "{facts:?}");
        if facts.kind() != DeviceKind::PartitionMap {
            assert!(
                a.matched_rules
                    .iter()
                    .any(|r| r.starts_with("/etc/kpartx/kpartx.toml:"))
            );
        }
    }
}

#[test]
fn shipped_examples_parse_and_do_what_they_say() {
    let text = shipped_text();
    let examples = shipped_examples(&text);
    assert_eq!(examples.matches("[[device]]").count(), 4, "{examples}");
    let policy = parse(&[("kpartx.toml", &text), ("examples.toml", &examples)]);
    let guest = policy.evaluate(&lvm("vmstore-guest-web"));
    assert!(guest.partitions_enabled && guest.read_only);
    assert_eq!(guest.delimiter.as_deref(), Some("p"));
    assert!(!policy.evaluate(&lvm("vmstore-scratch")).partitions_enabled);
    let image = policy.evaluate(&loop_dev("/var/lib/images/vm1/disk.img"));
    assert!(image.partitions_enabled);
    assert_eq!(image.tables, Some(vec![TableKind::Gpt, TableKind::Dos]));
    assert!(
        !policy
            .evaluate(&loop_dev("/home/u/disk.img"))
            .partitions_enabled
    );
    assert!(
        !policy.evaluate(&mpath()).partitions_enabled,
        "skipped WWID"
    );
    let vendor = policy.evaluate(&mpath_wwid("360060160deadbeef"));
    assert!(vendor.partitions_enabled && vendor.read_only);
    let other = policy.evaluate(&mpath_wwid("3600c0ff000000001"));
    assert!(other.partitions_enabled && !other.read_only);
}

#[test]
fn later_rules_override_field_by_field() {
    let text = r#"
[[device]]
name = "first"
match = { kind = "dm" }
partitions = "enabled"
delimiter = "_"
read_only = true
udev_timeout = 5

[[device]]
match = { dm_name = "vg0-*" }
read_only = false
log_level = "debug"

[[device]]
match = { dm_name = "nomatch" }
partitions = "disabled"
"#;
    let eff = parse(&[("p.toml", text)]).evaluate(&lvm("vg0-lv1"));
    assert!(eff.partitions_enabled);
    assert_eq!(eff.delimiter.as_deref(), Some("_"));
    assert!(!eff.read_only);
    assert_eq!(eff.udev_timeout, Duration::from_secs(5));
    assert_eq!(eff.log_level, LevelFilter::DEBUG);
    assert_eq!(
        eff.matched_rules,
        [
            "built-in (rule 2: other device-mapper devices)",
            "p.toml:2 (rule 1: first)",
            "p.toml:10 (rule 2)",
        ]
    );
}

#[test]
fn defaults_never_override_rules() {
    let main = "[[device]]\nmatch = { kind = \"loop\" }\npartitions = \"enabled\"\n";
    let drop_in = "[defaults]\npartitions = \"disabled\"\ndelimiter = \"-p\"\nread_only = true\n";
    let policy = parse(&[("main.toml", main), ("drop.toml", drop_in)]);
    let eff = policy.evaluate(&loop_dev("/x.img"));
    assert!(eff.partitions_enabled, "a rule beats a later [defaults]");
    assert_eq!(eff.delimiter.as_deref(), Some("-p"));
    assert!(eff.read_only);
    // The built-in multipath delimiter is a rule too.
    assert_eq!(
        policy.evaluate(&mpath()).delimiter.as_deref(),
        Some("-part")
    );
    // Defaults can be layered: later ones win.
    let a = "[defaults]\nread_only = true\nlog_level = \"warn\"\n";
    let b = "[defaults]\nread_only = false\n";
    let eff = parse(&[("a.toml", a), ("b.toml", b)]).evaluate(&disk());
    assert!(!eff.read_only);
    assert_eq!(eff.log_level, LevelFilter::WARN);
}

#[test]
fn criteria_all_must_hold_and_lists_are_alternatives() {
    let text = r#"
[[device]]
match = { kind = ["loop", "dm"], kernel = ["loop[0-3]", "dm-*"], backing_file = "/img/*.raw" }
partitions = "enabled"

[[device]]
match = { wwid = "35000c500*", serial = "ZA?B2C3D" }
partitions = "enabled"
"#;
    let policy = parse(&[("c.toml", text)]);
    assert!(policy.evaluate(&loop_dev("/img/a.raw")).partitions_enabled);
    assert!(
        !policy
            .evaluate(&loop_dev("/img/a.qcow2"))
            .partitions_enabled
    );
    let loop7 = DeviceFacts {
        kernel_name: "loop7".into(),
        ..loop_dev("/img/a.raw")
    };
    assert!(!policy.evaluate(&loop7).partitions_enabled);
    // A DM device has no backing file, so the backing_file criterion fails.
    assert!(!policy.evaluate(&lvm("vg-x")).partitions_enabled);
    assert!(policy.evaluate(&disk()).partitions_enabled);
    let no_serial = DeviceFacts {
        serial: None,
        ..disk()
    };
    assert!(!policy.evaluate(&no_serial).partitions_enabled);
}

#[test]
fn dm_uuid_prefix_and_wwid_of_multipath() {
    let text = r#"
[[device]]
match = { dm_uuid = "LVM-*" }
partitions = "enabled"

[[device]]
match = { wwid = "3600a0b8*" }
partitions = "disabled"
"#;
    let policy = parse(&[("u.toml", text)]);
    assert!(policy.evaluate(&lvm("any")).partitions_enabled);
    assert!(!policy.evaluate(&mpath()).partitions_enabled);
    assert!(policy.evaluate(&mpath_wwid("3600c0ff0")).partitions_enabled);
}

#[test]
fn tables_are_kept_in_probe_order() {
    let text = "[defaults]\ntables = [\"dos\", \"gpt\", \"dos\"]\n";
    let eff = parse(&[("t.toml", text)]).evaluate(&disk());
    assert_eq!(eff.tables, Some(vec![TableKind::Gpt, TableKind::Dos]));
    // No `tables`: every type (helper mode passes `TypeFilter::All`).
    assert_eq!(Policy::builtin().evaluate(&disk()).tables, None);
}

#[test]
fn naming_follows_the_delimiter() {
    let policy = Policy::builtin();
    assert_eq!(
        policy.evaluate(&mpath()).naming("mpatha").display_name(2),
        "mpatha-part2"
    );
    let eff = policy.evaluate(&loop_dev("/x"));
    assert_eq!(eff.naming("loop0").display_name(1), "loop0p1");
    assert_eq!(eff.naming("sdb").display_name(1), "sdb1");
    let empty = parse(&[("e.toml", "[defaults]\ndelimiter = \"\"\n")]).evaluate(&disk());
    assert_eq!(empty.naming("loop0").display_name(1), "loop01");
}

#[test]
fn man_page_examples_parse() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/man/kpartx.toml.5");
    let roff = std::fs::read_to_string(path).unwrap();
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in roff.lines() {
        match line {
            ".nf" => current = Some(String::new()),
            ".fi" => blocks.extend(current.take()),
            line => {
                if let Some(block) = current.as_mut() {
                    block.push_str(&line.replace("\\-", "-"));
                    block.push('\n');
                }
            }
        }
    }
    assert_eq!(blocks.len(), 5);
    for block in &blocks {
        parse(&[("man.toml", block)]);
    }
}
