//! Usage, help and version texts (our own wording).

/// Version line for `--version` and the top of the usage text.
pub fn version() -> String {
    format!(
        "kpartx {} (Rust implementation, compatible with multipath-tools kpartx 0.14)",
        env!("CARGO_PKG_VERSION")
    )
}

/// The usage text, printed on stdout for `--help` and after argument errors.
pub fn usage() -> String {
    format!(
        "{}
Usage: kpartx [-a|-d|-u|-l] [-r] [-p DELIM] [-f] [-g] [-s|-n] [-v] [-t TYPE] DEVICE
       kpartx --udev [-v]            (from a udev rule; reads the event's environment)
       kpartx --check-config [FILE...]
       kpartx --show-policy DEVICE

Maps each partition of DEVICE (a disk, a device-mapper device or an image file)
to a device-mapper linear device under /dev/mapper.

Actions (the last one given counts):
  -a, --add              create maps for all partitions, reload existing ones
  -u, --update           as --add, then drop maps of partitions that disappeared
  -d, --delete           remove the partition maps of DEVICE
  -l, --list             show the maps --add would create (default)
Options:
  -r, --read-only        create read-only maps
  -p, --delimiter DELIM  put DELIM between the device name and the partition
                         number (default: 'p' if the name ends in a digit)
  -f, --force            with -d: also remove maps of a parent that has no
                         device-mapper UUID, without checking their UUID
  -g, --gpt              use a valid GPT even if its protective MBR is broken
  -s, --sync             wait until udev has set up the new devices (default)
  -n, --nosync           return without waiting for udev
  -v, --verbose          report each map created or removed
  -t, --type TYPE        only look for a TYPE table: gpt dos bsd solaris
                         unixware dasd mac sun ps3 (--dos: -t dos)
      --json             with -l: print one JSON object
      --udev-timeout SEC longest wait for udev per operation (default 30)
      --help             show this text
      --version          show the version
",
        version()
    )
}
