//! Loading tests: files, drop-in order, ownership, and every error with its position.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::error::LineIndex;
use super::load::{Loader, add_text};
use super::tests::mpath;
use super::*;

/// A loader trusting the user running the tests (root in CI).
fn loader() -> Loader {
    Loader {
        trusted_uid: nix::unistd::geteuid().as_raw(),
    }
}

fn write(path: &Path, text: &str) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    path.to_path_buf()
}

/// The errors of one file's text, as `LINE:COLUMN: message`.
fn errors(text: &str) -> Vec<String> {
    let mut policy = Policy::builtin();
    let mut errs = Vec::new();
    add_text(&mut policy, Path::new("f.toml"), text, &mut errs);
    errs.iter()
        .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
        .collect()
}

fn one_error(text: &str) -> String {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn syntax_error_position() {
    let e = one_error("[defaults]\nread_only = true\n[device\n");
    assert!(e.starts_with("3:8: "), "{e}");
    let e = one_error("[defaults]\nlog_level = \"info\n");
    assert!(e.starts_with("2:18: "), "{e}");
}

#[test]
fn unknown_keys_are_errors_with_position() {
    let e = one_error("[defaults]\npartitions = \"enabled\"\n  bogus = 1\n");
    assert!(e.starts_with("3:3: unknown field `bogus`"), "{e}");
    let e = one_error("[[device]]\nmatch = { kind = \"dm\" }\nread_onyl = true\n");
    assert!(e.starts_with("3:1: unknown field `read_onyl`"), "{e}");
    let e = one_error("[[device]]\nmatch = { kind = \"dm\", dmname = \"x\" }\n");
    assert!(e.starts_with("2:24: unknown field `dmname`"), "{e}");
    let e = one_error("[default]\n");
    assert!(e.starts_with("1:2: unknown field `default`"), "{e}");
}

#[test]
fn wrong_types_are_errors_with_position() {
    let e = one_error("[defaults]\nread_only = \"yes\"\n");
    assert_eq!(e, "2:13: invalid type: string \"yes\", expected a boolean");
    let e = one_error("[[device]]\nmatch = { kind = \"dm\" }\npartitions = \"on\"\n");
    assert_eq!(
        e,
        "3:14: unknown variant `on`, expected `enabled` or `disabled`"
    );
    let e = one_error("[[device]]\nmatch = { dm_name = 3 }\n");
    assert!(e.starts_with("2:21: invalid type: integer `3`"), "{e}");
    let e = one_error("[defaults]\nlog_level = \"trace\"\n");
    assert!(e.starts_with("2:13: unknown variant `trace`"), "{e}");
}

#[test]
fn bad_values_are_errors_with_position() {
    let e = one_error("[defaults]\ntables = [\"gpt\", \"msdos\"]\n");
    assert!(
        e.starts_with("2:10: unknown table type \"msdos\" (known: gpt, dos,"),
        "{e}"
    );
    let e = one_error("[defaults]\ntables = []\n");
    assert!(e.starts_with("2:10: empty `tables` list"), "{e}");
    for bad in ["0", "-1", "600.5", "nan", "inf"] {
        let e = one_error(&format!("[defaults]\nudev_timeout = {bad}\n"));
        assert!(
            e.starts_with("2:16: udev_timeout must be more than 0 and at most 600"),
            "{e}"
        );
    }
    for good in ["0.5", "600", "10"] {
        assert_eq!(
            errors(&format!("[defaults]\nudev_timeout = {good}\n")),
            [] as [String; 0]
        );
    }
    for bad in ["-1", "60.5", "nan", "inf"] {
        let e = one_error(&format!("[defaults]\nbusy_timeout = {bad}\n"));
        assert!(
            e.starts_with("2:16: busy_timeout must be from 0 to 60"),
            "{e}"
        );
    }
    for good in ["0", "0.5", "60"] {
        assert_eq!(
            errors(&format!("[defaults]\nbusy_timeout = {good}\n")),
            [] as [String; 0]
        );
    }
    let e = one_error("[defaults]\ndelimiter = \"a/b\"\n");
    assert!(e.starts_with("2:13: delimiter must not contain `/`"), "{e}");
    let e = one_error("[[device]]\nmatch = { dm_name = \"vg[0-\" }\n");
    assert!(
        e.starts_with("2:21: pattern \"vg[0-\" has an unclosed"),
        "{e}"
    );
    let e = one_error("[[device]]\nmatch = { kind = \"lvm\" }\n");
    assert!(e.starts_with("2:18: unknown kind \"lvm\""), "{e}");
    let e = one_error("[[device]]\nmatch = { kind = \"partition-map\" }\n");
    assert!(
        e.starts_with("2:18: partition maps never get partitions"),
        "{e}"
    );
    let e = one_error("[[device]]\nmatch = { wwid = [] }\n");
    assert!(e.starts_with("2:18: empty `wwid` list"), "{e}");
}

#[test]
fn rule_only_keys_and_missing_match() {
    let e = one_error("[defaults]\nmatch = { kind = \"dm\" }\n");
    assert_eq!(e, "2:9: `match` is only allowed in [[device]] rules");
    let e = one_error("[defaults]\nname = \"x\"\n");
    assert_eq!(e, "2:8: `name` is only allowed in [[device]] rules");
    let e = one_error("\n[[device]]\npartitions = \"enabled\"\n");
    assert_eq!(e, "2:1: a [[device]] rule needs a `match` table");
    // A sub-table is as good as an inline table.
    let text = "[[device]]\npartitions = \"enabled\"\n[device.match]\ndm_name = \"vg-*\"\n";
    assert!(errors(text).is_empty());
}

#[test]
fn several_errors_in_one_file_are_all_reported() {
    let errs = errors(
        "[defaults]\ntables = [\"x\"]\nudev_timeout = 0\n[[device]]\nmatch = { kind = \"y\" }\n",
    );
    let positions: Vec<&str> = errs.iter().map(|e| &e[..4]).collect();
    assert_eq!(positions, ["2:10", "3:16", "5:18"]);
}

#[test]
fn columns_count_characters() {
    assert_eq!(LineIndex::new("ab\ncdé f").locate(9), (2, 6));
    assert_eq!(LineIndex::new("x").locate(100), (1, 2));
    assert_eq!(LineIndex::new("").locate(0), (1, 1));
    let lines = LineIndex::new("a\n\nbc\n");
    assert_eq!(lines.locate(0), (1, 1));
    assert_eq!(lines.locate(1), (1, 2), "the newline ends its line");
    assert_eq!(lines.locate(2), (2, 1));
    assert_eq!(lines.locate(4), (3, 2));
    assert_eq!(lines.locate(6), (4, 1));
    let e = one_error("# é\n[defaults]\n  é = 1\n");
    assert!(e.starts_with("3:3: "), "{e}");
}

#[test]
fn error_display_is_gnu_style() {
    let e = PolicyError {
        path: "/etc/kpartx/kpartx.toml".into(),
        line: 7,
        column: 3,
        message: "unknown field `x`".into(),
    };
    assert_eq!(
        e.to_string(),
        "/etc/kpartx/kpartx.toml:7:3: unknown field `x`"
    );
}

#[test]
fn drop_ins_apply_in_lexical_order_after_the_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let rule =
        |d: &str| format!("[[device]]\nmatch = {{ kind = \"multipath\" }}\ndelimiter = \"{d}\"\n");
    write(&dir.path().join("kpartx.toml"), &rule("main"));
    write(&dir.path().join("kpartx.d/20-b.toml"), &rule("b"));
    write(&dir.path().join("kpartx.d/10-a.toml"), &rule("a"));
    write(&dir.path().join("kpartx.d/README"), "not toml at all [");
    write(
        &dir.path().join("kpartx.d/.hidden.toml"),
        "not toml at all [",
    );
    write(
        &dir.path().join("kpartx.d/30-c.toml.rpmsave"),
        "not toml at all [",
    );
    let policy = loader().load_dir(dir.path()).unwrap();
    let names: Vec<String> = policy
        .files()
        .iter()
        .map(|f| f.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        ["kpartx.toml", "kpartx.d/10-a.toml", "kpartx.d/20-b.toml"]
    );
    let eff = policy.evaluate(&mpath());
    assert_eq!(eff.delimiter.as_deref(), Some("b"));
    assert_eq!(eff.matched_rules.len(), 4);
    assert!(eff.matched_rules[3].ends_with("kpartx.d/20-b.toml:1 (rule 1)"));
    // Without the main file the drop-ins still apply.
    fs::remove_file(dir.path().join("kpartx.toml")).unwrap();
    let policy = loader().load_dir(dir.path()).unwrap();
    assert_eq!(policy.files().len(), 2);
    assert_eq!(policy.rules.len(), Policy::builtin().rules.len() + 2);
}

#[test]
fn missing_directory_gives_the_builtin_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = loader().load_dir(&dir.path().join("nope")).unwrap();
    assert!(policy.files().is_empty());
    assert_eq!(policy.rules.len(), Policy::builtin().rules.len());
    let (policy, errs) = Policy::load_from_dir_or_builtin(&dir.path().join("nope"));
    assert!(errs.is_empty());
    assert!(policy.evaluate(&mpath()).partitions_enabled);
}

#[test]
fn writable_or_foreign_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir.path().join("kpartx.toml"), "[defaults]\n");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
    let errs = loader().load(&[&file], true).unwrap_err();
    assert_eq!(errs.len(), 1);
    let shown = errs[0].to_string();
    assert!(
        shown.starts_with(&format!(
            "{}:1:1: writable by group or others (mode 0666)",
            file.display()
        )),
        "{shown}"
    );
    fs::set_permissions(&file, fs::Permissions::from_mode(0o620)).unwrap();
    assert!(loader().load(&[&file], true).is_err(), "group-writable");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(loader().load(&[&file], true).is_ok());
    let stranger = Loader {
        trusted_uid: loader().trusted_uid.wrapping_add(1),
    };
    let errs = stranger.load(&[&file], true).unwrap_err();
    assert!(errs[0].message.starts_with("not owned by uid"), "{errs:?}");
    assert_eq!((errs[0].line, errs[0].column), (1, 1));
}

#[test]
fn writable_drop_in_directory_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let drop_in = dir.path().join("kpartx.d");
    fs::create_dir(&drop_in).unwrap();
    fs::set_permissions(&drop_in, fs::Permissions::from_mode(0o777)).unwrap();
    let errs = loader().load_dir(dir.path()).unwrap_err();
    assert_eq!(errs[0].path, drop_in);
}

#[test]
fn load_or_builtin_falls_back_and_reports_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let enable_all =
        "[defaults]\npartitions = \"enabled\"\n[[device]]\nmatch = {}\npartitions = \"enabled\"\n";
    write(&dir.path().join("kpartx.toml"), enable_all);
    write(
        &dir.path().join("kpartx.d/50-bad.toml"),
        "[defaults]\nread_only = 1\n",
    );
    write(&dir.path().join("kpartx.d/60-bad.toml"), "[[device]\n");
    let (policy, errs) = loader().load_dir_or_builtin(dir.path());
    assert!(errs.len() >= 2, "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.path.ends_with("50-bad.toml") && e.line == 2)
    );
    assert!(
        errs.iter()
            .any(|e| e.path.ends_with("60-bad.toml") && e.line == 1)
    );
    assert!(policy.files().is_empty());
    let lvm = DeviceFacts {
        kernel_name: "dm-1".into(),
        dm_name: Some("vg-lv".into()),
        ..DeviceFacts::default()
    };
    assert!(
        !policy.evaluate(&lvm).partitions_enabled,
        "safe default kept"
    );
    assert!(policy.evaluate(&mpath()).partitions_enabled);
    assert!(loader().load_dir(dir.path()).is_err());
}

#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.toml");
    fs::write(&file, b"[defaults]\nlog_level = \"\xff\"\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let errs = loader().load(&[&file], true).unwrap_err();
    assert_eq!((errs[0].line, errs[0].column), (2, 14));
    assert_eq!(errs[0].message, "file is not valid UTF-8");
}

#[test]
fn check_files_requires_named_files_to_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let errs = Policy::check_files(&[&missing]);
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].to_string(),
        format!("{}:1:1: no such file", missing.display())
    );
    assert!(
        Policy::load(&[&missing]).is_ok(),
        "load skips missing files"
    );
    let not_file = Policy::check_files(&[dir.path()]);
    assert_eq!(not_file[0].message, "not a regular file");
}

#[test]
fn files_in_dir_lists_in_application_order() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("kpartx.d/b.toml"), "");
    write(&dir.path().join("kpartx.d/a.toml"), "");
    write(&dir.path().join("kpartx.toml"), "");
    let files = loader().files_in_dir(dir.path()).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["kpartx.toml", "a.toml", "b.toml"]);
    let policy = loader().load_dir(dir.path()).unwrap();
    assert_eq!(
        policy.evaluate(&mpath()).delimiter.as_deref(),
        Some("-part")
    );
}

#[test]
fn dangling_symlinks_are_reported_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("kpartx.d/10-ok.toml"), "");
    let link = dir.path().join("kpartx.d/20-gone.toml");
    std::os::unix::fs::symlink(dir.path().join("nowhere.toml"), &link).unwrap();
    let errs = loader().load_dir(dir.path()).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(
        errs[0].to_string(),
        format!(
            "{}:1:1: dangling symbolic link: its target {} does not exist",
            link.display(),
            dir.path().join("nowhere.toml").display()
        )
    );
    // Helper mode falls back to the built-in policy, as for any bad file.
    let (policy, errs) = loader().load_dir_or_builtin(dir.path());
    assert_eq!(errs.len(), 1);
    assert!(policy.files().is_empty());
    // `--check-config FILE` says the same.
    let errs = Loader::ROOT.load(&[&link], false).unwrap_err();
    assert!(
        errs[0].message.starts_with("dangling symbolic link"),
        "{errs:?}"
    );
    // A dangling main file too.
    fs::remove_file(&link).unwrap();
    let main = dir.path().join("kpartx.toml");
    std::os::unix::fs::symlink("nowhere.toml", &main).unwrap();
    let errs = loader().load_dir(dir.path()).unwrap_err();
    assert_eq!(errs[0].path, main);
    // A good symlink is followed.
    write(
        &dir.path().join("nowhere.toml"),
        "[defaults]\nread_only = true\n",
    );
    let policy = loader().load_dir(dir.path()).unwrap();
    assert!(policy.evaluate(&mpath()).read_only);
}

#[test]
fn non_regular_files_are_refused_without_being_opened() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("kpartx.d/10-fifo.toml");
    fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    // Opening a FIFO with no writer would block; the loader must not.
    let errs = loader().load_dir(dir.path()).unwrap_err();
    assert_eq!(errs[0].path, fifo);
    assert_eq!(errs[0].message, "not a regular file");
}

/// `n` rules, rule `i` matching DM name `vg-lv<i>` and setting delimiter `d<i>`.
fn many_rules(n: usize) -> String {
    (1..=n)
        .map(|i| {
            format!(
                "[[device]]\nname = \"r{i}\"\nmatch = {{ dm_name = \"vg-lv{i}\" }}\n\
                 partitions = \"enabled\"\ndelimiter = \"d{i}\"\n"
            )
        })
        .collect()
}

#[test]
fn a_large_file_loads_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir.path().join("big.toml"), &many_rules(10_000));
    let policy = loader().load(&[&file], false).unwrap();
    assert_eq!(policy.rules.len(), Policy::builtin().rules.len() + 10_000);
    for i in [1, 4_321, 10_000] {
        let lv = DeviceFacts {
            kernel_name: "dm-7".into(),
            dm_name: Some(format!("vg-lv{i}")),
            ..DeviceFacts::default()
        };
        let eff = policy.evaluate(&lv);
        assert!(eff.partitions_enabled);
        assert_eq!(eff.delimiter, Some(format!("d{i}")));
        // Built-in "dm" rule, then exactly the one rule, at its line (5 lines per rule).
        assert_eq!(eff.matched_rules.len(), 2, "{:?}", eff.matched_rules);
        let line = 5 * (i - 1) + 1;
        let origin = format!("{}:{line} (rule {i}: r{i})", file.display());
        assert_eq!(eff.matched_rules[1], origin);
    }
}

#[test]
fn size_limits_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let limit = usize::try_from(MAX_FILE_BYTES).unwrap();
    // A comment line padding a file to exactly `len` bytes.
    let padded = |len: usize| format!("#{}\n", "x".repeat(len - 2));
    let at_limit = write(&dir.path().join("at.toml"), &padded(limit));
    assert!(loader().load(&[&at_limit], false).is_ok());
    let over = write(&dir.path().join("over.toml"), &padded(limit + 1));
    let errs = loader().load(&[&over], false).unwrap_err();
    assert_eq!(
        errs[0].to_string(),
        format!(
            "{}:1:1: file too large: {} bytes; a policy file may hold at most {limit} bytes",
            over.display(),
            limit + 1
        )
    );
    let errs = Policy::from_text(Path::new("t.toml"), &padded(limit + 1)).unwrap_err();
    assert!(errs[0].message.starts_with("file too large"), "{errs:?}");
    // In all: five files at the limit are one too many for a 4 MiB total.
    let total = usize::try_from(MAX_TOTAL_BYTES).unwrap();
    let files: Vec<PathBuf> = (0..=total / limit)
        .map(|i| {
            write(
                &dir.path().join(format!("kpartx.d/{i}.toml")),
                &padded(limit),
            )
        })
        .collect();
    let errs = loader().load_dir(dir.path()).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].path, files[total / limit]);
    assert!(
        errs[0].message.contains("at most 4194304 bytes in all"),
        "{errs:?}"
    );
}

#[test]
fn rule_limit_is_enforced_across_files() {
    // 20 bytes a rule: MAX_RULES + 1 of them still fit in one file.
    let rule = "[[device]]\nmatch={}\n";
    let text = rule.repeat(MAX_RULES);
    let policy = Policy::from_text(Path::new("t.toml"), &text).unwrap();
    assert_eq!(
        policy.rules.len(),
        Policy::builtin().rules.len() + MAX_RULES
    );
    let errs = Policy::from_text(Path::new("t.toml"), &format!("{text}{rule}")).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(
        errs[0].to_string(),
        format!(
            "t.toml:{}:1: too many [[device]] rules: policy files may hold at most {MAX_RULES} in all",
            2 * MAX_RULES + 1
        )
    );
    // The limit counts the rules of all files together.
    let dir = tempfile::tempdir().unwrap();
    let half = rule.repeat(MAX_RULES / 2);
    write(&dir.path().join("kpartx.toml"), &half);
    write(&dir.path().join("kpartx.d/a.toml"), &half);
    assert!(loader().load_dir(dir.path()).is_ok());
    let b = write(&dir.path().join("kpartx.d/b.toml"), rule);
    let errs = loader().load_dir(dir.path()).unwrap_err();
    assert_eq!((errs[0].path.as_path(), errs[0].line), (b.as_path(), 1));
}
