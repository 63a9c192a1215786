//! The policy file format as serde sees it, before validation.
//!
//! Every table denies unknown keys. One struct serves both `[defaults]` and each `[[device]]`
//! rule (serde cannot combine `flatten` with `deny_unknown_fields`); `name` and `match` are
//! rejected in `[defaults]` during validation.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use toml::Spanned;

/// A whole policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileModel {
    /// `[defaults]`.
    pub defaults: Option<SettingsModel>,
    /// `[[device]]` rules, in file order.
    #[serde(default)]
    pub device: Vec<Spanned<SettingsModel>>,
}

/// The settings of `[defaults]` or of one `[[device]]` rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsModel {
    /// Rule label shown in `--show-policy` and logs (rules only).
    pub name: Option<Spanned<String>>,
    /// Match criteria (rules only; required there).
    #[serde(rename = "match")]
    pub criteria: Option<Spanned<MatchModel>>,
    pub partitions: Option<PartitionsModel>,
    pub delimiter: Option<Spanned<String>>,
    pub read_only: Option<bool>,
    pub tables: Option<Spanned<Vec<String>>>,
    pub force_gpt: Option<bool>,
    pub udev_timeout: Option<Spanned<f64>>,
    pub busy_timeout: Option<Spanned<f64>>,
    pub remove_on_change: Option<bool>,
    pub log_level: Option<LogLevelModel>,
}

/// `partitions = "enabled" | "disabled"`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PartitionsModel {
    Enabled,
    Disabled,
}

/// `log_level = "error" | "warn" | "info" | "debug"`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogLevelModel {
    Error,
    Warn,
    Info,
    Debug,
}

/// The `match` table of a rule: every given criterion must hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchModel {
    pub kind: Option<Spanned<StrList>>,
    pub kernel: Option<Spanned<StrList>>,
    pub dm_name: Option<Spanned<StrList>>,
    pub dm_uuid: Option<Spanned<StrList>>,
    pub wwid: Option<Spanned<StrList>>,
    pub serial: Option<Spanned<StrList>>,
    pub backing_file: Option<Spanned<StrList>>,
}

/// A string or an array of strings (any of which may match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StrList(pub Vec<String>);

impl<'de> Deserialize<'de> for StrList {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrList, E> {
                Ok(StrList(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrList, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(StrList(items))
            }
        }
        deserializer.deserialize_any(V)
    }
}
