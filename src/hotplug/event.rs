//! The udev event a RUN program receives as its environment.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;

use crate::device::DevNum;

/// The event's `ACTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A device appeared.
    Add,
    /// A device changed (resume, resize, repartition, loop bind).
    Change,
    /// A device went away.
    Remove,
}

/// The properties kpartx cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdevEvent {
    /// `ACTION`.
    pub action: Action,
    /// `MAJOR`:`MINOR`.
    pub dev: DevNum,
    /// `DEVNAME` (`/dev/dm-3`).
    pub devname: Option<String>,
    /// `DEVTYPE` (`disk`, `partition`).
    pub devtype: Option<String>,
    /// `DM_NAME`.
    pub dm_name: Option<String>,
    /// `DM_UUID`.
    pub dm_uuid: Option<String>,
    /// `DM_SUBSYSTEM_UDEV_FLAG1`: multipath's skip_kpartx.
    pub skip_kpartx: bool,
    /// `DM_UDEV_DISABLE_OTHER_RULES_FLAG`: foreign rules must leave the device alone.
    pub disable_other_rules: bool,
    /// `DM_NOSCAN`: multipath map without usable paths. Exported by the dm rules of version 2
    /// only (Debian 12); version 3 (lvm2 >= 2.03.24, Debian 13) sets the private `.DM_NOSCAN`,
    /// which udev does not pass to RUN programs, so `66-kpartx.rules` checks that one itself.
    pub no_scan: bool,
    /// `DM_SUSPENDED`: the device is suspended. Version 2 only, like `DM_NOSCAN`; version 3
    /// sets `.DM_SUSPENDED` and `DM_UDEV_DISABLE_OTHER_RULES_FLAG` (and the rule checks both).
    pub suspended: bool,
    /// `MPATH_UNCHANGED`: a multipath reload that changed nothing.
    pub mpath_unchanged: bool,
    /// `ID_FS_TYPE` from blkid.
    pub fs_type: Option<String>,
    /// `ID_WWN`.
    pub wwn: Option<String>,
    /// `ID_SERIAL`.
    pub serial: Option<String>,
}

/// Why the environment does not describe a usable event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventError {
    /// A required variable is not set.
    Missing(&'static str),
    /// A variable has a value that makes no sense.
    Malformed(&'static str, String),
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::Missing(var) => write!(f, "udev variable {var} is not set"),
            EventError::Malformed(var, value) => {
                write!(f, "udev variable {var} has an unusable value {value:?}")
            }
        }
    }
}

impl std::error::Error for EventError {}

/// Variables the helper reads whose value must be exact: a non-UTF-8 value makes the event
/// malformed.
const EXACT_VARS: &[&str] = &[
    "ACTION",
    "MAJOR",
    "MINOR",
    "DEVNAME",
    "DEVPATH",
    "DEVTYPE",
    "DM_NAME",
    "DM_UUID",
    "DM_SUBSYSTEM_UDEV_FLAG1",
    "DM_UDEV_DISABLE_OTHER_RULES_FLAG",
    "DM_NOSCAN",
    "DM_SUSPENDED",
    "MPATH_UNCHANGED",
];

/// Free-text variables the helper reads, taken lossily when not UTF-8.
const FREE_TEXT_VARS: &[&str] = &["ID_SERIAL", "ID_SERIAL_SHORT", "ID_WWN", "ID_FS_TYPE"];

/// The udev event in this process's environment, with the environment it was read from
/// (policy rules match on more of it than the event keeps).
pub fn from_process() -> Result<(UdevEvent, HashMap<String, String>), EventError> {
    let env = environment(std::env::vars_os())?;
    Ok((UdevEvent::parse(&env)?, env))
}

/// Builds the map the helper reads the event from out of the raw process environment
/// (`std::env::vars_os()`), never failing on bytes it does not need to understand.
///
/// * UTF-8 variables are kept as they are.
/// * A variable the helper never reads is dropped when its name or value is not UTF-8.
/// * A non-UTF-8 value of a free-text variable (`ID_SERIAL`, `ID_SERIAL_SHORT`, `ID_WWN`,
///   `ID_FS_TYPE`) is converted lossily (invalid bytes become U+FFFD): these only feed policy
///   globs and the RAID-member check, where a replacement character is harmless and a prefix
///   still matches.
/// * A non-UTF-8 value of any other variable the helper reads (`ACTION`, `MAJOR`, `MINOR`,
///   `DEVNAME`, `DEVPATH`, `DEVTYPE`, `DM_NAME`, `DM_UUID`, the DM flags) makes the event
///   malformed: those name devices and maps, and a guess could act on the wrong one.
pub fn environment(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<HashMap<String, String>, EventError> {
    let mut env = HashMap::new();
    for (key, value) in vars {
        let Ok(key) = key.into_string() else {
            continue;
        };
        let value = match value.into_string() {
            Ok(value) => value,
            Err(raw) => {
                if let Some(var) = EXACT_VARS.iter().find(|v| **v == key) {
                    return Err(EventError::Malformed(
                        var,
                        raw.to_string_lossy().into_owned(),
                    ));
                }
                if !FREE_TEXT_VARS.contains(&key.as_str()) {
                    continue;
                }
                raw.to_string_lossy().into_owned()
            }
        };
        env.insert(key, value);
    }
    Ok(env)
}

impl UdevEvent {
    /// Reads an event from environment variables.
    pub fn parse(env: &HashMap<String, String>) -> Result<UdevEvent, EventError> {
        let get = |key: &str| env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let flag = |key: &str| get(key) == Some("1");
        let text = |key: &str| get(key).map(str::to_string);
        let action = match get("ACTION") {
            None => return Err(EventError::Missing("ACTION")),
            Some("add") => Action::Add,
            Some("change") => Action::Change,
            Some("remove") => Action::Remove,
            Some(other) => return Err(EventError::Malformed("ACTION", other.to_string())),
        };
        let number = |key: &'static str| -> Result<u32, EventError> {
            let value = get(key).ok_or(EventError::Missing(key))?;
            value
                .parse()
                .map_err(|_| EventError::Malformed(key, value.to_string()))
        };
        Ok(UdevEvent {
            action,
            dev: DevNum::new(number("MAJOR")?, number("MINOR")?),
            devname: text("DEVNAME"),
            devtype: text("DEVTYPE"),
            dm_name: text("DM_NAME"),
            dm_uuid: text("DM_UUID"),
            skip_kpartx: flag("DM_SUBSYSTEM_UDEV_FLAG1"),
            disable_other_rules: flag("DM_UDEV_DISABLE_OTHER_RULES_FLAG"),
            no_scan: flag("DM_NOSCAN"),
            suspended: flag("DM_SUSPENDED"),
            mpath_unchanged: flag("MPATH_UNCHANGED"),
            fs_type: text("ID_FS_TYPE"),
            wwn: text("ID_WWN"),
            serial: text("ID_SERIAL"),
        })
    }

    /// The kernel name (`dm-3`, `loop0`), from `DEVNAME`.
    pub fn kernel_name(&self) -> Option<String> {
        let name = self.devname.as_deref()?;
        crate::sys_text::basename(std::ffi::OsStr::new(name))
            .into_string()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn multipath_change_event() {
        let e = UdevEvent::parse(&env(&[
            ("ACTION", "change"),
            ("MAJOR", "254"),
            ("MINOR", "3"),
            ("DEVNAME", "/dev/dm-3"),
            ("DM_NAME", "mpatha"),
            ("DM_UUID", "mpath-3600a0b8"),
            ("DM_SUBSYSTEM_UDEV_FLAG1", "1"),
            ("DM_NOSCAN", "0"),
        ]))
        .unwrap();
        assert_eq!(e.action, Action::Change);
        assert_eq!(e.dev, DevNum::new(254, 3));
        assert_eq!(e.kernel_name().as_deref(), Some("dm-3"));
        assert!(e.skip_kpartx);
        assert!(!e.no_scan);
        assert_eq!(e.dm_uuid.as_deref(), Some("mpath-3600a0b8"));
    }

    #[test]
    fn missing_and_malformed_variables() {
        assert_eq!(
            UdevEvent::parse(&env(&[])),
            Err(EventError::Missing("ACTION"))
        );
        assert_eq!(
            UdevEvent::parse(&env(&[("ACTION", "add"), ("MINOR", "1")])),
            Err(EventError::Missing("MAJOR"))
        );
        assert_eq!(
            UdevEvent::parse(&env(&[("ACTION", "bind"), ("MAJOR", "7"), ("MINOR", "0")])),
            Err(EventError::Malformed("ACTION", "bind".into()))
        );
        assert_eq!(
            UdevEvent::parse(&env(&[("ACTION", "add"), ("MAJOR", "x"), ("MINOR", "0")])),
            Err(EventError::Malformed("MAJOR", "x".into()))
        );
    }

    fn raw(pairs: &[(&str, &[u8])]) -> Vec<(OsString, OsString)> {
        use std::os::unix::ffi::OsStringExt;
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from_vec(v.to_vec())))
            .collect()
    }

    #[test]
    fn unread_non_utf8_variables_do_not_matter() {
        use std::os::unix::ffi::OsStringExt;
        let mut vars = raw(&[
            ("ACTION", b"add"),
            ("MAJOR", b"7"),
            ("MINOR", b"0"),
            ("ID_FS_LABEL", b"caf\xe9"),
        ]);
        vars.push((OsString::from_vec(b"X\xff".to_vec()), OsString::from("1")));
        let env = environment(vars).unwrap();
        assert!(!env.contains_key("ID_FS_LABEL"));
        assert_eq!(env.len(), 3);
        assert_eq!(UdevEvent::parse(&env).unwrap().dev, DevNum::new(7, 0));
    }

    #[test]
    fn non_utf8_free_text_is_lossy() {
        let env =
            environment(raw(&[("ID_SERIAL", b"WD-\xff1"), ("ID_FS_TYPE", b"x\xe9")])).unwrap();
        assert_eq!(env["ID_SERIAL"], "WD-\u{fffd}1");
        assert_eq!(env["ID_FS_TYPE"], "x\u{fffd}");
    }

    #[test]
    fn non_utf8_exact_variables_make_the_event_malformed() {
        for key in [
            "ACTION",
            "MAJOR",
            "DEVNAME",
            "DM_NAME",
            "DM_UUID",
            "DM_NOSCAN",
        ] {
            let err = environment(raw(&[("ACTION", b"add"), (key, b"mp\xe9")])).unwrap_err();
            assert_eq!(
                err,
                EventError::Malformed(
                    EXACT_VARS.iter().find(|v| **v == key).unwrap(),
                    "mp\u{fffd}".into()
                )
            );
        }
    }

    #[test]
    fn empty_values_count_as_unset() {
        let e = UdevEvent::parse(&env(&[
            ("ACTION", "add"),
            ("MAJOR", "7"),
            ("MINOR", "0"),
            ("DM_UUID", ""),
        ]))
        .unwrap();
        assert_eq!(e.dm_uuid, None);
        assert_eq!(e.kernel_name(), None);
    }
}
