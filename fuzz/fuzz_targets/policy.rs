//! Fuzzes policy loading from text, then evaluation. The input up to the first NUL byte is the
//! policy file (invalid UTF-8 replaced); the rest, split on NUL, gives the device's kernel name,
//! DM name, DM UUID, WWID, serial and backing file (empty or missing fields are absent).
#![no_main]

use std::path::Path;

use kpartx::policy::{DeviceFacts, DeviceKind, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, rest) = kpartx_fuzz::split_at_byte(data, 0);
    let text = String::from_utf8_lossy(text);
    let policy = match Policy::from_text(Path::new("fuzz.toml"), &text) {
        Ok(policy) => policy,
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                assert!(e.line >= 1 && e.column >= 1, "{e}");
            }
            return;
        }
    };
    let mut fields = rest.split(|&b| b == 0).map(String::from_utf8_lossy);
    let mut field = || {
        fields
            .next()
            .filter(|f| !f.is_empty())
            .map(|f| f.into_owned())
    };
    let facts = DeviceFacts {
        kernel_name: field().unwrap_or_default(),
        dm_name: field(),
        dm_uuid: field(),
        wwid: field(),
        serial: field(),
        backing_file: field().map(Into::into),
    };
    let eff = policy.evaluate(&facts);
    if eff.kind == DeviceKind::PartitionMap {
        assert!(!eff.partitions_enabled && eff.matched_rules.is_empty());
    } else {
        assert!(
            !eff.matched_rules.is_empty(),
            "a built-in rule always matches"
        );
    }
    let _ = kpartx::render::policy::show(&eff, &facts);
});
