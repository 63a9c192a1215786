//! Command-line parsing, faithful to the reference's `getopt("rladfgvp:t:snu")`: bundled short
//! options (`-avp -part`), option values that start with a dash, options after the device, the
//! last action flag wins. Long forms are extensions. Options are recognised through the table
//! in [`super::spec`], which `--help`, the man page and the completions come from too.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use super::spec::{self, OptId};
use kpartx_table::sector_size::SectorSize;
use kpartx_table::{TableKind, TypeFilter};

/// What to do with the device's partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// `-l` (the default): print the maps `-a` would create.
    #[default]
    List,
    /// `-a`: create or reload the maps.
    Add,
    /// `-d`: remove the maps.
    Delete,
    /// `-u`: like `-a`, then remove maps of partitions that are gone.
    Update,
    /// `--status`: list the partition maps this tool owns and their state.
    Status,
    /// `--prune`: remove unused stale and orphaned maps and empty loops this tool attached.
    Prune,
}

/// Everything the options say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The action (last one given wins).
    pub action: Action,
    /// `-r`: create read-only maps.
    pub read_only: bool,
    /// `-p`: explicit delimiter (may be empty). Bytes: one that is not UTF-8 is refused only
    /// when a device-mapper name is built from it.
    pub delimiter: Option<OsString>,
    /// `-f`: with `-d`, skip the UUID ownership check for parents without a DM UUID.
    pub force: bool,
    /// `-g`: accept a GPT whose protective MBR is invalid.
    pub force_gpt: bool,
    /// `-s` (default) / `-n`: wait for udev to finish with the new maps.
    pub sync: bool,
    /// `-v`: print what is done (may be repeated).
    pub verbose: u8,
    /// `-t`: which table readers to try.
    pub filter: TypeFilter,
    /// `--json`: machine-readable output.
    pub json: bool,
    /// `--dry-run`: print the plan, change nothing.
    pub dry_run: bool,
    /// `--udev-timeout`: longest wait for udev without progress.
    pub udev_timeout: Option<Duration>,
    /// `--busy-timeout`: longest wait for open partition maps to be closed.
    pub busy_timeout: Option<Duration>,
    /// `--sector-size`: the logical sector size of an image file.
    pub sector_size: SectorSize,
    /// `--name`: the name maps are derived from instead of the device's.
    pub name: Option<OsString>,
    /// `--read-anyway`: read a suspended map or one without a usable path.
    pub read_anyway: bool,
    /// Positional arguments, in order (paths: bytes, not necessarily UTF-8).
    pub positionals: Vec<OsString>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            action: Action::default(),
            read_only: false,
            delimiter: None,
            force: false,
            force_gpt: false,
            sync: true,
            verbose: 0,
            filter: TypeFilter::All,
            json: false,
            dry_run: false,
            udev_timeout: None,
            busy_timeout: None,
            sector_size: SectorSize::Auto,
            name: None,
            read_anyway: false,
            positionals: Vec::new(),
        }
    }
}

impl Options {
    /// The device argument: the first of one or two positionals (the second is the legacy
    /// partx "wholedisk" form and is ignored), `None` for any other count.
    pub fn device(&self) -> Option<&Path> {
        self.device_arg().ok()
    }

    /// Like [`Options::device`], saying what is wrong when there is no usable device argument.
    pub fn device_arg(&self) -> Result<&Path, String> {
        match self.positionals.as_slice() {
            [dev] | [dev, _] => Ok(Path::new(dev)),
            [] => Err("no device given".to_string()),
            [_, _, extra @ ..] => Err(format!(
                "too many arguments: {}",
                extra
                    .iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A kpartx action on a device.
    Run(Options),
    /// `--help`.
    Help,
    /// `--version`.
    Version,
    /// `--udev`: act on the udev event in the environment.
    Udev(Options),
    /// `--udev-id`: print by-id link properties of the partition map in the environment.
    UdevId,
    /// `--udev-del-part-nodes`: remove the kernel partition devices of the multipath path
    /// disk in the environment.
    UdevDelPartNodes(Options),
    /// `--check-config [FILE…]`: validate policy files.
    CheckConfig(Vec<OsString>),
    /// `--show-policy DEVICE`: print the effective policy for a device.
    ShowPolicy(Options),
    /// `--map-images [FILE…]`: map every image of the image list.
    MapImages(Options),
    /// `--unmap-images [FILE…]`: unmap every image of the image list.
    UnmapImages(Options),
}

/// A command line the parser rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// No arguments at all.
    NoArguments,
    /// getopt-style complaint for stderr, e.g. `invalid option -- 'x'`.
    Invalid(String),
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgError::NoArguments => f.write_str("no arguments"),
            ArgError::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for ArgError {}

/// Parses the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<Command, ArgError> {
    if args.is_empty() {
        return Err(ArgError::NoArguments);
    }
    let mut opts = Options::default();
    let mut mode = Mode::Run;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(invalid)? {
        use lexopt::Arg::{Long, Short, Value};
        let spec = match arg {
            Value(v) => {
                opts.positionals.push(v);
                continue;
            }
            Short(c) => spec::by_short(c)
                .ok_or_else(|| ArgError::Invalid(format!("invalid option -- '{c}'")))?,
            Long(name) => spec::by_long(name)
                .ok_or_else(|| ArgError::Invalid(format!("unrecognized option '--{name}'")))?,
        };
        match spec.id {
            OptId::Add => opts.action = Action::Add,
            OptId::Delete => opts.action = Action::Delete,
            OptId::Update => opts.action = Action::Update,
            OptId::List => opts.action = Action::List,
            OptId::ReadOnly => opts.read_only = true,
            OptId::Force => opts.force = true,
            OptId::Gpt => opts.force_gpt = true,
            OptId::Sync => opts.sync = true,
            OptId::NoSync => opts.sync = false,
            OptId::Verbose => opts.verbose = opts.verbose.saturating_add(1),
            OptId::Delimiter => opts.delimiter = Some(parser.value().map_err(invalid)?),
            OptId::Type => {
                opts.filter = TypeFilter::parse(&text(parser.value().map_err(invalid)?)?);
            }
            OptId::Dos => opts.filter = TypeFilter::Only(TableKind::Dos),
            OptId::Json => opts.json = true,
            OptId::DryRun => opts.dry_run = true,
            OptId::Status => opts.action = Action::Status,
            OptId::Prune => opts.action = Action::Prune,
            OptId::UdevTimeout => {
                let value = text(parser.value().map_err(invalid)?)?;
                opts.udev_timeout = Some(parse_seconds(&value)?);
            }
            OptId::BusyTimeout => {
                let value = text(parser.value().map_err(invalid)?)?;
                opts.busy_timeout = Some(parse_seconds(&value)?);
            }
            OptId::SectorSize => {
                let value = text(parser.value().map_err(invalid)?)?;
                opts.sector_size = SectorSize::parse(&value).ok_or_else(|| {
                    ArgError::Invalid(format!("invalid sector size '{value}' (512, 4096 or auto)"))
                })?;
            }
            OptId::ReadAnyway => opts.read_anyway = true,
            OptId::Name => {
                let value = parser.value().map_err(invalid)?;
                if value.is_empty() || value.as_encoded_bytes().contains(&b'/') {
                    return Err(ArgError::Invalid(format!(
                        "invalid name {value:?} (not empty, no '/')"
                    )));
                }
                opts.name = Some(value);
            }
            OptId::MapImages => mode = Mode::MapImages,
            OptId::UnmapImages => mode = Mode::UnmapImages,
            OptId::Udev => mode = Mode::Udev,
            OptId::UdevId => mode = Mode::UdevId,
            OptId::UdevDelPartNodes => mode = Mode::UdevDelPartNodes,
            OptId::CheckConfig => mode = Mode::CheckConfig,
            OptId::ShowPolicy => mode = Mode::ShowPolicy,
            OptId::Help => return Ok(Command::Help),
            OptId::Version => return Ok(Command::Version),
        }
    }
    Ok(match mode {
        Mode::Run => Command::Run(opts),
        Mode::Udev => Command::Udev(opts),
        Mode::UdevId => Command::UdevId,
        Mode::UdevDelPartNodes => Command::UdevDelPartNodes(opts),
        Mode::CheckConfig => Command::CheckConfig(opts.positionals),
        Mode::ShowPolicy => Command::ShowPolicy(opts),
        Mode::MapImages => Command::MapImages(opts),
        Mode::UnmapImages => Command::UnmapImages(opts),
    })
}

enum Mode {
    Run,
    Udev,
    UdevId,
    UdevDelPartNodes,
    CheckConfig,
    ShowPolicy,
    MapImages,
    UnmapImages,
}

fn text(value: OsString) -> Result<String, ArgError> {
    value
        .into_string()
        .map_err(|v| ArgError::Invalid(format!("argument {v:?} is not valid UTF-8")))
}

fn parse_seconds(value: &str) -> Result<Duration, ArgError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| ArgError::Invalid(format!("invalid timeout '{value}' (seconds, 0-86400)")))
}

fn invalid(err: lexopt::Error) -> ArgError {
    ArgError::Invalid(match err {
        lexopt::Error::MissingValue {
            option: Some(option),
        } if option.len() == 2 => {
            format!("option requires an argument -- '{}'", &option[1..])
        }
        lexopt::Error::MissingValue {
            option: Some(option),
        } => format!("option '{option}' requires an argument"),
        lexopt::Error::UnexpectedValue { option, .. } => {
            format!("option '{option}' doesn't allow an argument")
        }
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn run(args: &[&str]) -> Options {
        match parse(args.iter().map(OsString::from).collect()).unwrap() {
            Command::Run(o) => o,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse(args.iter().map(OsString::from).collect()) {
            Err(ArgError::Invalid(msg)) => msg,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn udev_rule_form() {
        let o = run(&["-un", "-p", "-part", "/dev/dm-0"]);
        assert_eq!(o.action, Action::Update);
        assert!(!o.sync);
        assert_eq!(o.delimiter.as_deref(), Some(OsStr::new("-part")));
        assert_eq!(o.device(), Some(Path::new("/dev/dm-0")));
    }

    #[test]
    fn bundled_value_in_next_argument() {
        let o = run(&["-avp", "-part", "img"]);
        assert_eq!(o.action, Action::Add);
        assert_eq!(o.verbose, 1);
        assert_eq!(o.delimiter.as_deref(), Some(OsStr::new("-part")));
        assert_eq!(o.positionals, vec!["img"]);
        assert_eq!(
            run(&["-a", "-p-part", "img"]).delimiter.as_deref(),
            Some(OsStr::new("-part"))
        );
        assert_eq!(
            run(&["-p", "", "img"]).delimiter.as_deref(),
            Some(OsStr::new(""))
        );
    }

    #[test]
    fn options_after_device_and_last_action_wins() {
        let o = run(&["img", "-a", "-d", "-l", "-u"]);
        assert_eq!(o.action, Action::Update);
        assert_eq!(o.device(), Some(Path::new("img")));
        assert!(run(&["-n", "-s", "x"]).sync);
        assert_eq!(
            run(&["-p", "a", "-p", "b", "x"]).delimiter.as_deref(),
            Some(OsStr::new("b"))
        );
    }

    #[test]
    fn double_dash_ends_options() {
        let o = run(&["-l", "-r", "--", "-weird"]);
        assert!(o.read_only);
        assert_eq!(o.positionals, vec!["-weird"]);
    }

    #[test]
    fn positional_counts() {
        assert_eq!(run(&["a", "b"]).device(), Some(Path::new("a")));
        assert_eq!(run(&["a", "b", "c"]).device(), None);
        assert_eq!(run(&["-a"]).device(), None);
        assert_eq!(run(&["-a"]).device_arg(), Err("no device given".into()));
        assert_eq!(
            run(&["a", "b", "c", "d"]).device_arg(),
            Err("too many arguments: c d".into())
        );
    }

    #[test]
    fn status_prune_and_dry_run() {
        let o = run(&["--dry-run", "-d", "--json", "img"]);
        assert!(o.dry_run && o.json);
        assert_eq!(o.action, Action::Delete);
        assert_eq!(run(&["--status"]).action, Action::Status);
        assert_eq!(run(&["-a", "--prune", "x", "y", "z"]).action, Action::Prune);
        assert_eq!(run(&["--prune", "-a", "x"]).action, Action::Add);
    }

    #[test]
    fn long_forms() {
        let o = run(&[
            "--add",
            "--read-only",
            "--delimiter=-part",
            "--type",
            "gpt",
            "x",
        ]);
        assert_eq!(o.action, Action::Add);
        assert!(o.read_only);
        assert_eq!(o.filter, TypeFilter::Only(TableKind::Gpt));
        assert_eq!(
            run(&["--dos", "x"]).filter,
            TypeFilter::Only(TableKind::Dos)
        );
        assert_eq!(
            run(&["-t", "nonsense", "x"]).filter,
            TypeFilter::Unknown("nonsense".into())
        );
        assert_eq!(
            run(&["--udev-timeout", "2.5", "x"]).udev_timeout,
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            run(&["--sector-size", "4096", "x"]).sector_size,
            SectorSize::Fixed(4096)
        );
        assert_eq!(
            run(&["--sector-size=auto", "x"]).sector_size,
            SectorSize::Auto
        );
        assert_eq!(
            run(&["--name", "vm1", "-a", "x"]).name.as_deref(),
            Some(std::ffi::OsStr::new("vm1"))
        );
    }

    #[test]
    fn bad_sector_sizes_and_names_are_refused() {
        assert_eq!(
            err(&["--sector-size", "1024", "x"]),
            "invalid sector size '1024' (512, 4096 or auto)"
        );
        assert!(err(&["--name", "a/b", "x"]).starts_with("invalid name"));
        assert!(err(&["--name", "", "x"]).starts_with("invalid name"));
    }

    #[test]
    fn non_utf8_device_and_delimiter_are_bytes() {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let odd = |b: &[u8]| OsString::from_vec(b.to_vec());
        let args = vec![odd(b"-p"), odd(b"\xe9"), odd(b"/tmp/caf\xe9.img")];
        let Ok(Command::Run(o)) = parse(args) else {
            panic!("refused");
        };
        assert_eq!(o.delimiter.as_deref().unwrap().as_bytes(), b"\xe9");
        assert_eq!(
            o.device().unwrap().as_os_str().as_bytes(),
            b"/tmp/caf\xe9.img"
        );
    }

    /// `form`, with an argument when the spec says it takes one, then a device.
    fn with_value(opt: &spec::OptSpec, form: &str) -> Vec<OsString> {
        let value = opt.suggestions.first().copied().unwrap_or("1");
        let args = std::iter::once(form).chain(opt.value.map(|_| value));
        args.chain(Some("img")).map(OsString::from).collect()
    }

    #[test]
    fn every_spec_form_parses_alike() {
        for opt in spec::OPTIONS {
            let forms = opt.forms();
            let first = parse(with_value(opt, &forms[0]));
            assert!(first.is_ok(), "{} refused: {first:?}", forms[0]);
            for form in &forms[1..] {
                assert_eq!(parse(with_value(opt, form)), first, "{form}");
            }
        }
    }

    #[test]
    fn option_arguments_as_the_spec_says() {
        // --help and --version answer at once, before an attached value is looked at.
        let answers_at_once = |o: &&spec::OptSpec| matches!(o.id, OptId::Help | OptId::Version);
        for opt in spec::OPTIONS.iter().filter(|o| !answers_at_once(o)) {
            for long in opt.longs() {
                let message = match opt.value {
                    Some(_) => err(&["img", &format!("--{long}")]),
                    None => err(&[&format!("--{long}=1"), "img"]),
                };
                let expected = match opt.value {
                    Some(_) => format!("option '--{long}' requires an argument"),
                    None => format!("option '--{long}' doesn't allow an argument"),
                };
                assert_eq!(message, expected);
            }
            if let (Some(c), Some(_)) = (opt.short, opt.value) {
                let message = err(&["img", &format!("-{c}")]);
                assert_eq!(message, format!("option requires an argument -- '{c}'"));
            }
        }
    }

    #[test]
    fn only_spec_options_are_accepted() {
        for c in (b'!'..=b'~').map(char::from).filter(|&c| c != '-') {
            let opt = spec::OPTIONS.iter().find(|o| o.short == Some(c));
            match opt {
                Some(opt) => assert!(parse(with_value(opt, &format!("-{c}"))).is_ok()),
                None => assert_eq!(
                    err(&[&format!("-{c}"), "img"]),
                    format!("invalid option -- '{c}'")
                ),
            }
        }
        for name in [
            "adds", "ad", "delim", "part", "udev-", "json1", "Help", "types",
        ] {
            assert_eq!(
                err(&[&format!("--{name}"), "img"]),
                format!("unrecognized option '--{name}'")
            );
        }
    }

    #[test]
    fn getopt_style_errors() {
        assert_eq!(err(&["-x", "img"]), "invalid option -- 'x'");
        assert_eq!(err(&["img", "-p"]), "option requires an argument -- 'p'");
        assert_eq!(err(&["--bogus"]), "unrecognized option '--bogus'");
        assert_eq!(
            err(&["--add=1", "x"]),
            "option '--add' doesn't allow an argument"
        );
        assert_eq!(err(&["--type"]), "option '--type' requires an argument");
        assert_eq!(parse(vec![]), Err(ArgError::NoArguments));
    }
}
