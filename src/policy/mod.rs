//! Per-device policy for helper mode, read from `/etc/kpartx/kpartx.toml` and
//! `/etc/kpartx/kpartx.d/*.toml` (see `kpartx.toml(5)`).
//!
//! A policy is a stack of layers applied field by field, later layers winning:
//!
//! 1. the built-in values ([`EffectivePolicy`] base: partitions off, automatic delimiter,
//!    30 s udev timeout, …);
//! 2. every `[defaults]` table: the main file's, then the drop-ins' in lexical file order;
//! 3. every `[[device]]` rule whose `match` holds, in the same order: the built-in rules
//!    (multipath maps on with delimiter `-part`; other DM, loop and disks off) come first, so
//!    files can only override them.
//!
//! Partition maps (DM UUID `part<N>-…`) never get partitions, whatever the rules say.

mod compile;
mod error;
pub mod glob;
pub mod images;
mod load;
mod matching;
mod model;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_load;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::level_filters::LevelFilter;

use kpartx_table::TableKind;
use kpartx_table::naming::Naming;

pub use error::PolicyError;
pub use matching::{DeviceFacts, DeviceKind};

use matching::{Criteria, Rule, Settings};

/// Directory of the system policy.
pub const SYSTEM_DIR: &str = "/etc/kpartx";
/// Main policy file name inside the policy directory.
pub const MAIN_FILE: &str = "kpartx.toml";
/// Drop-in directory name inside the policy directory; its `*.toml` files are read in lexical
/// order after the main file.
pub const DROP_IN_DIR: &str = "kpartx.d";
/// Built-in udev wait bound.
pub const DEFAULT_UDEV_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest `udev_timeout` a policy may set, in seconds.
pub const MAX_UDEV_TIMEOUT_SECS: f64 = 600.0;
/// Largest `busy_timeout` a policy may set, in seconds: a udev worker waits at most that long
/// (plus one [`crate::deadline::BUSY_POLL`]) for stale partition maps to be closed.
pub const MAX_BUSY_TIMEOUT_SECS: f64 = 60.0;
/// Delimiter the built-in rule gives multipath maps (as the upstream udev rules pass `-p`).
pub const MULTIPATH_DELIMITER: &str = "-part";
/// Largest policy file, in bytes (1 MiB); a larger one is an error. Helper mode reads the policy
/// on every udev event, so its size bounds the time and memory of each event.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Largest total size of the policy files read together (the main file and the drop-ins, or the
/// files named to `--check-config`), in bytes (4 MiB).
pub const MAX_TOTAL_BYTES: u64 = 4 << 20;
/// Most `[[device]]` rules the policy files may hold together (built-in rules not counted);
/// bounds the matching work per event.
pub const MAX_RULES: usize = 50_000;

/// The settings that apply to one device after all layers (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct EffectivePolicy {
    /// The device's kind, as matched.
    pub kind: DeviceKind,
    /// Whether helper mode creates partition maps for the device (`partitions = "enabled"`).
    pub partitions_enabled: bool,
    /// Text between parent name and partition number; `None` means kpartx's default rule
    /// (`p` after a trailing digit, else nothing).
    pub delimiter: Option<String>,
    /// Create the partition maps read-only (`-r`).
    pub read_only: bool,
    /// Table types that may be used, in probe order; `None` means all of them.
    pub tables: Option<Vec<TableKind>>,
    /// Treat a valid GPT as GPT even when its protective MBR is invalid (`-g`).
    pub force_gpt: bool,
    /// Longest wait for udev while it makes no progress (and for another kpartx on the device).
    pub udev_timeout: Duration,
    /// How long a removal the kernel refuses because the map is busy is retried.
    pub busy_timeout: Duration,
    /// Remove the device's existing partition maps when its policy is disabled.
    pub remove_on_change: bool,
    /// Helper-mode log verbosity for this device (`log_level`: error, warn, info or debug).
    pub log_level: LevelFilter,
    /// The rules that matched, in order (`FILE:LINE (rule N: NAME)` or `built-in (rule N: …)`).
    pub matched_rules: Vec<String>,
}

impl EffectivePolicy {
    /// The built-in base values, before any `[defaults]` or rule.
    pub fn base(kind: DeviceKind) -> EffectivePolicy {
        EffectivePolicy {
            kind,
            partitions_enabled: false,
            delimiter: None,
            read_only: false,
            tables: None,
            force_gpt: false,
            udev_timeout: DEFAULT_UDEV_TIMEOUT,
            busy_timeout: crate::dm::DEFAULT_BUSY_TIMEOUT,
            remove_on_change: false,
            log_level: LevelFilter::INFO,
            matched_rules: Vec::new(),
        }
    }

    /// Naming of the partition maps of `parent` under this policy.
    pub fn naming(&self, parent: &str) -> Naming {
        Naming::new(parent, self.delimiter.as_deref())
    }
}

/// A loaded policy: `[defaults]` layers and rules, built-in ones first.
#[derive(Debug, Clone)]
pub struct Policy {
    defaults: Vec<Settings>,
    rules: Vec<Rule>,
    /// How many of `rules` come from files (checked against [`MAX_RULES`]).
    file_rules: usize,
    files: Vec<PathBuf>,
}

impl Policy {
    /// The built-in policy, used when no file exists and whenever the files are bad:
    /// multipath maps get partitions with delimiter `-part` (and lose them when they become
    /// `no_partitions`); other DM devices, loop devices and disks get none, and maps made on
    /// them by hand are left alone.
    pub fn builtin() -> Policy {
        let rule = |n: usize, name: &str, kind: DeviceKind, on: bool, delim: Option<&str>| Rule {
            origin: format!("built-in (rule {n}: {name})"),
            criteria: Criteria::kind(kind),
            settings: Settings {
                partitions: Some(on),
                delimiter: delim.map(str::to_string),
                remove_on_change: Some(on),
                ..Settings::default()
            },
        };
        Policy {
            defaults: Vec::new(),
            rules: vec![
                rule(
                    1,
                    "multipath maps",
                    DeviceKind::Multipath,
                    true,
                    Some(MULTIPATH_DELIMITER),
                ),
                rule(
                    2,
                    "other device-mapper devices",
                    DeviceKind::Dm,
                    false,
                    None,
                ),
                rule(3, "loop devices", DeviceKind::Loop, false, None),
                rule(4, "disks", DeviceKind::Disk, false, None),
            ],
            file_rules: 0,
            files: Vec::new(),
        }
    }

    /// The built-in policy with `paths` layered on top, in order. Missing files are skipped;
    /// every problem in every file is reported (and then nothing is loaded).
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Policy, Vec<PolicyError>> {
        load::Loader::ROOT.load(paths, true)
    }

    /// The built-in policy with `text`, the contents of a policy file called `path`, layered on
    /// top: what loading that file does once it is read (the file is not looked at; the size
    /// and rule limits apply). Every problem is reported.
    pub fn from_text(path: &Path, text: &str) -> Result<Policy, Vec<PolicyError>> {
        load::from_text(path, text)
    }

    /// Like [`Policy::load`] on `DIR/kpartx.toml` and `DIR/kpartx.d/*.toml`.
    pub fn load_from_dir(dir: &Path) -> Result<Policy, Vec<PolicyError>> {
        load::Loader::ROOT.load_dir(dir)
    }

    /// [`Policy::load_from_dir`] on [`SYSTEM_DIR`].
    pub fn load_system() -> Result<Policy, Vec<PolicyError>> {
        Policy::load_from_dir(Path::new(SYSTEM_DIR))
    }

    /// Helper mode's loader: the system policy, or the built-in policy plus the reasons when
    /// any policy file is bad (the caller logs them and says it is using the built-in policy).
    pub fn load_or_builtin() -> (Policy, Vec<PolicyError>) {
        Policy::load_from_dir_or_builtin(Path::new(SYSTEM_DIR))
    }

    /// [`Policy::load_or_builtin`] on the policy in `dir`.
    pub fn load_from_dir_or_builtin(dir: &Path) -> (Policy, Vec<PolicyError>) {
        load::Loader::ROOT.load_dir_or_builtin(dir)
    }

    /// `--check-config FILE…`: every problem in the named files, which must exist.
    pub fn check_files<P: AsRef<Path>>(paths: &[P]) -> Vec<PolicyError> {
        load::Loader::ROOT
            .load(paths, false)
            .err()
            .unwrap_or_default()
    }

    /// The files this policy was read from, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The effective policy for a device. Partition maps get the base values with
    /// partitions disabled and no rule applied.
    pub fn evaluate(&self, facts: &DeviceFacts) -> EffectivePolicy {
        let kind = facts.kind();
        let mut eff = EffectivePolicy::base(kind);
        if kind == DeviceKind::PartitionMap {
            return eff;
        }
        for layer in &self.defaults {
            layer.apply_to(&mut eff);
        }
        for rule in self
            .rules
            .iter()
            .filter(|r| r.criteria.matches(facts, kind))
        {
            rule.settings.apply_to(&mut eff);
            eff.matched_rules.push(rule.origin.clone());
        }
        eff
    }
}
