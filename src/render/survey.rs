//! The `--status` and `--prune` output: text, and JSON documents that follow
//! `packaging/schema/kpartx-status.schema.json`. Pure functions of what
//! [`crate::health`] classified and planned.

use serde::Serialize;

use super::action::SCHEMA_VERSION;
use crate::dm::types::MapUuid;
use crate::health::{Observed, ParentRef, classify};
use crate::plan::prune::{PruneAction, PruneStep};
use kpartx_table::naming;

/// One partition map this tool owns, with its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapStatus {
    /// Name as printed.
    pub name: String,
    /// Its UUID.
    pub uuid: String,
    /// Its device number.
    pub dev: String,
    /// Its partition number.
    pub number: usize,
    /// The parent.
    pub parent: ParentStatus,
    /// Its table's first line, `null` when it has none.
    pub table: Option<String>,
    /// How many openers it has.
    pub open_count: i32,
    /// Kernel names of the devices stacked on it (sysfs `holders/`).
    pub holders: Vec<String>,
    /// `current`, `stale`, `orphaned` or `unknown`.
    pub state: &'static str,
    /// Why it is not current, else `null`.
    pub reason: Option<String>,
}

/// A map's parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParentStatus {
    /// The parent's UUID as the map's UUID names it (after `part<N>-`).
    pub uuid: String,
    /// Its device number, when it exists (or, for a device named by number, the number).
    pub device: Option<String>,
    /// Its node, when it exists.
    pub path: Option<String>,
}

/// The status entry of an observed map.
pub fn map_status(o: &Observed) -> MapStatus {
    let health = classify(&o.map, o.number, o.parent.as_ref());
    let uuid = o
        .map
        .uuid
        .as_ref()
        .map(MapUuid::to_string)
        .unwrap_or_default();
    let parent_uuid = match naming::parse_uuid(&uuid) {
        naming::UuidForm::Partition { parent, .. } => parent.to_string(),
        _ => String::new(),
    };
    let device = match (&o.parent, &o.parent_ref) {
        (Some(p), _) => Some(p.dev.to_string()),
        (None, ParentRef::Devnode(dev)) => Some(dev.to_string()),
        (None, ParentRef::Dm(_)) => None,
    };
    MapStatus {
        name: o.map.name.unmangled().into_string(),
        uuid,
        dev: o.map.dev.to_string(),
        number: o.number,
        parent: ParentStatus {
            uuid: parent_uuid,
            device,
            path: o.parent.as_ref().map(|p| p.path.display().to_string()),
        },
        table: o.map.targets.first().map(|t| t.to_string()),
        open_count: o.map.open_count,
        holders: o.holders.clone(),
        state: health.keyword(),
        reason: health.reason().map(str::to_string),
    }
}

/// The `--status --json` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// Every partition map of ours (of the devices asked about), in kernel list order.
    pub maps: Vec<MapStatus>,
}

/// Builds the `--status` document.
pub fn status_report(maps: Vec<MapStatus>) -> StatusReport {
    StatusReport {
        version: SCHEMA_VERSION,
        maps,
    }
}

/// The `--status` text: one line per map.
pub fn status_text(maps: &[MapStatus]) -> String {
    let mut out = String::new();
    for m in maps {
        let parent = m
            .parent
            .path
            .clone()
            .or_else(|| m.parent.device.clone())
            .unwrap_or_else(|| m.parent.uuid.clone());
        out.push_str(&format!(
            "{} ({}): partition {} of {}, open {}{}: {}",
            m.name,
            m.dev,
            m.number,
            parent,
            m.open_count,
            if m.holders.is_empty() {
                String::new()
            } else {
                format!(", held by {}", m.holders.join(", "))
            },
            m.state
        ));
        if let Some(reason) = &m.reason {
            out.push_str(&format!(" ({reason})"));
        }
        out.push('\n');
    }
    out
}

/// The `--prune --json` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// The steps in order.
    pub steps: Vec<PruneStep>,
    /// The process's exit status.
    pub exit_status: u8,
}

/// The `--prune` text.
pub fn prune_text(steps: &[PruneStep], dry_run: bool) -> String {
    let mut out = String::new();
    for s in steps {
        let verb = match (&s.action, dry_run) {
            (PruneAction::Remove, true) => "would remove",
            (PruneAction::Remove, false) => "removed",
            (PruneAction::Skip, _) => "left",
            (PruneAction::Detach, true) => "would detach",
            (PruneAction::Detach, false) => "detached",
            (PruneAction::Forget, true) => "would forget",
            (PruneAction::Forget, false) => "forgot",
            (PruneAction::Keep, _) => "kept",
        };
        let verb = if s.result == "failed" {
            "failed:"
        } else {
            verb
        };
        out.push_str(&format!("{verb} {}: {}", s.name, s.reason));
        if !s.holders.is_empty() {
            out.push_str(&format!(" (held by {})", s.holders.join(", ")));
        }
        if let Some(e) = &s.error {
            out.push_str(&format!(": {e}"));
        }
        out.push('\n');
    }
    if steps.is_empty() {
        out.push_str("nothing to prune\n");
    }
    out
}
