//! What `-a`, `-u`, `-d` (and helper mode's `--dry-run`) did or would do, for scripts and for
//! people: the `--json` document (schema `packaging/schema/kpartx-action.schema.json`,
//! version [`SCHEMA_VERSION`]) and the `--dry-run` text. Pure: built from an engine
//! [`Outcome`], printed by the front ends.

use serde::Serialize;

use crate::dm::model::ExistingMap;
use crate::dm::types::{DisplayName, MapName, MapUuid};
use crate::dm::{OpError, Settled, Stage};
use crate::engine::Outcome;
use crate::engine::outcome::{Record, StepResult};
use crate::exit::Exit;
use crate::plan::Step;
use crate::render::step::{Tense, step_text};

/// Version of every JSON document this module (and [`crate::health`]) writes; bumped on any
/// incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The action a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// `-a`.
    Add,
    /// `-u`.
    Update,
    /// `-d`.
    Delete,
    /// `--udev`: the helper's map or unmap of an event's device.
    Udev,
}

/// The `--json` document of one `-a`/`-u`/`-d` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionReport {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// What was asked.
    pub action: ActionKind,
    /// Whether nothing was changed (`--dry-run`).
    pub dry_run: bool,
    /// The device whose partitions were worked on.
    pub parent: ParentReport,
    /// One entry per planned step, in the order they were (or would be) carried out.
    pub maps: Vec<MapReport>,
    /// The wait for udev.
    pub udev: UdevReport,
    /// The process's exit status.
    pub exit_status: u8,
}

/// The parent device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParentReport {
    /// Its path (the loop device for an image file).
    pub path: String,
    /// `MAJ:MIN`.
    pub device: String,
    /// The image's loop device, `null` when the argument was not an image file.
    #[serde(rename = "loop")]
    pub loop_dev: Option<LoopReport>,
    /// The kernel marks it read-only, so its partition maps are made read-only.
    pub read_only: bool,
}

/// An image file's loop device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoopReport {
    /// `/dev/loopN`.
    pub path: String,
    /// Whether this run attached it (in a dry run: would attach it).
    pub attached: bool,
    /// Whether this run detached it (in a dry run: would detach it).
    pub detached: bool,
    /// Whether the loop is only predicted: a dry run over an image no loop backs names the
    /// loop the real run would most likely get.
    pub predicted: bool,
}

/// What a step does to a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MapAction {
    /// A new map.
    Create,
    /// A new table for an existing map.
    Reload,
    /// An existing map that already is what would be loaded, left alone.
    Keep,
    /// An existing map of the partition under another name: renamed, then reloaded.
    Rename,
    /// The map is removed.
    Remove,
    /// Left alone; `reason` says why.
    Skip,
}

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MapResult {
    /// Done (or, for a skip, left alone as planned).
    Ok,
    /// It failed (`error` says where), or the plan had to leave a map it should have handled.
    Failed,
    /// A dry run: not carried out.
    Planned,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapReport {
    /// What the step does.
    pub action: MapAction,
    /// The map's name as printed (for a rename: the new name).
    pub name: String,
    /// The map's name before a rename, else `null`.
    pub from: Option<String>,
    /// Its device-mapper UUID, when known.
    pub uuid: Option<String>,
    /// Its device number `MAJ:MIN`, when it exists (a dry run's new maps have none yet).
    pub dev: Option<String>,
    /// Its table: `0 SIZE linear MAJ:MIN START` for a new table, the live table for a map
    /// removed or left alone; `null` when there is none.
    pub table: Option<String>,
    /// Why a map is left alone (skip), else `null`.
    pub reason: Option<String>,
    /// How it went.
    pub result: MapResult,
    /// What failed, else `null`.
    pub error: Option<ErrorDetail>,
}

/// A failed operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDetail {
    /// `load`, `resume`, `rename`, `remove` or `udev`.
    pub stage: &'static str,
    /// What the kernel or the system said.
    pub message: String,
}

/// The wait for udev.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UdevReport {
    /// `false` when udev did not finish in time (or could not be waited for).
    pub ok: bool,
    /// Why not, else `null`.
    pub error: Option<ErrorDetail>,
    /// How the wait ended.
    pub wait: UdevWait,
    /// For [`UdevWait::Unanswered`]: what was found and how to avoid it, else `null`.
    pub warning: Option<String>,
}

/// How the wait for udev ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UdevWait {
    /// Nothing was waited for: nothing changed, `-n`, no udevd, `DM_DISABLE_UDEV=1`, or a dry run.
    None,
    /// udev completed the cookie.
    Completed,
    /// udev processed every event (its database and the nodes checked), but never completed
    /// the cookie (udevd in another IPC namespace, or without the rule that completes it).
    Unanswered,
    /// udev did not finish in time, or the wait failed.
    Failed,
}

/// The report of a udev wait.
pub fn udev_report(udev: &Result<Settled, OpError>) -> UdevReport {
    let (wait, warning) = match udev {
        Ok(Settled::NotWaited) => (UdevWait::None, None),
        Ok(Settled::Completed) => (UdevWait::Completed, None),
        Ok(Settled::Unanswered(u)) => (UdevWait::Unanswered, Some(u.to_string())),
        Err(_) => (UdevWait::Failed, None),
    };
    UdevReport {
        ok: udev.is_ok(),
        error: udev.as_ref().err().map(detail),
        wait,
        warning,
    }
}

/// The document printed instead of a report when a run could not start or stopped early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// What went wrong.
    pub error: RunError,
}

/// Why a run failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunError {
    /// A stable keyword: `usage`, `device`, `loop`, `lock`, `read`, `device-mapper`,
    /// `changed`.
    pub kind: &'static str,
    /// The message also printed on stderr.
    pub message: String,
    /// The process's exit status.
    pub exit_status: u8,
}

/// The `--udev --dry-run --json` document for an event that needs nothing done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NothingReport {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// Always `udev`.
    pub action: ActionKind,
    /// Always true.
    pub dry_run: bool,
    /// Why there is nothing to do.
    pub nothing: String,
    /// Always 0.
    pub exit_status: u8,
}

impl NothingReport {
    /// The document for an event ignored because of `why`.
    pub fn new(why: &str) -> NothingReport {
        NothingReport {
            version: SCHEMA_VERSION,
            action: ActionKind::Udev,
            dry_run: true,
            nothing: why.to_string(),
            exit_status: Exit::Ok.code(),
        }
    }
}

/// The error document for `kind` and `message`.
pub fn error_report(kind: &'static str, message: impl Into<String>, exit: Exit) -> String {
    to_json(&ErrorReport {
        version: SCHEMA_VERSION,
        error: RunError {
            kind,
            message: message.into(),
            exit_status: exit.code(),
        },
    })
}

/// Serialises a document as one line.
pub fn to_json<T: Serialize>(doc: &T) -> String {
    // Serialising these plain structs (strings, numbers, booleans) cannot fail.
    let mut text = serde_json::to_string(doc).unwrap_or_default();
    text.push('\n');
    text
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Load => "load",
        Stage::Resume => "resume",
        Stage::Rename => "rename",
        Stage::Remove => "remove",
        Stage::Udev => "udev",
    }
}

fn detail(err: &OpError) -> ErrorDetail {
    ErrorDetail {
        stage: stage_name(err.stage),
        message: err.detail.clone(),
    }
}

/// The report of `outcome`.
pub fn action_report(action: ActionKind, outcome: &Outcome, exit: Exit) -> ActionReport {
    let loop_dev = outcome.image.as_ref().map(|image| {
        let predicted = image.predicted_from.is_some();
        LoopReport {
            path: image.device.path.display().to_string(),
            attached: image.created || predicted,
            detached: if outcome.dry_run {
                outcome.detach_planned
            } else {
                outcome.release.as_ref().is_some_and(|r| r.result.is_ok())
            },
            predicted,
        }
    });
    ActionReport {
        version: SCHEMA_VERSION,
        action,
        dry_run: outcome.dry_run,
        parent: ParentReport {
            path: outcome.parent.path.display().to_string(),
            device: outcome.parent.dev.to_string(),
            loop_dev,
            read_only: outcome.parent.read_only,
        },
        maps: outcome
            .records
            .iter()
            .map(|r| map_report(r, &outcome.before))
            .collect(),
        udev: udev_report(&outcome.udev),
        exit_status: exit.code(),
    }
}

fn table_of(map: &ExistingMap) -> Option<String> {
    let lines: Vec<String> = map.targets.iter().map(|t| t.to_string()).collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn map_report(record: &Record, before: &[ExistingMap]) -> MapReport {
    let by_name = |name: &MapName| before.iter().find(|m| m.name == *name);
    let by_display =
        |display: &DisplayName| display.to_map_name().ok().and_then(|name| by_name(&name));
    let (action, name, from, uuid, existing, table, reason) = match &record.step {
        Step::Create(s) | Step::Reload(s) | Step::Keep { spec: s, .. } => (
            match record.step {
                Step::Create(_) => MapAction::Create,
                Step::Reload(_) => MapAction::Reload,
                _ => MapAction::Keep,
            },
            s.display.to_string(),
            None,
            Some(s.uuid.to_string()),
            by_name(&s.name),
            Some(format!("0 {} linear {}", s.size, s.params())),
            None,
        ),
        Step::RenameReload { from, spec } => (
            MapAction::Rename,
            spec.display.to_string(),
            Some(from.unmangled().into_string()),
            Some(spec.uuid.to_string()),
            by_name(from),
            Some(format!("0 {} linear {}", spec.size, spec.params())),
            None,
        ),
        Step::Remove { name, display, .. } => {
            let map = by_name(name);
            (
                MapAction::Remove,
                display.to_string(),
                None,
                map.and_then(|m| m.uuid.as_ref()).map(MapUuid::to_string),
                map,
                map.and_then(table_of),
                None,
            )
        }
        Step::Skip { display, reason } => {
            let map = by_display(display);
            (
                MapAction::Skip,
                display.to_string(),
                None,
                map.and_then(|m| m.uuid.as_ref()).map(MapUuid::to_string),
                map,
                map.and_then(table_of),
                Some(reason.to_string()),
            )
        }
    };
    let dev = match &record.result {
        StepResult::Mapped(dev) => Some(dev.to_string()),
        _ => existing.map(|m| m.dev.to_string()),
    };
    let (result, error) = match &record.result {
        StepResult::Failed(e) => (MapResult::Failed, Some(detail(e))),
        StepResult::Planned => (MapResult::Planned, None),
        _ if record.failed() => (MapResult::Failed, None),
        _ => (MapResult::Ok, None),
    };
    MapReport {
        action,
        name,
        from,
        uuid,
        dev,
        table,
        reason,
        result,
        error,
    }
}

/// The `--dry-run` text: one line per step, then the loop device's fate.
pub fn plan_text(outcome: &Outcome) -> String {
    let mut out = String::new();
    if let Some(image) = &outcome.image
        && image.predicted_from.is_some()
    {
        out.push_str(&format!(
            "would attach {} (predicted: the first free loop device)\n",
            image.device.path.display()
        ));
    }
    for record in &outcome.records {
        out.push_str(&step_text(record, Tense::Planned));
        out.push('\n');
    }
    if outcome.records.is_empty() {
        out.push_str("nothing to do\n");
    }
    if outcome.detach_planned
        && let Some(image) = &outcome.image
    {
        out.push_str(&format!("would detach {}\n", image.device.path.display()));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
