//! Fuzzes reading a udev event from its environment and the decision taken on it. Byte 0 is the
//! policy verdict (bit 0: partitions enabled, bit 1: remove on change, bit 2: the legacy
//! `no_partitions` feature); the rest is `KEY=VALUE` lines of raw bytes, read the way helper
//! mode reads its process environment (`event::environment`, then `UdevEvent::parse`).
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use kpartx::hotplug::decide::{Decision, PolicyVerdict, decide};
use kpartx::hotplug::event::{self, UdevEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&bits, env)) = data.split_first() else {
        return;
    };
    let vars = env.split(|&b| b == b'\n').map(|line| {
        let (key, value) = kpartx_fuzz::split_at_byte(line, b'=');
        (
            OsString::from_vec(key.to_vec()),
            OsString::from_vec(value.to_vec()),
        )
    });
    let Ok(env) = event::environment(vars) else {
        return;
    };
    let Ok(event) = UdevEvent::parse(&env) else {
        return;
    };
    let _ = event.kernel_name();
    let verdict = PolicyVerdict {
        partitions_enabled: bits & 1 != 0,
        remove_on_change: bits & 2 != 0,
    };
    let decision = decide(&event, verdict, || bits & 4 != 0);
    if event.devtype.as_deref() == Some("partition") {
        assert!(matches!(decision, Decision::Ignore(_)), "{decision:?}");
    }
});
