//! The raw partition table readers and the invariants they keep on any input.

use crate::{BlockSource, Diagnostics, MAX_SLICES, MemSource, ProbeContext, Slice};

/// A reader's signature.
pub type Reader = fn(&dyn BlockSource, &ProbeContext, &mut Diagnostics) -> Vec<Slice>;

/// Every reader by name, called directly (not through `TableKind::read`, which truncates).
pub const READERS: [(&str, Reader); 9] = [
    ("gpt", crate::gpt::read),
    ("dos", crate::dos::read),
    ("bsd", crate::bsd::read),
    ("solaris", crate::solaris::read),
    ("unixware", crate::unixware::read),
    ("dasd", crate::dasd::read),
    ("mac", crate::mac::read),
    ("sun", crate::sun::read),
    ("ps3", crate::ps3::read),
];

/// Runs `read` on a 512-byte-sector disk; returns its slices and warning lines.
pub fn run_reader(read: Reader, disk: Vec<u8>) -> (Vec<Slice>, Vec<String>) {
    let mut diag = Diagnostics::default();
    let slices = read(&MemSource::new(disk), &ProbeContext::default(), &mut diag);
    (slices, diag.lines().to_vec())
}

/// The (start, size) pairs of `slices`.
pub fn pos(slices: &[Slice]) -> Vec<(u64, u64)> {
    slices.iter().map(|x| (x.start, x.size)).collect()
}

/// What every reader guarantees whatever its input: at most [`MAX_SLICES`] slices, and each
/// container index names another slice of the same list.
pub fn check_slices(slices: &[Slice]) -> Result<(), String> {
    if slices.len() > MAX_SLICES {
        return Err(format!("{} slices (more than {MAX_SLICES})", slices.len()));
    }
    for (i, s) in slices.iter().enumerate() {
        if let Some(c) = s.container
            && (c >= slices.len() || c == i)
        {
            return Err(format!("slice {i} has container {c} of {}", slices.len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_slices;
    use crate::{MAX_SLICES, Slice};

    #[test]
    fn invariants_catch_bad_lists() {
        let mut own = vec![Slice::new(0, 1), Slice::new(1, 1)];
        assert!(check_slices(&own).is_ok());
        own[1].container = Some(1);
        assert!(check_slices(&own).is_err());
        own[1].container = Some(2);
        assert!(check_slices(&own).is_err());
        own[1].container = Some(0);
        assert!(check_slices(&own).is_ok());
        assert!(check_slices(&vec![Slice::new(0, 1); MAX_SLICES + 1]).is_err());
    }
}
