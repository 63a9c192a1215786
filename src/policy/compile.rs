//! Validation of parsed policy files into layers and rules.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use tracing::level_filters::LevelFilter;

use kpartx_table::TableKind;

use super::error::{LineIndex, PolicyError};
use super::glob::Glob;
use super::matching::{Criteria, DeviceKind, Rule, Settings};
use super::model::{FileModel, LogLevelModel, MatchModel, PartitionsModel, SettingsModel, StrList};
use super::{MAX_BUSY_TIMEOUT_SECS, MAX_UDEV_TIMEOUT_SECS};

struct Ctx<'a> {
    path: &'a Path,
    lines: &'a LineIndex<'a>,
    errors: &'a mut Vec<PolicyError>,
}

impl Ctx<'_> {
    fn error(&mut self, offset: usize, message: impl Into<String>) {
        self.errors
            .push(PolicyError::at(self.path, self.lines, offset, message));
    }
}

/// The file's `[defaults]` layer and rules; problems go to `errors`. `lines` indexes the
/// file's text, so that every position costs a lookup, not a scan.
pub(crate) fn compile(
    model: FileModel,
    path: &Path,
    lines: &LineIndex<'_>,
    errors: &mut Vec<PolicyError>,
) -> (Option<Settings>, Vec<Rule>) {
    let mut ctx = Ctx {
        path,
        lines,
        errors,
    };
    let defaults = model.defaults.map(|d| {
        if let Some(name) = &d.name {
            ctx.error(
                name.span().start,
                "`name` is only allowed in [[device]] rules",
            );
        }
        if let Some(criteria) = &d.criteria {
            ctx.error(
                criteria.span().start,
                "`match` is only allowed in [[device]] rules",
            );
        }
        settings(&mut ctx, &d)
    });
    let rules = model
        .device
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let start = rule.span().start;
            let (line, _) = lines.locate(start);
            let criteria = match &rule.get_ref().criteria {
                Some(m) => criteria(&mut ctx, m),
                None => {
                    ctx.error(start, "a [[device]] rule needs a `match` table");
                    Criteria::default()
                }
            };
            let label = match &rule.get_ref().name {
                Some(name) => format!("rule {}: {}", i + 1, name.get_ref()),
                None => format!("rule {}", i + 1),
            };
            Rule {
                origin: format!("{}:{line} ({label})", path.display()),
                criteria,
                settings: settings(&mut ctx, rule.get_ref()),
            }
        })
        .collect();
    (defaults, rules)
}

fn settings(ctx: &mut Ctx<'_>, m: &SettingsModel) -> Settings {
    Settings {
        partitions: m.partitions.map(|p| matches!(p, PartitionsModel::Enabled)),
        delimiter: m.delimiter.as_ref().map(|d| delimiter(ctx, d)),
        read_only: m.read_only,
        tables: m.tables.as_ref().map(|t| tables(ctx, t)),
        force_gpt: m.force_gpt,
        udev_timeout: m.udev_timeout.as_ref().map(|t| timeout(ctx, t)),
        busy_timeout: m.busy_timeout.as_ref().map(|t| busy_timeout(ctx, t)),
        remove_on_change: m.remove_on_change,
        log_level: m.log_level.map(|l| match l {
            LogLevelModel::Error => LevelFilter::ERROR,
            LogLevelModel::Warn => LevelFilter::WARN,
            LogLevelModel::Info => LevelFilter::INFO,
            LogLevelModel::Debug => LevelFilter::DEBUG,
        }),
    }
}

fn delimiter(ctx: &mut Ctx<'_>, d: &Spanned<String>) -> String {
    if d.get_ref()
        .chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        ctx.error(
            d.span().start,
            "delimiter must not contain `/`, whitespace or control characters",
        );
    }
    d.get_ref().clone()
}

fn tables(ctx: &mut Ctx<'_>, t: &Spanned<Vec<String>>) -> Vec<TableKind> {
    let names = t.get_ref();
    if names.is_empty() {
        ctx.error(
            t.span().start,
            "empty `tables` list; use partitions = \"disabled\" to turn partitions off",
        );
    }
    for name in names.iter().filter(|n| TableKind::from_name(n).is_none()) {
        let known: Vec<&str> = TableKind::ALL.iter().map(|k| k.name()).collect();
        let msg = format!("unknown table type {name:?} (known: {})", known.join(", "));
        ctx.error(t.span().start, msg);
    }
    TableKind::ALL
        .into_iter()
        .filter(|k| names.iter().any(|n| n == k.name()))
        .collect()
}

fn timeout(ctx: &mut Ctx<'_>, t: &Spanned<f64>) -> Duration {
    let secs = *t.get_ref();
    if secs > 0.0 && secs <= MAX_UDEV_TIMEOUT_SECS {
        Duration::from_secs_f64(secs)
    } else {
        let msg = format!(
            "udev_timeout must be more than 0 and at most {MAX_UDEV_TIMEOUT_SECS} seconds, not {secs}"
        );
        ctx.error(t.span().start, msg);
        super::DEFAULT_UDEV_TIMEOUT
    }
}

fn busy_timeout(ctx: &mut Ctx<'_>, t: &Spanned<f64>) -> Duration {
    let secs = *t.get_ref();
    if (0.0..=MAX_BUSY_TIMEOUT_SECS).contains(&secs) {
        Duration::from_secs_f64(secs)
    } else {
        let msg =
            format!("busy_timeout must be from 0 to {MAX_BUSY_TIMEOUT_SECS} seconds, not {secs}");
        ctx.error(t.span().start, msg);
        crate::dm::DEFAULT_BUSY_TIMEOUT
    }
}

fn criteria(ctx: &mut Ctx<'_>, m: &Spanned<MatchModel>) -> Criteria {
    let m = m.get_ref();
    let mut globs = |list: &Option<Spanned<StrList>>, key: &str| {
        list.as_ref().map(|l| {
            let start = l.span().start;
            if l.get_ref().0.is_empty() {
                ctx.error(start, format!("empty `{key}` list matches nothing"));
            }
            let parsed = l.get_ref().0.iter().map(|p| Glob::new(p));
            parsed
                .filter_map(|g| g.map_err(|e| ctx.error(start, e.to_string())).ok())
                .collect()
        })
    };
    let mut c = Criteria {
        kernel: globs(&m.kernel, "kernel"),
        dm_name: globs(&m.dm_name, "dm_name"),
        dm_uuid: globs(&m.dm_uuid, "dm_uuid"),
        wwid: globs(&m.wwid, "wwid"),
        serial: globs(&m.serial, "serial"),
        backing_file: globs(&m.backing_file, "backing_file"),
        kind: None,
    };
    c.kind = m.kind.as_ref().map(|k| kinds(ctx, k));
    c
}

fn kinds(ctx: &mut Ctx<'_>, k: &Spanned<StrList>) -> Vec<DeviceKind> {
    let start = k.span().start;
    if k.get_ref().0.is_empty() {
        ctx.error(start, "empty `kind` list matches nothing");
    }
    let mut kinds = Vec::new();
    for name in &k.get_ref().0 {
        match DeviceKind::MATCHABLE.into_iter().find(|d| d.name() == name) {
            Some(kind) => kinds.push(kind),
            None if name == DeviceKind::PartitionMap.name() => ctx.error(
                start,
                "partition maps never get partitions of their own and cannot be matched",
            ),
            None => ctx.error(
                start,
                format!("unknown kind {name:?} (known: multipath, dm, loop, disk)"),
            ),
        }
    }
    kinds
}
