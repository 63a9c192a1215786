//! `--show-policy` output: device facts as comments, then the effective settings as TOML.

use std::fmt::{self, Write as _};

use crate::policy::{DeviceFacts, DeviceKind, EffectivePolicy};
use kpartx_table::TableKind;

fn quote(s: &str) -> String {
    // A JSON string is a valid TOML basic string.
    serde_json::to_string(s).unwrap_or_default()
}

/// The facts as `#` comment lines, absent ones left out.
struct FactLines<'a>(&'a DeviceFacts);

impl fmt::Display for FactLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let facts = self.0;
        writeln!(f, "# device: {}", facts.kernel_name)?;
        let backing = facts.backing_file.as_ref().map(|p| p.to_string_lossy());
        let lines = [
            ("dm_name", facts.dm_name.as_deref()),
            ("dm_uuid", facts.dm_uuid.as_deref()),
            ("wwid", facts.effective_wwid()),
            ("serial", facts.serial.as_deref()),
            ("backing_file", backing.as_deref()),
        ];
        for (key, value) in lines {
            if let Some(value) = value {
                writeln!(f, "# {key}: {}", quote(value))?;
            }
        }
        Ok(())
    }
}

/// The settings as TOML lines, ending with the list of matched rules.
struct SettingLines<'a>(&'a EffectivePolicy);

impl fmt::Display for SettingLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = self.0;
        writeln!(f, "kind = {}", quote(policy.kind.name()))?;
        if policy.kind == DeviceKind::PartitionMap {
            writeln!(f, "# partition maps never get partitions of their own")?;
        }
        let partitions = if policy.partitions_enabled {
            "enabled"
        } else {
            "disabled"
        };
        writeln!(f, "partitions = {}", quote(partitions))?;
        match &policy.delimiter {
            Some(d) => writeln!(f, "delimiter = {}", quote(d))?,
            None => writeln!(
                f,
                "# delimiter not set: \"p\" after a trailing digit, else none"
            )?,
        }
        writeln!(f, "read_only = {}", policy.read_only)?;
        let tables = policy.tables.as_deref().unwrap_or(&TableKind::ALL);
        let names: Vec<String> = tables.iter().map(|k| quote(k.name())).collect();
        let all = if policy.tables.is_none() {
            "  # all types"
        } else {
            ""
        };
        writeln!(f, "tables = [{}]{all}", names.join(", "))?;
        writeln!(f, "force_gpt = {}", policy.force_gpt)?;
        writeln!(f, "udev_timeout = {}", policy.udev_timeout.as_secs_f64())?;
        writeln!(f, "busy_timeout = {}", policy.busy_timeout.as_secs_f64())?;
        writeln!(f, "remove_on_change = {}", policy.remove_on_change)?;
        let level = policy.log_level.to_string().to_ascii_lowercase();
        writeln!(f, "log_level = {}", quote(&level))?;
        if policy.matched_rules.is_empty() {
            return writeln!(f, "matched_rules = []");
        }
        writeln!(f, "matched_rules = [")?;
        for rule in &policy.matched_rules {
            writeln!(f, "  {},", quote(rule))?;
        }
        writeln!(f, "]")
    }
}

/// `--show-policy DEVICE` text: the facts, the name the first partition map would get,
/// then the settings.
pub fn show(policy: &EffectivePolicy, facts: &DeviceFacts) -> String {
    let mut out = FactLines(facts).to_string();
    if policy.partitions_enabled {
        let parent = facts.dm_name.as_deref().unwrap_or(&facts.kernel_name);
        let _ = writeln!(
            out,
            "# first partition map: {}",
            policy.naming(parent).display_name(1)
        );
    }
    let _ = write!(out, "{}", SettingLines(policy));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::policy::tests::{MPATH_WWID, disk, mpath, partition_map};

    #[test]
    fn show_policy_rendering() {
        let facts = mpath();
        let text = show(&Policy::builtin().evaluate(&facts), &facts);
        let expected = format!(
            "# device: dm-3\n# dm_name: \"mpatha\"\n# dm_uuid: \"mpath-{MPATH_WWID}\"\n\
             # wwid: \"{MPATH_WWID}\"\n# first partition map: mpatha-part1\n\
             kind = \"multipath\"\npartitions = \"enabled\"\ndelimiter = \"-part\"\n\
             read_only = false\n\
             tables = [\"gpt\", \"dos\", \"bsd\", \"solaris\", \"unixware\", \"dasd\", \"mac\", \"sun\", \"ps3\"]  # all types\n\
             force_gpt = false\nudev_timeout = 30\nbusy_timeout = 5\nremove_on_change = true\nlog_level = \"info\"\n\
             matched_rules = [\n  \"built-in (rule 1: multipath maps)\",\n]\n"
        );
        assert_eq!(text, expected);
        // The settings part is valid TOML.
        let settings = SettingLines(&Policy::builtin().evaluate(&disk())).to_string();
        let body: toml::Table = toml::from_str(&settings).unwrap();
        assert_eq!(body["partitions"].as_str(), Some("disabled"));
        let pm = SettingLines(&Policy::builtin().evaluate(&partition_map())).to_string();
        assert!(pm.contains("kind = \"partition-map\"\n# partition maps never"));
        assert!(pm.ends_with("matched_rules = []\n"));
    }
}
