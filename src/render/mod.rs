//! Everything the front ends print beyond single messages, as pure functions of what the
//! engine found or did: action reports (`--json`, the `--dry-run` text), listings (`-l`,
//! text and JSON), the survey of this tool's maps (`--status`, `--prune`), the effective
//! policy (`--show-policy`), and one step of a plan in words.

pub mod action;
pub mod listing;
pub mod policy;
pub mod step;
pub mod survey;
