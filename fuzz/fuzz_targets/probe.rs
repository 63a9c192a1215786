//! Fuzzes the whole probe (every reader in order, first non-empty wins), then each `-t` filter.
//! Byte 0 picks the sector size and device facts (see `src/lib.rs`).
#![no_main]

use kpartx_table::{Diagnostics, TableKind, TypeFilter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((src, ctx)) = kpartx_fuzz::setup(data) else {
        return;
    };
    let mut diag = Diagnostics::default();
    if let Some(t) = kpartx_table::probe(&src, &ctx, &TypeFilter::All, &mut diag) {
        assert!(!t.slices.is_empty());
        kpartx_fuzz::check(&t.slices);
    }
    for kind in TableKind::ALL {
        let mut diag = Diagnostics::default();
        kpartx_fuzz::check(&kind.read(&src, &ctx, &mut diag));
    }
});
