//! The values the device-mapper model is made of, each its own type so that they cannot be
//! mixed up: a map's name as device-mapper stores it ([`MapName`]) and as kpartx prints it
//! ([`DisplayName`]), a map's UUID ([`MapUuid`]), and a count of 512-byte [`Sectors`].
//!
//! Each prints (`Display`) exactly the text or number it holds, so output made from them is
//! the same as from the plain strings and numbers they replace. None of them validates: names
//! and UUIDs come from the kernel or from [`kpartx_table::naming`], which checks what it makes.

use std::fmt;

use kpartx_table::naming::{self, NameError};

/// A map's name as device-mapper stores it: mangled, with `\xNN` for each byte udev cannot
/// take (what the kernel lists, and what every ioctl is given).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MapName(String);

impl MapName {
    /// The stored name `stored` (already mangled).
    pub fn new(stored: impl Into<String>) -> Self {
        MapName(stored.into())
    }

    /// The stored name's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored name's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The name as kpartx prints it (unmangled).
    pub fn unmangled(&self) -> DisplayName {
        DisplayName(naming::unmangle_dm_name(&self.0))
    }
}

impl fmt::Display for MapName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A map's name as kpartx prints it (and as the user gave or would give it): unmangled, so
/// never to be handed to device-mapper as it is ([`DisplayName::to_map_name`] mangles it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DisplayName(String);

impl DisplayName {
    /// The printed name `shown`.
    pub fn new(shown: impl Into<String>) -> Self {
        DisplayName(shown.into())
    }

    /// The printed name's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The printed name's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The name device-mapper stores for it (mangled), or why it cannot be one.
    pub fn to_map_name(&self) -> Result<MapName, NameError> {
        naming::to_dm_name(&self.0).map(MapName)
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A map's device-mapper UUID (`part1-mpath-…`, `mpath-…`, `LVM-…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MapUuid(String);

impl MapUuid {
    /// The UUID `uuid`.
    pub fn new(uuid: impl Into<String>) -> Self {
        MapUuid(uuid.into())
    }

    /// The UUID's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The UUID's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for MapUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A number of 512-byte sectors (device-mapper's unit for every offset and length, whatever
/// the device's logical block size). Prints as the plain number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sectors(pub u64);

impl fmt::Display for Sectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_prints_exactly_what_it_holds() {
        assert_eq!(MapName::new(r"a\x20b").to_string(), r"a\x20b");
        assert_eq!(DisplayName::new("a b").to_string(), "a b");
        assert_eq!(MapUuid::new("part1-mpath-36").to_string(), "part1-mpath-36");
        assert_eq!(Sectors(2048).to_string(), "2048");
        assert_eq!(format!("{:>6}", Sectors(7)), "     7");
    }

    #[test]
    fn stored_and_printed_names_convert_through_the_mangling() {
        let stored = MapName::new(r"a\x20b");
        assert_eq!(stored.unmangled(), DisplayName::new("a b"));
        assert_eq!(DisplayName::new("a b").to_map_name().unwrap(), stored);
    }
}
