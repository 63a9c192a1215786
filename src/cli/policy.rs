//! `--check-config` and `--show-policy`: the admin's view of the helper-mode policy.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::args::Options;
use super::usage_error;
use crate::device::DevNum;
use crate::exit::Exit;
use crate::out::Printer;
use crate::policy::{DeviceFacts, Policy};

/// Validates the given policy files, or the system policy when none are given. Prints every
/// error as `FILE:LINE:COLUMN: message`; fails when there is one.
pub fn check_config(files: &[std::ffi::OsString], p: &mut dyn Printer) -> Exit {
    let (errors, checked) = if files.is_empty() {
        match Policy::load_system() {
            Ok(policy) => (Vec::new(), policy.files().len()),
            Err(errors) => (errors, 0),
        }
    } else {
        (Policy::check_files(files), files.len())
    };
    for err in &errors {
        crate::perr!(p, "{err}");
    }
    if errors.is_empty() {
        crate::pout!(p, "kpartx: policy is valid ({checked} file(s) read)");
        Exit::Ok
    } else {
        crate::perr!(
            p,
            "kpartx: {} error(s); helper mode would use the built-in defaults",
            errors.len()
        );
        Exit::Failed
    }
}

/// Prints the policy helper mode would apply to the device argument.
pub fn show_policy(opts: &Options, p: &mut dyn Printer) -> Exit {
    let Some(device) = opts.device() else {
        return usage_error(p);
    };
    let dev = match fs::metadata(device) {
        Ok(m) if m.file_type().is_block_device() => DevNum::from_dev_t(m.rdev()),
        _ => {
            crate::perr!(p, "kpartx: {} is not a block device", device.display());
            return Exit::Failed;
        }
    };
    let (policy, errors) = Policy::load_or_builtin();
    for err in &errors {
        crate::perr!(p, "{err}");
    }
    if !errors.is_empty() {
        crate::perr!(
            p,
            "kpartx: policy is invalid; showing the built-in defaults"
        );
    }
    let facts = facts_of(dev);
    p.out(&crate::render::policy::show(
        &policy.evaluate(&facts),
        &facts,
    ));
    Exit::Ok
}

/// What policy rules can match on, from sysfs and the udev database.
fn facts_of(dev: DevNum) -> DeviceFacts {
    let udev_props = udev_properties(dev);
    crate::hotplug::device_facts(&crate::engine::real::RealDevices, dev, |key| {
        udev_props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    })
}

/// The device's properties in the udev database (empty when udev has none).
fn udev_properties(dev: DevNum) -> Vec<(String, String)> {
    let devt = libc::makedev(dev.major, dev.minor);
    let Ok(device) = udev::Device::from_devnum(udev::DeviceType::Block, devt) else {
        return Vec::new();
    };
    device
        .properties()
        .map(|p| {
            (
                p.name().to_string_lossy().into_owned(),
                p.value().to_string_lossy().into_owned(),
            )
        })
        .collect()
}
