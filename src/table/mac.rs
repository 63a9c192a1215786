//! mac reader (to be written).

use super::{BlockSource, Diagnostics, ProbeContext, Slice};

/// Reads a mac table; an empty result means "not this format, or no partitions".
pub fn read(_src: &dyn BlockSource, _ctx: &ProbeContext, _diag: &mut Diagnostics) -> Vec<Slice> {
    Vec::new()
}
