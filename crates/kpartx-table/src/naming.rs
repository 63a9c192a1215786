//! Partition map names and device-mapper UUIDs, exactly as the reference forms them.
//!
//! * name: `<parent name><delimiter><N>`; the delimiter defaults to `p` when the parent name ends
//!   in a digit (`loop0p1`), else nothing (`sda1`); udev rules pass `-part` (`mpatha-part1`).
//! * UUID: `part<N>-<parent uuid>`, where a parent without a DM UUID gets the synthetic
//!   `devnode_<major>:<minor>_Wh5pYvM`.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;

use crate::DevNum;

/// Longest device-mapper name the kernel accepts (excluding the NUL).
pub const DM_NAME_MAX: usize = 127;
/// Longest device-mapper UUID the kernel accepts (excluding the NUL).
pub const DM_UUID_MAX: usize = 128;

/// The delimiter used when `-p` is not given: `p` after a trailing ASCII digit, else none.
pub fn default_delimiter(parent_name: &OsStr) -> &'static str {
    if parent_name
        .as_bytes()
        .last()
        .is_some_and(u8::is_ascii_digit)
    {
        "p"
    } else {
        ""
    }
}

/// How the partition maps of one parent are named.
///
/// Names are bytes, like the paths they may come from (the basename of a device argument, a
/// `-p` delimiter): `-l` prints them as they are. Device-mapper names must be text, so
/// [`Naming::dm_name`] refuses a name that is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// The parent's name: its DM name, or the basename of the device path as given.
    pub parent: OsString,
    /// Text between the parent name and the partition number.
    pub delimiter: OsString,
}

impl Naming {
    /// Naming with an explicit delimiter, or the default one for `parent` when `None`.
    pub fn new(parent: &str, delimiter: Option<&str>) -> Self {
        Naming::from_os(OsStr::new(parent), delimiter.map(OsStr::new))
    }

    /// [`Naming::new`] for names and delimiters that need not be UTF-8.
    pub fn from_os(parent: &OsStr, delimiter: Option<&OsStr>) -> Self {
        let delimiter = delimiter.unwrap_or_else(|| OsStr::new(default_delimiter(parent)));
        Naming {
            parent: parent.to_owned(),
            delimiter: delimiter.to_owned(),
        }
    }

    /// The exact name of partition `number` (1-based), as `-l` prints it.
    pub fn name(&self, number: usize) -> OsString {
        let mut name = self.parent.clone();
        name.push(&self.delimiter);
        name.push(number.to_string());
        name
    }

    /// The name for messages (`-v`, errors, logs): [`Naming::name`], with bytes that are not
    /// UTF-8 shown as U+FFFD (such a name is never given to device-mapper).
    pub fn display_name(&self, number: usize) -> String {
        self.name(number).to_string_lossy().into_owned()
    }

    /// The name as device-mapper receives it (see [`to_dm_name`]); an error when the name is
    /// not UTF-8.
    pub fn dm_name(&self, number: usize) -> Result<String, NameError> {
        let name = self.name(number);
        match name.to_str() {
            Some(text) => to_dm_name(text),
            None => Err(NameError::NotUtf8(format!("{name:?}"))),
        }
    }
}

/// Why a name or UUID cannot be used with device-mapper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The name is longer than [`DM_NAME_MAX`] bytes once mangled.
    NameTooLong(String),
    /// The UUID is longer than [`DM_UUID_MAX`] bytes.
    UuidTooLong(String),
    /// The name is empty, `.` or `..`.
    Invalid(String),
    /// The name (shown quoted, with escapes) is not UTF-8: it comes from a device path or a
    /// delimiter that is not.
    NotUtf8(String),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::NameTooLong(n) => {
                write!(f, "map name {n} is longer than {DM_NAME_MAX} bytes")
            }
            NameError::UuidTooLong(u) => {
                write!(f, "map uuid {u} is longer than {DM_UUID_MAX} bytes")
            }
            NameError::Invalid(n) => write!(f, "{n:?} is not a valid map name"),
            NameError::NotUtf8(n) => write!(
                f,
                "map name {n} is not valid UTF-8 (device-mapper names must be text)"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Turns a display name into the name device-mapper stores.
///
/// Every `/` except a leading one becomes `!`, then bytes outside `[0-9A-Za-z#+-.:=@_]` are
/// escaped as `\xNN` (libdevmapper's default "auto" mangling), so `my space1` is stored as
/// `my\x20space1`.
pub fn to_dm_name(display: &str) -> Result<String, NameError> {
    if display.is_empty() || display == "." || display == ".." {
        return Err(NameError::Invalid(display.to_string()));
    }
    let mut out = String::with_capacity(display.len());
    for (i, &b) in display.as_bytes().iter().enumerate() {
        let b = if b == b'/' && i > 0 { b'!' } else { b };
        if is_dm_safe(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if out.len() > DM_NAME_MAX {
        return Err(NameError::NameTooLong(display.to_string()));
    }
    Ok(out)
}

/// Reverses [`to_dm_name`]'s escaping for display (the `!` stays).
pub fn unmangle_dm_name(stored: &str) -> String {
    let bytes = stored.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i..i + 4)
            .filter(|s| s.starts_with(b"\\x"))
            .and_then(|s| std::str::from_utf8(&s[2..]).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_dm_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"#+-.:=@_".contains(&b)
}

/// The UUID kpartx gives a parent that has no device-mapper UUID of its own.
pub fn devnode_uuid(dev: DevNum) -> String {
    format!("devnode_{}:{}_Wh5pYvM", dev.major, dev.minor)
}

/// The device a [`devnode_uuid`] names, `None` for any other UUID.
pub fn devnode_of(uuid: &str) -> Option<DevNum> {
    uuid.strip_prefix("devnode_")?
        .strip_suffix("_Wh5pYvM")
        .and_then(DevNum::parse)
}

/// The UUID of partition `number`'s map: `part<N>-<parent uuid>`.
pub fn partition_uuid(number: usize, parent_uuid: &str) -> Result<String, NameError> {
    let uuid = format!("part{number}-{parent_uuid}");
    if uuid.len() > DM_UUID_MAX {
        return Err(NameError::UuidTooLong(uuid));
    }
    Ok(uuid)
}

/// Device-mapper UUID prefix of multipath maps.
pub const MULTIPATH_UUID_PREFIX: &str = "mpath-";

/// The device-mapper UUID forms kpartx tells apart; [`parse_uuid`] is the one parser of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UuidForm<'a> {
    /// `part<digits>-<parent uuid>`: a partition map (kpartx's, or the reference's).
    Partition {
        /// The partition number.
        number: usize,
        /// The parent's UUID (itself of any form).
        parent: &'a str,
    },
    /// `mpath-<wwid>`: a multipath map.
    Multipath {
        /// The WWID (may be empty for a malformed UUID).
        wwid: &'a str,
    },
    /// Anything else (`LVM-…`, `CRYPT-…`, …).
    Other,
}

/// Classifies a device-mapper UUID.
pub fn parse_uuid(uuid: &str) -> UuidForm<'_> {
    if let Some((digits, parent)) = uuid.strip_prefix("part").and_then(|r| r.split_once('-'))
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(number) = digits.parse()
    {
        return UuidForm::Partition { number, parent };
    }
    match uuid.strip_prefix(MULTIPATH_UUID_PREFIX) {
        Some(wwid) => UuidForm::Multipath { wwid },
        None => UuidForm::Other,
    }
}

/// The partition number when `uuid` is exactly `part<digits>-<parent uuid>`, else `None`.
///
/// This is the ownership test: a map is ours only when this matches.
pub fn partition_number_of(uuid: &str, parent_uuid: &str) -> Option<usize> {
    match parse_uuid(uuid) {
        UuidForm::Partition { number, parent } if parent == parent_uuid => Some(number),
        _ => None,
    }
}

/// Whether `uuid` looks like any kpartx partition map's (`part<digits>-…`).
pub fn is_partition_uuid(uuid: &str) -> bool {
    matches!(parse_uuid(uuid), UuidForm::Partition { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devnode_uuids_round_trip() {
        let dev = DevNum::new(7, 12);
        assert_eq!(devnode_of(&devnode_uuid(dev)), Some(dev));
        assert_eq!(devnode_of("mpath-x"), None);
    }

    #[test]
    fn uuid_forms() {
        assert_eq!(
            parse_uuid("part3-mpath-36001"),
            UuidForm::Partition {
                number: 3,
                parent: "mpath-36001"
            }
        );
        assert_eq!(
            parse_uuid("part12-part1-devnode_7:0_Wh5pYvM"),
            UuidForm::Partition {
                number: 12,
                parent: "part1-devnode_7:0_Wh5pYvM"
            }
        );
        assert_eq!(
            parse_uuid("mpath-36001"),
            UuidForm::Multipath { wwid: "36001" }
        );
        for other in [
            "part-x",
            "partx-y",
            "part3",
            "LVM-abc",
            "",
            "mpath",
            "part99999999999999999999999-x",
        ] {
            assert_eq!(parse_uuid(other), UuidForm::Other, "{other}");
        }
    }

    #[test]
    fn delimiter_depends_on_trailing_digit() {
        assert_eq!(Naming::new("loop0", None).display_name(1), "loop0p1");
        assert_eq!(Naming::new("sda", None).display_name(3), "sda3");
        assert_eq!(
            Naming::new("mpatha", Some("-part")).display_name(2),
            "mpatha-part2"
        );
        assert_eq!(Naming::new("loop0", Some("")).display_name(12), "loop012");
    }

    #[test]
    fn non_utf8_names_are_kept_but_not_given_to_device_mapper() {
        use std::os::unix::ffi::OsStrExt;
        let odd = Naming::from_os(OsStr::from_bytes(b"caf\xe9"), None);
        assert_eq!(odd.name(1).as_bytes(), b"caf\xe91");
        assert_eq!(odd.display_name(1), "caf\u{fffd}1");
        let err = odd.dm_name(1).unwrap_err();
        assert_eq!(err, NameError::NotUtf8("\"caf\\xE91\"".into()));
        assert_eq!(
            err.to_string(),
            "map name \"caf\\xE91\" is not valid UTF-8 (device-mapper names must be text)"
        );
        let delim = Naming::from_os(OsStr::new("loop0"), Some(OsStr::from_bytes(b"\xff")));
        assert_eq!(delim.name(2).as_bytes(), b"loop0\xff2");
        assert!(matches!(delim.dm_name(2), Err(NameError::NotUtf8(_))));
        assert_eq!(
            Naming::from_os(OsStr::from_bytes(b"d\xe99"), None)
                .name(1)
                .as_bytes(),
            b"d\xe99p1"
        );
    }

    #[test]
    fn dm_names_are_mangled_like_libdevmapper() {
        assert_eq!(to_dm_name("loop0p1").unwrap(), "loop0p1");
        assert_eq!(to_dm_name("my space1").unwrap(), "my\\x20space1");
        assert_eq!(to_dm_name("a/b1").unwrap(), "a\\x21b1");
        assert_eq!(to_dm_name("/ab").unwrap(), "\\x2fab");
        assert!(to_dm_name(&"x".repeat(128)).is_err());
        assert!(to_dm_name(&"x".repeat(127)).is_ok());
        assert!(to_dm_name("").is_err());
    }

    #[test]
    fn unmangle_round_trips_escapes() {
        assert_eq!(unmangle_dm_name("my\\x20space1"), "my space1");
        assert_eq!(unmangle_dm_name("plain\\xzz"), "plain\\xzz");
    }

    #[test]
    fn uuids() {
        let parent = devnode_uuid(DevNum::new(7, 0));
        assert_eq!(parent, "devnode_7:0_Wh5pYvM");
        assert_eq!(
            partition_uuid(1, &parent).unwrap(),
            "part1-devnode_7:0_Wh5pYvM"
        );
        assert!(partition_uuid(1, &"u".repeat(125)).is_err());
    }

    #[test]
    fn ownership_needs_exact_parent() {
        let p = "mpath-3600a0b8";
        assert_eq!(partition_number_of("part12-mpath-3600a0b8", p), Some(12));
        assert_eq!(partition_number_of("part-mpath-3600a0b8", p), None);
        assert_eq!(partition_number_of("partx-mpath-3600a0b8", p), None);
        assert_eq!(partition_number_of("part1-mpath-3600a0b89", p), None);
        assert_eq!(partition_number_of("LVM-abc", p), None);
        assert!(is_partition_uuid("part3-LVM-x"));
        assert!(!is_partition_uuid("party-x"));
    }

    #[test]
    fn devnum_parsing() {
        assert_eq!(DevNum::parse("253:4\n"), Some(DevNum::new(253, 4)));
        assert_eq!(DevNum::parse("x:1"), None);
        assert_eq!(DevNum::new(7, 0).to_string(), "7:0");
    }
}
