//! Renders the man page's option sections and the bash/zsh completions' option lists from
//! [`OPTIONS`], and checks that the committed files carry exactly that text between their
//! `BEGIN GENERATED OPTIONS` and `END GENERATED OPTIONS` marker lines. With
//! `KPARTX_REGENERATE=1` in the environment the tests rewrite the files instead.

use std::path::PathBuf;

use super::{OPTIONS, OptSpec, Section, TABLE_TYPES};
use kpartx_table::TableKind;

const MAN_PAGE: &str = "packaging/man/kpartx.8";
const BASH: &str = "packaging/completions/kpartx.bash";
const ZSH: &str = "packaging/completions/_kpartx";

fn in_section(section: Section) -> impl Iterator<Item = &'static OptSpec> {
    OPTIONS.iter().filter(move |o| o.section == section)
}

// ---- man page -------------------------------------------------------------------------------

/// The roff lines that open a section of options in the man page.
fn man_heading(section: Section) -> &'static str {
    match section {
        Section::Action => {
            ".SH ACTIONS\n\
             Exactly one action applies; when several are given, the last one counts.\n"
        }
        Section::Option => {
            ".SH OPTIONS\n\
             Short options may be bundled\n\
             .RB ( \"\\-avp \\-part\" ),\n\
             option arguments may start with a dash, options may follow the device, and\n\
             .B \\-\\-\n\
             ends the options.\n"
        }
        Section::Udev => {
            ".SS \"For udev rules\"\n\
             Each of these options selects a mode of its own, in which the actions do not\n\
             apply; the device and the event are taken from the environment udev provides.\n"
        }
        Section::Policy => {
            ".SS \"Policy\"\n\
             These options look at the helper-mode policy (see\n\
             .BR POLICY )\n\
             and change nothing.\n"
        }
        Section::Images => {
            ".SS \"Image list\"\n\
             These options map or unmap every image of the image list (see\n\
             .BR \"IMAGE LIST\" ).\n"
        }
        Section::Info => ".SS \"Information\"\n",
    }
}

/// `FILE...` as roff: `\fIfile\fP.\|.\|.`.
fn man_operands(text: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |out: &mut String, word: &mut String| {
        if !word.is_empty() {
            out.push_str(&format!("\\fI{word}\\fP"));
            word.clear();
        }
    };
    for c in text.replace("...", "\u{2026}").chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
            continue;
        }
        flush(&mut out, &mut word);
        match c {
            '\u{2026}' => out.push_str(r".\|.\|."),
            '-' => out.push_str(r"\-"),
            c => out.push(c),
        }
    }
    flush(&mut out, &mut word);
    out
}

/// The `.TP` tag of an option: `\fB\-p\fP, \fB\-\-delimiter\fP \fIdelim\fP, …`.
fn man_tag(opt: &OptSpec) -> String {
    let mut forms: Vec<String> = opt
        .short
        .map(|c| format!(r"\fB\-{c}\fP"))
        .into_iter()
        .collect();
    for long in opt.longs() {
        let mut form = format!(r"\fB\-\-{}\fP", long.replace('-', r"\-"));
        if let Some(value) = opt.value {
            form.push(' ');
            form.push_str(&man_operands(value));
        }
        forms.push(form);
    }
    let mut tag = forms.join(", ");
    if !opt.operands.is_empty() {
        tag.push(' ');
        tag.push_str(&man_operands(opt.operands));
    }
    tag
}

fn man() -> String {
    let mut out = String::new();
    for section in Section::ALL {
        out.push_str(man_heading(section));
        for opt in in_section(section) {
            out.push_str(&format!(".TP\n{}\n{}\n", man_tag(opt), opt.man));
        }
    }
    out
}

// ---- bash -----------------------------------------------------------------------------------

/// `words` joined by spaces after `start` columns of other text, broken before `width`
/// columns, later lines indented by `indent`.
fn wrap(words: &[String], start: usize, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line_len = start;
    for (i, word) in words.iter().enumerate() {
        if i > 0 && line_len + 1 + word.len() > width {
            out.push('\n');
            out.push_str(indent);
            line_len = indent.len();
        } else if i > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += word.len();
    }
    out
}

fn bash() -> String {
    let forms: Vec<String> = OPTIONS.iter().flat_map(OptSpec::forms).collect();
    let mut out = String::from("# Every option, in --help order.\n");
    let start = "_kpartx_options='";
    out.push_str(start);
    out.push_str(&wrap(&forms, start.len(), 92, "    "));
    out.push_str(
        "'\n\n\
         # Prints the suggested arguments of option $1 one per line; fails when $1 takes none.\n\
         _kpartx_values()\n{\n    case $1 in\n",
    );
    for opt in OPTIONS.iter().filter(|o| o.value.is_some()) {
        out.push_str(&format!(
            "        {}) printf '%s\\n' {} ;;\n",
            opt.forms().join("|"),
            opt.suggestions.join(" ")
        ));
    }
    out.push_str("        *) return 1 ;;\n    esac\n}\n");
    out
}

// ---- zsh ------------------------------------------------------------------------------------

/// `text` in single quotes for zsh, with `[` and `]` escaped for an `_arguments` description.
fn zsh_description(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('[', r"\[")
        .replace(']', r"\]")
        .replace('\'', r"'\''")
}

/// The `_arguments` spec of an option, e.g.
/// `'(-s --sync -n --nosync)'{-s,--sync}'[wait …]'`.
fn zsh_spec(opt: &OptSpec) -> String {
    let exclusion = if opt.repeatable {
        "*".to_owned()
    } else if opt.section.is_mode() {
        if opt.operands.is_empty() {
            "(- *)"
        } else {
            "(-)"
        }
        .to_owned()
    } else {
        let mut names: Vec<String> = Vec::new();
        if !opt.excludes.contains(&opt.long) {
            names.extend(opt.forms());
        }
        for long in opt.excludes {
            if let Some(other) = super::by_long(long) {
                names.extend(other.forms());
            }
        }
        format!("({})", names.join(" "))
    };
    let forms: Vec<String> = opt
        .short
        .map(|c| format!("-{c}{}", if opt.value.is_some() { "+" } else { "" }))
        .into_iter()
        .chain(
            opt.longs()
                .map(|l| format!("--{l}{}", if opt.value.is_some() { "=" } else { "" })),
        )
        .collect();
    let mut rest = format!("[{}]", zsh_description(opt.help));
    if let Some(value) = opt.value {
        rest.push_str(&format!(
            ":{}:({})",
            value.to_ascii_lowercase(),
            opt.suggestions.join(" ")
        ));
    }
    match forms.as_slice() {
        [form] => format!("'{exclusion}{form}{rest}'"),
        _ => format!("'{exclusion}'{{{}}}'{rest}'", forms.join(",")),
    }
}

fn zsh() -> String {
    let mut out = String::from("  local -A descr\n  descr=(\n");
    for opt in OPTIONS {
        out.push_str(&format!(
            "    --{} '{}'\n",
            opt.long,
            zsh_description(opt.help)
        ));
    }
    out.push_str("  )\n  local -a specs\n  specs=(\n");
    for opt in OPTIONS {
        out.push_str(&format!("    {}\n", zsh_spec(opt)));
    }
    out.push_str("  )\n");
    out
}

// ---- comparison with the committed files ----------------------------------------------------

/// Replaces the lines between the `BEGIN GENERATED OPTIONS` and `END GENERATED OPTIONS`
/// marker lines of `text` (each a comment starting with `comment`) by `generated`.
fn splice(text: &str, comment: &str, generated: &str) -> Result<String, String> {
    let begin = format!("{comment} BEGIN GENERATED OPTIONS");
    let end = format!("{comment} END GENERATED OPTIONS");
    let mut lines = text.split_inclusive('\n');
    let mut out = String::new();
    for line in lines.by_ref() {
        out.push_str(line);
        if line.starts_with(&begin) {
            out.push_str(generated);
            for line in lines.by_ref() {
                if line.starts_with(&end) {
                    out.push_str(line);
                    out.extend(lines);
                    return Ok(out);
                }
            }
            return Err(format!("no line starting with {end:?}"));
        }
    }
    Err(format!("no line starting with {begin:?}"))
}

/// Fails, naming the first differing line, when the committed `file` differs from what the
/// table generates; rewrites it when `KPARTX_REGENERATE` is set.
fn check(file: &str, comment: &str, generated: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
    let committed = std::fs::read_to_string(&path).expect("read the committed file");
    let expected = splice(&committed, comment, generated).expect("marker lines");
    if std::env::var_os("KPARTX_REGENERATE").is_some() {
        if expected != committed {
            std::fs::write(&path, &expected).expect("rewrite the file");
        }
        return;
    }
    if let Some((n, (want, have))) = expected
        .lines()
        .zip(committed.lines())
        .enumerate()
        .find(|(_, (want, have))| want != have)
    {
        panic!(
            "{file}:{}: differs from src/cli/spec.rs\n  generated: {want}\n  committed: {have}\n\
             regenerate with: KPARTX_REGENERATE=1 cargo test --lib spec",
            n + 1
        );
    }
    assert_eq!(
        expected.lines().count(),
        committed.lines().count(),
        "{file}: length differs; regenerate with: KPARTX_REGENERATE=1 cargo test --lib spec"
    );
}

#[test]
fn spec_man_page_options() {
    check(MAN_PAGE, r#".\""#, &man());
}

#[test]
fn spec_bash_completion() {
    check(BASH, "#", &bash());
}

#[test]
fn spec_zsh_completion() {
    check(ZSH, "  #", &zsh());
}

/// The words of `text` that look like options.
fn option_words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with('-'))
        .collect()
}

#[test]
fn spec_mentions_every_form_in_every_output() {
    let (man, bash, zsh) = (man(), bash(), zsh());
    let (bash, zsh) = (option_words(&bash), option_words(&zsh));
    for opt in OPTIONS {
        for form in opt.forms() {
            let roff = format!(r"\fB{}\fP", form.replace('-', r"\-"));
            assert!(man.contains(&roff), "{form} not in the man page");
            assert!(bash.contains(&form.as_str()), "{form} not in bash");
            assert!(zsh.contains(&form.as_str()), "{form} not in zsh");
        }
    }
}

#[test]
fn spec_is_consistent() {
    let mut forms: Vec<String> = OPTIONS.iter().flat_map(OptSpec::forms).collect();
    let count = forms.len();
    forms.sort();
    forms.dedup();
    assert_eq!(forms.len(), count, "an option form is listed twice");
    for (i, opt) in OPTIONS.iter().enumerate() {
        assert!(
            OPTIONS[..i].iter().all(|o| o.id != opt.id),
            "{:?} twice",
            opt.id
        );
        assert!(!opt.help.is_empty() && !opt.man.is_empty(), "{}", opt.long);
        assert!(!opt.help.ends_with('.'), "{}: help is a phrase", opt.long);
        assert!(
            opt.value.is_some() || opt.suggestions.is_empty(),
            "{}: suggestions without a value",
            opt.long
        );
        for long in opt.excludes {
            assert!(
                super::by_long(long).is_some(),
                "{}: excludes {long}",
                opt.long
            );
        }
    }
    let kinds: Vec<&str> = TableKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(TABLE_TYPES, kinds.as_slice());
    let type_help = super::by_long("type").map(|o| o.help).unwrap_or_default();
    assert!(TABLE_TYPES.iter().all(|t| type_help.contains(t)));
}
