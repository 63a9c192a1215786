//! dasd reader (to be written).

use super::{BlockSource, Diagnostics, ProbeContext, Slice};

/// What the DASD reader may know about the device beyond its bytes.
#[derive(Debug, Clone, Default)]
pub struct DasdDevice {}

/// Reads a DASD label; an empty result means "not this format".
pub fn read(_src: &dyn BlockSource, _ctx: &ProbeContext, _diag: &mut Diagnostics) -> Vec<Slice> {
    Vec::new()
}
