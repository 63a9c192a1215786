//! Everything the front ends print beyond single messages, as pure functions of what the
//! engine found or did: action reports (`--json`, the `--dry-run` text), listings (`-l`,
//! text and JSON), and the survey of this tool's maps (`--status`, `--prune`).

pub mod action;
pub mod listing;
pub mod step;
pub mod survey;
