//! `kpartx --udev-id`: the properties that give partition maps their `/dev/disk/by-id/…-partN`
//! and `wwn-…-partN` links (what upstream's `kpartx_id` script computes with `dmsetup`),
//! printed as `KEY=value` lines for udev's `IMPORT{program}`. The rules run it only for maps
//! whose properties kpartx did not publish when it made them ([`crate::dm::by_id`]).

use crate::device::DevNum;
use crate::dm::by_id::{IdFacts, properties, render};
use crate::exit::Exit;
use crate::out::Printer;

/// `kpartx --udev-id`: prints the properties for the map described by `DM_UUID`, `MAJOR` and
/// `MINOR` in the environment; prints nothing when they are missing or not UTF-8 (other
/// variables are never looked at). Always succeeds, so that a lookup problem never fails the
/// udev event.
pub fn run(p: &mut dyn Printer) -> Exit {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let dev = var("MAJOR")
        .zip(var("MINOR"))
        .and_then(|(major, minor)| DevNum::parse(&format!("{major}:{minor}")));
    if let (Some(uuid), Some(dev)) = (var("DM_UUID"), dev) {
        p.out(&render(&properties(&IdFacts::gather(dev, &uuid))));
    }
    Exit::Ok
}
