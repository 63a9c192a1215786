//! Looks at udevd from outside: which IPC namespace it runs in, and whether its rules can
//! complete a device-mapper cookie. Used only when a wait has stalled with udev's database
//! showing every event processed ([`super::unanswered`]): it reads `/proc` once, so its cost
//! grows with the number of processes, never with the number of device-mapper devices.

use std::fs;
use std::path::{Path, PathBuf};

use super::unanswered::Reach;

/// Where udev reads rules, highest priority first (a file hides those of the same name in
/// later directories; a link to `/dev/null` masks them).
const RULE_DIRS: [&str; 5] = [
    "/etc/udev/rules.d",
    "/run/udev/rules.d",
    "/usr/local/lib/udev/rules.d",
    "/usr/lib/udev/rules.d",
    "/lib/udev/rules.d",
];

/// What can be learned about udevd on this system.
pub fn probe() -> Reach {
    let dirs: Vec<PathBuf> = RULE_DIRS.iter().map(PathBuf::from).collect();
    probe_in(Path::new("/proc"), &dirs)
}

fn probe_in(proc: &Path, rule_dirs: &[PathBuf]) -> Reach {
    let Some(pid) = find_udevd(proc) else {
        return Reach::Unseen;
    };
    let same = |kind: &str| {
        let ours = fs::read_link(proc.join("self/ns").join(kind)).ok();
        let theirs = fs::read_link(proc.join(pid.to_string()).join("ns").join(kind)).ok();
        match (ours, theirs) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        }
    };
    match same("ipc") {
        Some(false) => Reach::ForeignIpc { pid },
        None => Reach::Unseen,
        Some(true) if same("mnt") == Some(true) && !rules_complete_cookies(rule_dirs) => {
            Reach::NoCompletingRule
        }
        Some(true) => Reach::Expected,
    }
}

/// The process ID of udevd (`systemd-udevd`, or eudev's `udevd`), if this PID namespace shows
/// it.
fn find_udevd(proc: &Path) -> Option<u32> {
    fs::read_dir(proc).ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = fs::read_to_string(entry.path().join("comm")).ok()?;
        matches!(comm.trim_end(), "systemd-udevd" | "udevd").then_some(pid)
    })
}

/// Whether the rules udev would use include one that runs `dmsetup udevcomplete`.
fn rules_complete_cookies(dirs: &[PathBuf]) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().ends_with(".rules") || !seen.insert(name) {
                continue;
            }
            // A masked rule is a link to /dev/null: it reads as empty.
            let text = fs::read_to_string(entry.path()).unwrap_or_default();
            if text
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains("udevcomplete"))
            {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake /proc with this process as `self` and udevd as PID 42, in namespaces named
    /// by the arguments.
    fn fake_proc(ipc: (&str, &str), mnt: (&str, &str)) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (pid, comm, ipc, mnt) in [
            ("self", "kpartx", ipc.0, mnt.0),
            ("42", "systemd-udevd", ipc.1, mnt.1),
        ] {
            let ns = dir.path().join(pid).join("ns");
            fs::create_dir_all(&ns).unwrap();
            fs::write(dir.path().join(pid).join("comm"), format!("{comm}\n")).unwrap();
            symlink(format!("ipc:[{ipc}]"), ns.join("ipc")).unwrap();
            symlink(format!("mnt:[{mnt}]"), ns.join("mnt")).unwrap();
        }
        dir
    }

    fn rules(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    const NOTIFY: &str =
        "# notify\nENV{DM_COOKIE}==\"?*\", RUN+=\"/sbin/dmsetup udevcomplete $env{DM_COOKIE}\"\n";

    #[test]
    fn udevd_in_another_ipc_namespace_is_foreign() {
        let proc = fake_proc(("1", "2"), ("5", "5"));
        let lib = rules(&[("95-dm-notify.rules", NOTIFY)]);
        let reach = probe_in(proc.path(), &[lib.path().to_path_buf()]);
        assert_eq!(reach, Reach::ForeignIpc { pid: 42 });
    }

    #[test]
    fn no_udevd_in_sight_is_unseen() {
        let proc = tempfile::tempdir().unwrap();
        fs::create_dir_all(proc.path().join("self/ns")).unwrap();
        assert_eq!(probe_in(proc.path(), &[]), Reach::Unseen);
    }

    #[test]
    fn the_same_namespaces_with_the_notify_rule_expect_the_cookie() {
        let proc = fake_proc(("1", "1"), ("5", "5"));
        let lib = rules(&[
            ("55-dm.rules", "# nothing\n"),
            ("95-dm-notify.rules", NOTIFY),
        ]);
        let reach = probe_in(proc.path(), &[lib.path().to_path_buf()]);
        assert_eq!(reach, Reach::Expected);
    }

    #[test]
    fn a_masked_notify_rule_completes_nothing() {
        let proc = fake_proc(("1", "1"), ("5", "5"));
        let etc = tempfile::tempdir().unwrap();
        symlink("/dev/null", etc.path().join("95-dm-notify.rules")).unwrap();
        let lib = rules(&[("95-dm-notify.rules", NOTIFY)]);
        let dirs = [etc.path().to_path_buf(), lib.path().to_path_buf()];
        assert_eq!(probe_in(proc.path(), &dirs), Reach::NoCompletingRule);
    }

    #[test]
    fn a_commented_out_completion_completes_nothing() {
        let proc = fake_proc(("1", "1"), ("5", "5"));
        let lib = rules(&[("95-dm-notify.rules", "# RUN+=\"dmsetup udevcomplete\"\n")]);
        let reach = probe_in(proc.path(), &[lib.path().to_path_buf()]);
        assert_eq!(reach, Reach::NoCompletingRule);
    }

    #[test]
    fn rules_of_another_mount_namespace_are_not_judged() {
        let proc = fake_proc(("1", "1"), ("5", "6"));
        let empty = tempfile::tempdir().unwrap();
        let reach = probe_in(proc.path(), &[empty.path().to_path_buf()]);
        assert_eq!(reach, Reach::Expected);
    }
}
