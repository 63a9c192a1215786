//! `--show-policy` output: device facts as comments, then the effective settings as TOML.

use std::fmt::{self, Write as _};

use kpartx_table::TableKind;

use super::{DeviceFacts, DeviceKind, EffectivePolicy};

fn quote(s: &str) -> String {
    // A JSON string is a valid TOML basic string.
    serde_json::to_string(s).unwrap_or_default()
}

impl fmt::Display for DeviceFacts {
    /// The facts as `#` comment lines, absent ones left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "# device: {}", self.kernel_name)?;
        let backing = self.backing_file.as_ref().map(|p| p.to_string_lossy());
        let facts = [
            ("dm_name", self.dm_name.as_deref()),
            ("dm_uuid", self.dm_uuid.as_deref()),
            ("wwid", self.effective_wwid()),
            ("serial", self.serial.as_deref()),
            ("backing_file", backing.as_deref()),
        ];
        for (key, value) in facts {
            if let Some(value) = value {
                writeln!(f, "# {key}: {}", quote(value))?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for EffectivePolicy {
    /// The settings as TOML lines, ending with the list of matched rules.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "kind = {}", quote(self.kind.name()))?;
        if self.kind == DeviceKind::PartitionMap {
            writeln!(f, "# partition maps never get partitions of their own")?;
        }
        let partitions = if self.partitions_enabled {
            "enabled"
        } else {
            "disabled"
        };
        writeln!(f, "partitions = {}", quote(partitions))?;
        match &self.delimiter {
            Some(d) => writeln!(f, "delimiter = {}", quote(d))?,
            None => writeln!(
                f,
                "# delimiter not set: \"p\" after a trailing digit, else none"
            )?,
        }
        writeln!(f, "read_only = {}", self.read_only)?;
        let tables = self.tables.as_deref().unwrap_or(&TableKind::ALL);
        let names: Vec<String> = tables.iter().map(|k| quote(k.name())).collect();
        let all = if self.tables.is_none() {
            "  # all types"
        } else {
            ""
        };
        writeln!(f, "tables = [{}]{all}", names.join(", "))?;
        writeln!(f, "force_gpt = {}", self.force_gpt)?;
        writeln!(f, "udev_timeout = {}", self.udev_timeout.as_secs_f64())?;
        writeln!(f, "busy_timeout = {}", self.busy_timeout.as_secs_f64())?;
        writeln!(f, "remove_on_change = {}", self.remove_on_change)?;
        let level = self.log_level.to_string().to_ascii_lowercase();
        writeln!(f, "log_level = {}", quote(&level))?;
        if self.matched_rules.is_empty() {
            return writeln!(f, "matched_rules = []");
        }
        writeln!(f, "matched_rules = [")?;
        for rule in &self.matched_rules {
            writeln!(f, "  {},", quote(rule))?;
        }
        writeln!(f, "]")
    }
}

impl EffectivePolicy {
    /// `--show-policy DEVICE` text: the facts, the name the first partition map would get,
    /// then the settings.
    pub fn render(&self, facts: &DeviceFacts) -> String {
        let mut out = format!("{facts}");
        if self.partitions_enabled {
            let parent = facts.dm_name.as_deref().unwrap_or(&facts.kernel_name);
            let _ = writeln!(
                out,
                "# first partition map: {}",
                self.naming(parent).display_name(1)
            );
        }
        let _ = write!(out, "{self}");
        out
    }
}
