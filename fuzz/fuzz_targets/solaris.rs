//! Fuzzes the `solaris` reader. Byte 0 picks the sector size and device facts (see `src/lib.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kpartx_fuzz::run(data, kpartx_table::solaris::read));
