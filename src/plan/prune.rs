//! `--prune`'s plan: which stale or orphaned partition maps of this tool to remove and which
//! loops it attached to detach or forget. Pure, like the other plans: a function of what
//! [`crate::health`] classified and of the loop records.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;

use crate::dm::types::MapName;
use crate::health::{Health, Observed, classify};

/// A loop device this tool attached (from its record), as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopFacts {
    /// Kernel name, `loop3`.
    pub name: String,
    /// The image file recorded when it was attached.
    pub recorded: PathBuf,
    /// Its backing file now (`None`: not bound).
    pub backing: Option<PathBuf>,
    /// Kernel names of the devices stacked on it (`dm-3`).
    pub holders: Vec<String>,
}

/// What `--prune` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneAction {
    /// Remove a stale or orphaned map.
    Remove,
    /// Leave a stale or orphaned map that is open.
    Skip,
    /// Detach a loop device this tool attached that carries no map.
    Detach,
    /// Drop the record of a loop device that is no longer bound to the recorded image (it
    /// was detached, or someone else reuses it); the device is not touched.
    Forget,
    /// Keep a loop device this tool attached: maps or other devices still use it.
    Keep,
}

/// One step of a prune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneStep {
    /// What to do.
    pub action: PruneAction,
    /// The map's name or the loop's node.
    pub name: String,
    /// Stored map name (for removal), `null` for loops.
    #[serde(skip)]
    pub dm_name: Option<MapName>,
    /// Why.
    pub reason: String,
    /// Holders of an open map or a kept loop.
    pub holders: Vec<String>,
    /// `ok`, `failed` or `planned`.
    pub result: &'static str,
    /// Why it failed, else `null`.
    pub error: Option<String>,
}

fn step(action: PruneAction, name: String, reason: String, holders: Vec<String>) -> PruneStep {
    PruneStep {
        action,
        name,
        dm_name: None,
        reason,
        holders,
        result: "planned",
        error: None,
    }
}

/// Plans `--prune`: removes the stale and orphaned maps nobody has open (an open one is named
/// with its holders and left), then detaches the loops this tool attached that nothing holds
/// once those maps are gone. Current and unknown maps, and maps that are not ours, are never
/// touched.
pub fn plan_prune(observed: &[Observed], loops: &[LoopFacts]) -> Vec<PruneStep> {
    let mut steps = Vec::new();
    let mut removed = BTreeSet::new();
    for o in observed {
        let health = classify(&o.map, o.number, o.parent.as_ref());
        if !matches!(health, Health::Stale(_) | Health::Orphaned(_)) {
            continue;
        }
        let name = o.map.name.unmangled().into_string();
        let why = format!(
            "{}: {}",
            health.keyword(),
            health.reason().unwrap_or_default()
        );
        if o.map.open_count > 0 {
            steps.push(step(
                PruneAction::Skip,
                name,
                format!("{why}; in use (open count {})", o.map.open_count),
                o.holders.clone(),
            ));
            continue;
        }
        removed.insert(format!("dm-{}", o.map.dev.minor));
        let mut s = step(PruneAction::Remove, name, why, Vec::new());
        s.dm_name = Some(o.map.name.clone());
        steps.push(s);
    }
    for l in loops {
        let node = format!("/dev/{}", l.name);
        if l.backing.as_ref() != Some(&l.recorded) {
            let why = format!(
                "no longer bound to {} (the record is dropped, the device left alone)",
                l.recorded.display()
            );
            steps.push(step(PruneAction::Forget, node, why, Vec::new()));
            continue;
        }
        let left: Vec<String> = l
            .holders
            .iter()
            .filter(|h| !removed.contains(*h))
            .cloned()
            .collect();
        if left.is_empty() {
            let why = format!(
                "attached by kpartx for {}; no map on it",
                l.recorded.display()
            );
            steps.push(step(PruneAction::Detach, node, why, Vec::new()));
        } else {
            let why = "still in use".to_string();
            steps.push(step(PruneAction::Keep, node, why, left));
        }
    }
    steps
}
