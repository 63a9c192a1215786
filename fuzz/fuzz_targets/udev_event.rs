//! Fuzzes reading a udev event from its environment and the decision taken on it. Byte 0 is the
//! policy verdict (bit 0: partitions enabled, bit 1: remove on change, bit 2: the legacy
//! `no_partitions` feature); the rest is `KEY=VALUE` lines (invalid UTF-8 replaced).
//!
//! Written against `UdevEvent::parse(&HashMap<String, String>)`.
#![no_main]

use std::collections::HashMap;

use kpartx::hotplug::decide::{Decision, PolicyVerdict, decide};
use kpartx::hotplug::event::UdevEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&bits, env)) = data.split_first() else {
        return;
    };
    let env: HashMap<String, String> = env
        .split(|&b| b == b'\n')
        .map(|line| {
            let (key, value) = kpartx_fuzz::split_at_byte(line, b'=');
            let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            (lossy(key), lossy(value))
        })
        .collect();
    let Ok(event) = UdevEvent::parse(&env) else {
        return;
    };
    let _ = event.kernel_name();
    let verdict = PolicyVerdict {
        partitions_enabled: bits & 1 != 0,
        remove_on_change: bits & 2 != 0,
    };
    let decision = decide(&event, verdict, bits & 4 != 0);
    if event.devtype.as_deref() == Some("partition") {
        assert!(matches!(decision, Decision::Ignore(_)), "{decision:?}");
    }
});
