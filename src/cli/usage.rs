//! Usage, help and version texts (our own wording), the option sections rendered from
//! [`super::spec::OPTIONS`].

use super::spec::{OPTIONS, OptSpec, Section};

/// Column where the option descriptions start.
const DESCRIPTION_COLUMN: usize = 25;
/// Width the descriptions are wrapped to.
const WIDTH: usize = 79;

/// Version line for `--version` and the top of the usage text.
pub fn version() -> String {
    format!(
        "kpartx {} (Rust implementation, compatible with multipath-tools kpartx 0.14)",
        env!("CARGO_PKG_VERSION")
    )
}

/// The usage text, printed on stdout for `--help` and after argument errors.
pub fn usage() -> String {
    let mut text = format!(
        "{}
Usage: kpartx {} DEVICE
       kpartx --udev [-v]            (from a udev rule; reads the event's environment)
       kpartx --check-config [FILE...]
       kpartx --show-policy DEVICE
       kpartx --map-images|--unmap-images [-v] [FILE...]

Maps each partition of DEVICE (a disk, a device-mapper device or an image file)
to a device-mapper linear device under /dev/mapper.
",
        version(),
        synopsis()
    );
    for section in Section::ALL {
        text.push('\n');
        text.push_str(section.help_heading());
        text.push('\n');
        for opt in OPTIONS.iter().filter(|o| o.section == section) {
            push_entry(&mut text, opt);
        }
    }
    text
}

/// The short options of the actions and their options, as in
/// `[-a|-u|-d|-l] [-r] [-p DELIM] … [-s|-n] [-v] [-t TYPE]`: options that override each other
/// and follow each other in the table share one bracket.
fn synopsis() -> String {
    let mut groups: Vec<Vec<&OptSpec>> = Vec::new();
    let shorts = OPTIONS
        .iter()
        .filter(|o| !o.section.is_mode() && o.short.is_some());
    for opt in shorts {
        match groups.last_mut() {
            Some(group) if group.iter().any(|g| g.excludes.contains(&opt.long)) => {
                group.push(opt);
            }
            _ => groups.push(vec![opt]),
        }
    }
    let group_text = |group: &Vec<&OptSpec>| {
        let alternatives: Vec<String> = group
            .iter()
            .filter_map(|o| {
                let short = o.short?;
                Some(match o.value {
                    Some(value) => format!("-{short} {value}"),
                    None => format!("-{short}"),
                })
            })
            .collect();
        format!("[{}]", alternatives.join("|"))
    };
    groups.iter().map(group_text).collect::<Vec<_>>().join(" ")
}

/// The left column of an option: `-p, --delimiter DELIM`, `    --check-config [FILE...]`.
pub fn label(opt: &OptSpec) -> String {
    let mut label = match opt.short {
        Some(c) => format!("-{c}, --{}", opt.long),
        None => format!("    --{}", opt.long),
    };
    for arg in opt.value.into_iter().chain(Some(opt.operands)) {
        if !arg.is_empty() {
            label.push(' ');
            label.push_str(arg);
        }
    }
    label
}

/// Appends one option's lines: the label, then the description (and the aliases) wrapped at
/// [`WIDTH`] in a column of their own, starting on the next line when the label is too wide.
fn push_entry(text: &mut String, opt: &OptSpec) {
    let label = label(opt);
    let mut line = format!("  {label}");
    if line.len() + 2 > DESCRIPTION_COLUMN {
        text.push_str(&line);
        text.push('\n');
        line.clear();
    }
    let aliases = opt.aliases.iter().map(|a| format!("--{a}"));
    let aliases = aliases.collect::<Vec<_>>().join(", ");
    let also = (!aliases.is_empty()).then(|| format!("(also {aliases})"));
    let mut fresh = true;
    for word in opt.help.split_whitespace().chain(also.as_deref()) {
        if !fresh && line.len() + 1 + word.len() > WIDTH {
            text.push_str(&line);
            text.push('\n');
            line.clear();
            fresh = true;
        }
        if fresh {
            line.push_str(&" ".repeat(DESCRIPTION_COLUMN - line.len()));
            fresh = false;
        } else {
            line.push(' ');
        }
        line.push_str(word);
    }
    text.push_str(&line);
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_option_form_and_description() {
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let usage = words(&usage());
        for opt in OPTIONS {
            assert!(usage.contains(&words(&label(opt))), "{} missing", opt.long);
            assert!(usage.contains(&words(opt.help)), "{} undescribed", opt.long);
            for form in opt.forms() {
                assert!(usage.contains(&form), "{form} missing");
            }
        }
    }

    #[test]
    fn help_lines_fit_and_synopsis_matches_getopt_string() {
        let usage = usage();
        let entries = usage.lines().filter(|l| l.starts_with("  "));
        let entries = entries.filter(|l| !l.trim_start().starts_with("kpartx"));
        assert!(entries.clone().count() > OPTIONS.len());
        assert!(entries.clone().all(|l| l.len() <= WIDTH), "{usage}");
        assert_eq!(
            synopsis(),
            "[-a|-u|-d|-l] [-r] [-p DELIM] [-f] [-g] [-s|-n] [-v] [-t TYPE]"
        );
    }
}
