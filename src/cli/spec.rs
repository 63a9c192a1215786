//! The one table of command-line options. The parser recognises options by looking them up
//! here, `--help` is rendered from it, and the unit tests in `spec/generate.rs` render the
//! option sections of the man page and the bash/zsh completions from it and compare them with
//! the committed files (`KPARTX_REGENERATE=1 cargo test --lib spec` rewrites them).

/// What an option does, for the parser to dispatch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptId {
    /// `-a`, `--add`.
    Add,
    /// `-u`, `--update`.
    Update,
    /// `-d`, `--delete`.
    Delete,
    /// `-l`, `--list`.
    List,
    /// `-r`, `--read-only`.
    ReadOnly,
    /// `-p`, `--delimiter`, `--part-postfix`.
    Delimiter,
    /// `-f`, `--force`.
    Force,
    /// `-g`, `--gpt`.
    Gpt,
    /// `-s`, `--sync`.
    Sync,
    /// `-n`, `--nosync`.
    NoSync,
    /// `-v`, `--verbose`.
    Verbose,
    /// `-t`, `--type`.
    Type,
    /// `--dos`.
    Dos,
    /// `--json`.
    Json,
    /// `--dry-run`.
    DryRun,
    /// `--status`.
    Status,
    /// `--prune`.
    Prune,
    /// `--udev-timeout`.
    UdevTimeout,
    /// `--busy-timeout`.
    BusyTimeout,
    /// `--udev`.
    Udev,
    /// `--udev-id`.
    UdevId,
    /// `--udev-del-part-nodes`.
    UdevDelPartNodes,
    /// `--check-config`.
    CheckConfig,
    /// `--show-policy`.
    ShowPolicy,
    /// `--sector-size`.
    SectorSize,
    /// `--name`.
    Name,
    /// `--read-anyway`.
    ReadAnyway,
    /// `--map-images`.
    MapImages,
    /// `--unmap-images`.
    UnmapImages,
    /// `--help`.
    Help,
    /// `--version`.
    Version,
}

/// Where an option is listed in `--help` and the man page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `-a`, `-u`, `-d`, `-l`: the last one given counts.
    Action,
    /// Options modifying the action.
    Option,
    /// Modes of their own, run from udev rules.
    Udev,
    /// Modes of their own that check the helper-mode policy.
    Policy,
    /// Modes of their own that work through the boot image list.
    Images,
    /// `--help`, `--version`.
    Info,
}

impl Section {
    /// Every section, in the order `--help` and the man page list them.
    pub const ALL: [Section; 6] = [
        Section::Action,
        Section::Option,
        Section::Udev,
        Section::Policy,
        Section::Images,
        Section::Info,
    ];

    /// The heading of this section in `--help`.
    pub fn help_heading(self) -> &'static str {
        match self {
            Section::Action => "Actions (the last one given counts):",
            Section::Option => "Options:",
            Section::Udev => "For udev rules (each a mode of its own):",
            Section::Policy => "Policy (helper mode):",
            Section::Images => "Image list (each a mode of its own):",
            Section::Info => "Information:",
        }
    }

    /// Whether an option of this section selects a mode of its own instead of an action, so
    /// that the action options do not apply with it.
    pub fn is_mode(self) -> bool {
        matches!(
            self,
            Section::Udev | Section::Policy | Section::Images | Section::Info
        )
    }
}

/// One command-line option.
#[derive(Debug, Clone, Copy)]
pub struct OptSpec {
    /// What the option does.
    pub id: OptId,
    /// The getopt short form, if any.
    pub short: Option<char>,
    /// The long form, without the dashes.
    pub long: &'static str,
    /// Other long forms accepted for the same option, without the dashes.
    pub aliases: &'static [&'static str],
    /// The name of the option's argument, `None` for a flag.
    pub value: Option<&'static str>,
    /// The positional arguments a mode takes, for display only (e.g. `[FILE...]`).
    pub operands: &'static str,
    /// Where the option is listed.
    pub section: Section,
    /// Whether repeating the option has an effect (for the completions).
    pub repeatable: bool,
    /// Long forms of other options this one overrides (for the completions and the synopsis).
    pub excludes: &'static [&'static str],
    /// Suggested values of the argument (for the completions).
    pub suggestions: &'static [&'static str],
    /// One-line description for `--help` and the completions (wrapped by `--help`).
    pub help: &'static str,
    /// The man page paragraph (roff) describing the option.
    pub man: &'static str,
}

impl OptSpec {
    /// Every long form: the long name, then the aliases.
    pub fn longs(&self) -> impl Iterator<Item = &'static str> + use<> {
        std::iter::once(self.long).chain(self.aliases.iter().copied())
    }

    /// Every form as typed: `-p`, `--delimiter`, `--part-postfix`.
    pub fn forms(&self) -> Vec<String> {
        self.short
            .map(|c| format!("-{c}"))
            .into_iter()
            .chain(self.longs().map(|l| format!("--{l}")))
            .collect()
    }
}

/// The table type names `-t` accepts, in probe order.
pub const TABLE_TYPES: &[&str] = &[
    "gpt", "dos", "bsd", "solaris", "unixware", "dasd", "mac", "sun", "ps3",
];

const ACTIONS: &[&str] = &["add", "update", "delete", "list", "status", "prune"];

const NONE: OptSpec = OptSpec {
    id: OptId::Help,
    short: None,
    long: "",
    aliases: &[],
    value: None,
    operands: "",
    section: Section::Option,
    repeatable: false,
    excludes: &[],
    suggestions: &[],
    help: "",
    man: "",
};

/// Every option, in the order `--help`, the man page and the completions list them within
/// their section.
pub const OPTIONS: &[OptSpec] = &[
    OptSpec {
        id: OptId::Add,
        short: Some('a'),
        long: "add",
        section: Section::Action,
        excludes: ACTIONS,
        help: "create maps for all partitions, reload existing ones",
        man: r#"Create a map for every partition found.
A map that already exists under the same name and belongs to
.I device
is reloaded with the new geometry, so running
.B \-a
again picks up resized partitions.
A map that already is exactly what would be loaded (same table, same mode, this
partition's UUID, not suspended and no inactive table) is left alone: it is not
suspended, reloaded or resumed, and udev gets no event for it (unless its
/dev/mapper node is missing); it is still reported like a reloaded map.
A map of the same partition that exists under another name (made with another
delimiter) is renamed and reloaded.
If any name is taken by a map that does not belong to
.IR device ,
nothing is made: each such name is reported with the DM UUID of the map holding it
(or that it has none), a loop device attached for an image file by this run is
detached again, and the exit status is 1."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Update,
        short: Some('u'),
        long: "update",
        section: Section::Action,
        excludes: ACTIONS,
        help: "as --add, then drop the maps of vanished partitions",
        man: r#"Like
.BR \-a ,
then remove the maps of
.I device
whose partition no longer exists in the table.
Maps that are open are not removed and are reported."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Delete,
        short: Some('d'),
        long: "delete",
        section: Section::Action,
        excludes: ACTIONS,
        help: "remove the partition maps of DEVICE",
        man: r#"Remove the partition maps of
.IR device .
The partition table is not read; instead every existing device-mapper device is
examined, and only maps that pass both of these tests are taken as partitions of
.IR device :
.RS
.IP \(bu 2
its UUID is exactly
.BI part N \- "parent-uuid"
(see
.BR NAMING ),
and
.IP \(bu 2
its table has a single
.B linear
target whose device is exactly
.I device
(the same major and minor number, not merely a similar one).
.PP
Maps on
.I device
that fail the UUID test, or whose single target is not linear, are left alone
(and named with
.BR \-v ).
If any partition map of
.I device
is open (mounted, in use by LVM, held by a process), nothing at all is removed:
every open map is reported and the exit status is 1.
When
.I device
is an image file, the loop device bound to it is detached after its maps were
removed.
.RE"#,
        ..NONE
    },
    OptSpec {
        id: OptId::List,
        short: Some('l'),
        long: "list",
        section: Section::Action,
        excludes: ACTIONS,
        help: "show the maps --add would create (default)",
        man: r#"Print the maps that
.B \-a
would create, one line per partition, and change nothing.
This is the default action.
Each line has the form
.RS
.PP
.IR name " : 0 " "size device start"
.PP
with
.I size
and
.I start
in 512-byte sectors.
Partitions that lie inside another one (DOS logical partitions, nested BSD and
Sun slices) are listed after the others, in the historical form
.IB name \~:\~0\~ size \~/dev/dm\-K\~ offset \fR,\fP
where
.I K
is the position of the containing partition among the lines already printed
and
.I offset
is relative to its start; this is only a rendering, the maps are not stacked.
With
.B \-\-json
one JSON object describing the device and all its partitions is printed instead.
.RE"#,
        ..NONE
    },
    OptSpec {
        id: OptId::ReadOnly,
        short: Some('r'),
        long: "read-only",
        help: "create read-only maps",
        man: r#"Create read-only maps.
For an image file, the loop device that kpartx attaches is read-only too."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Delimiter,
        short: Some('p'),
        long: "delimiter",
        aliases: &["part-postfix"],
        value: Some("DELIM"),
        suggestions: &["p", "-part", "_part"],
        help: "put DELIM between the device name and the partition number \
               (default: 'p' if the name ends in a digit)",
        man: r#"Put
.I delim
between the parent name and the partition number.
Any string is accepted, including the empty string
.RB ( "\-p \(dq\(dq" ).
Without this option the delimiter is
.B p
when the parent name ends in a digit and empty otherwise."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Force,
        short: Some('f'),
        long: "force",
        help: "with -d: also remove maps of a parent that has no device-mapper UUID, \
               without checking their UUID",
        man: r#"Only meaningful with
.BR \-d ,
and only for a parent that has no device-mapper UUID of its own:
remove every single-target linear map on
.I device
without the UUID test.
This removes partition maps made by very old kpartx versions, which did not set
UUIDs; it can also remove maps that other software placed on
.IR device ,
so check with
.B dmsetup table
first."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Gpt,
        short: Some('g'),
        long: "gpt",
        help: "use a valid GPT even if its protective MBR is broken",
        man: r#"Use a GPT whose headers and entries are valid even though the protective MBR in
sector 0 is missing or damaged.
Without
.BR \-g ,
such a disk is examined for the other table types instead."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Sync,
        short: Some('s'),
        long: "sync",
        excludes: &["nosync"],
        help: "wait until udev has set up the new devices (default)",
        man: r#"Wait until udev has processed each new, changed or removed map, so that the
.I /dev/mapper
nodes and
.I /dev/disk
links exist when kpartx returns.
This is the default."#,
        ..NONE
    },
    OptSpec {
        id: OptId::NoSync,
        short: Some('n'),
        long: "nosync",
        excludes: &["sync"],
        help: "return without waiting for udev",
        man: r#"Do not wait for udev.
The maps exist when kpartx returns, their device nodes and links may not yet."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Verbose,
        short: Some('v'),
        long: "verbose",
        repeatable: true,
        help: "report each map created or removed",
        man: r#"Report every map created, reloaded, renamed or removed, and every map left alone
by
.BR \-d .
Created and reloaded maps are reported on standard output as
.RS
.PP
.in +4n
.EX
\fBadd map\fP \fIname\fP (\fImajor\fP:\fIminor\fP): 0 \fIsize\fP linear \fIpmajor\fP:\fIpminor\fP \fIstart\fP
.EE
.in
.PP
where
.IR pmajor : pminor
is the parent device and
.I start
the partition's offset on it, and removed ones as
.BI "del devmap : " name \fR.\fP
.RE"#,
        ..NONE
    },
    OptSpec {
        id: OptId::Type,
        short: Some('t'),
        long: "type",
        value: Some("TYPE"),
        excludes: &["dos"],
        suggestions: TABLE_TYPES,
        help: "only look for a TYPE table: gpt dos bsd solaris unixware dasd mac sun ps3",
        man: r#"Look only for a partition table of the given type:
.BR gpt ,
.BR dos ,
.BR bsd ,
.BR solaris ,
.BR unixware ,
.BR dasd ,
.BR mac ,
.B sun
or
.BR ps3 .
An unknown type name matches nothing: no partitions are found."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Dos,
        long: "dos",
        excludes: &["type"],
        help: "only look for a DOS table (same as -t dos)",
        man: r#"Same as
.BR "\-t dos" ."#,
        ..NONE
    },
    OptSpec {
        id: OptId::SectorSize,
        long: "sector-size",
        value: Some("SIZE"),
        suggestions: &["auto", "512", "4096"],
        help: "logical sector size of an image file: 512, 4096 or auto (default)",
        man: r#"The logical sector size an image file is read with, and the logical block size
of the loop device attached for it:
.BR 512 ,
.B 4096
or
.B auto
(the default).
.B auto
takes 4096 when the image holds a GPT header at byte 4096 and none at byte 512
(a 4K-native disk's table), 512 otherwise.
A loop device already bound to the image, and a block device, keep their own
size."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Name,
        long: "name",
        value: Some("NAME"),
        help: "name the maps NAME<delim>N, whatever the device is",
        man: r#"Derive the map names from
.I name
instead of the device's name: the maps are
.IR name \fIdelim\fPN
(the delimiter rules of
.B \-p
apply to
.IR name ),
whatever loop or device is underneath.
As with any name,
.BR \-a / \-u
make nothing when one of these names is taken by a map that is not a partition
map of
.IR device .
.B \-l
lists under these names;
.B \-d
removes the partition maps of
.I device
as always."#,
        ..NONE
    },
    OptSpec {
        id: OptId::ReadAnyway,
        long: "read-anyway",
        help: "read a suspended map or a multipath map without a usable path",
        man: r#"Read the partition table of a device-mapper device even when it is suspended or
is a multipath map without a usable path.
Without this option
.BR \-l ,
.B \-a
and
.B \-u
leave such a device alone and exit with status 1, naming the map and its state:
a read from it waits until the map is resumed or a path returns (for a map that
queues I/O, in a sleep that cannot be interrupted), which may be never."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Json,
        long: "json",
        help: "print one JSON document (-l, -a, -u, -d, --status, --prune, --udev --dry-run)",
        man: r#"Print a single JSON document on standard output instead of text; nothing else
goes to standard output (diagnostics still go to standard error).
With
.BR \-l :
the device, the table type found (or null), the
logical sector size and an array of partitions, each with its number, map name,
absolute start and size in 512-byte sectors, parent device, containing
partition, type, label and UUID where the table format has them.
With
.BR \-a ,
.BR \-u ,
.B \-d
(and
.BR "\-\-udev \-\-dry\-run" ):
the action report described in
.BR "JSON REPORTS" ;
with
.B \-\-status
and
.BR \-\-prune :
the documents described there.
When the run cannot start, an error document
.B {"version":1,"error":{"kind":...,"message":...,"exit_status":...}}
is printed instead."#,
        ..NONE
    },
    OptSpec {
        id: OptId::DryRun,
        long: "dry-run",
        help: "with -a, -u, -d, --prune, --udev: print the plan, change nothing",
        man: r#"With
.BR \-a ,
.BR \-u ,
.BR \-d ,
.B \-\-prune
or
.BR \-\-udev :
print what the run would do, step by step \(em create, reload, rename, remove,
or skip with the reason \(em and change nothing: no map is made, changed or
removed, no loop device is attached or detached, no udev cookie (semaphore) is
made.
For an image file that no loop device backs, the file itself is read and the
loop device a real run would attach is predicted (the lowest-numbered free one);
the output says that the name is predicted.
The exit status is the number of steps already known to fail (maps left in use,
names taken by other maps), as the real run would count them."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Status,
        long: "status",
        section: Section::Action,
        excludes: ACTIONS,
        operands: "[DEVICE...]",
        help: "list the partition maps kpartx owns and whether each is current, stale or orphaned",
        man: r#"List every partition map this tool owns (device-mapper UUID
.BI part N \- "parent-uuid" \fR),\fP
or only those of the given devices, with its parent, partition number, open
count and holders, and its state:
.B current
(it matches partition
.I N
of the parent's partition table as read now),
.B stale
(the parent exists but its table no longer has that partition at that start and
size, or the map's target is not the parent),
.B orphaned
(the parent device no longer exists) or
.B unknown
(the parent cannot be read).
The parent is the device-mapper device whose UUID follows
.BI part N \-
or, for
.BI devnode_ major : minor _Wh5pYvM\fR,\fP
that block device."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Prune,
        long: "prune",
        section: Section::Action,
        excludes: ACTIONS,
        operands: "[DEVICE...]",
        help: "remove unused stale and orphaned maps and empty loops kpartx attached",
        man: r#"Remove the stale and orphaned partition maps (see
.BR \-\-status )
that are not open, then detach the loop devices that
.B \-a
or
.B \-u
attached (recorded in
.IR /run/kpartx/loops/loop N )
and that no longer carry any map.
Open maps are named with their holders and left; current maps, maps of other
software and loop devices that kpartx did not attach are never touched.
A record whose loop device is no longer bound to the recorded image is dropped
without touching the device.
Exit status 0 when everything stale could go, 1 otherwise."#,
        ..NONE
    },
    OptSpec {
        id: OptId::UdevTimeout,
        long: "udev-timeout",
        value: Some("SECONDS"),
        suggestions: &["5", "10", "30", "60", "120"],
        help: "longest wait for udev without progress (default 30)",
        man: r#"The longest time to wait for udev while it completes none of the run's
device-mapper events (default 30; fractions are allowed; 0 to 86400): a long queue
that moves is waited for, a stuck one is not.
See
.BR "UDEV SYNCHRONISATION" ."#,
        ..NONE
    },
    OptSpec {
        id: OptId::BusyTimeout,
        long: "busy-timeout",
        value: Some("SECONDS"),
        suggestions: &["0", "5", "10", "30"],
        help: "longest wait for open partition maps to be closed (default 5)",
        man: r#"The longest time
.BR \-d ,
.B \-u
and
.B \-\-prune
wait, in all, for partition maps they must remove to be closed: an open map is
looked at again, and a removal the kernel refuses because the map is busy is tried
again, every 0.2 seconds until then (default 5; fractions are allowed; 0 to 86400).
udev's probes keep a new or reloaded map open for a moment; so does a file system
being unmounted.
When a map is still open after that time,
.B \-d
removes none of them,
.B \-u
leaves that one, and both name the open ones and exit with status 1."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Udev,
        long: "udev",
        section: Section::Udev,
        help: "act on the udev event in the environment",
        man: r#"Create, update or remove the partition maps of the device that the udev event
in the environment describes, as the policy says.
Run by the
.I 66\-kpartx.rules
udev rule; see
.BR "HELPER MODE" .
.B \-v
logs more detail."#,
        ..NONE
    },
    OptSpec {
        id: OptId::UdevId,
        long: "udev-id",
        section: Section::Udev,
        help: "print the by-id link properties of the partition map in the environment",
        man: r#"Print the udev properties that the
.I /dev/disk/by\-id
links of the partition map in the environment are made from.
Imported by the
.I 56\-kpartx\-parts.rules
udev rule; see
.BR "UDEV PROPERTIES OF PARTITION MAPS" ."#,
        ..NONE
    },
    OptSpec {
        id: OptId::UdevDelPartNodes,
        long: "udev-del-part-nodes",
        section: Section::Udev,
        help: "drop the kernel partition devices of the multipath path in the environment",
        man: r#"Remove the kernel's partition devices (such as
.IR sdb1 )
of the disk in the environment, a disk that multipath uses as one of a map's
paths, so that the partitions are only used through the multipath map's
partition maps.
Run once per disk by the
.I 68\-del\-part\-nodes.rules
udev rule.
Only the kernel's view changes (BLKPG ioctls); the disk's contents are not
touched.
Exit status 0 when no partition device is left, 1 when one is in use and stays,
2 when the environment does not describe a usable event."#,
        ..NONE
    },
    OptSpec {
        id: OptId::CheckConfig,
        long: "check-config",
        operands: "[FILE...]",
        section: Section::Policy,
        help: "check policy files (default: the system policy)",
        man: r#"Check the given policy files, or the system policy when none are given, and
print each problem as
.IB file : line : column ": " message\fR.\fP
Exit status 0 when there is none, 1 otherwise.
See
.BR POLICY ."#,
        ..NONE
    },
    OptSpec {
        id: OptId::ShowPolicy,
        long: "show-policy",
        operands: "DEVICE",
        section: Section::Policy,
        help: "print the policy settings that apply to DEVICE",
        man: r#"Print what helper mode knows about
.I device
and the settings that apply to it after all rules, with the rules that matched."#,
        ..NONE
    },
    OptSpec {
        id: OptId::MapImages,
        long: "map-images",
        operands: "[FILE...]",
        section: Section::Images,
        help: "map every image of the image list (default /etc/kpartx/images.toml)",
        man: r#"Check the image list (the given files, or
.I /etc/kpartx/images.toml
and
.IR /etc/kpartx/images.d/*.toml ),
then map the partitions of every image in it as
.B "\-a \-\-name"
would, under its name, delimiter, read-only setting and sector size.
A broken list maps nothing.
Exit status: the number of images that failed (at most 255), 1 for a broken
list.
Run at boot by
.IR kpartx\-images.service ."#,
        ..NONE
    },
    OptSpec {
        id: OptId::UnmapImages,
        long: "unmap-images",
        operands: "[FILE...]",
        section: Section::Images,
        help: "unmap every image of the image list",
        man: r#"Remove the partition maps of every image of the image list, last image first,
as
.B \-d
would, detaching the loop device of each image whose maps are all gone.
Exit status: the number of images that failed (at most 255), 1 for a broken
list."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Help,
        long: "help",
        section: Section::Info,
        help: "show this text",
        man: r#"Print a short usage text and exit."#,
        ..NONE
    },
    OptSpec {
        id: OptId::Version,
        long: "version",
        section: Section::Info,
        help: "show the version",
        man: r#"Print the version and exit."#,
        ..NONE
    },
];

/// The option with this short form.
pub fn by_short(c: char) -> Option<&'static OptSpec> {
    OPTIONS.iter().find(|o| o.short == Some(c))
}

/// The option with this long form (name or alias, without the dashes).
pub fn by_long(name: &str) -> Option<&'static OptSpec> {
    OPTIONS.iter().find(|o| o.longs().any(|l| l == name))
}

#[cfg(test)]
mod generate;
