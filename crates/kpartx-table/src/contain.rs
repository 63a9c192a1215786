//! Containment pass shared by the BSD and Sun readers.
//!
//! BSD labels conventionally carry a whole-disk slice ('c'), and Sun labels a whole-disk slice 3,
//! so the other slices usually lie inside one of them. The pass marks such slices as contained
//! and disables slices that straddle the end of another one.
//!
//! For every ordered pair `(i, j)`, `i != j`, `i` in the outer loop, with both sizes currently
//! greater than zero (sizes zeroed earlier in the pass count as zero):
//!
//! * `start_i < start_j` and `start_j < end_i < end_j` (the end of `i` lies strictly inside
//!   `j`): warn `<reader>: slice i overlaps with j` and set `size_i = 0`;
//! * `start_i >= start_j` and `end_i <= end_j`: `container_i = Some(j)`; the last matching `j`
//!   wins.
//!
//! Ends are computed with saturating arithmetic, so huge values never overflow. The indices in
//! the warning are the 0-based slice indices, as the reference prints them.

use super::{Diagnostics, Slice};

/// Runs the containment pass over `slices`, warning as `<reader>: slice %d overlaps with %d`.
///
/// `reader` is the prefix of the warning (`bsd_disklabel`, `sun_disklabel`).
pub fn mark_contained(slices: &mut [Slice], reader: &str, diag: &mut Diagnostics) {
    for i in 0..slices.len() {
        for j in 0..slices.len() {
            if i == j || slices[i].size == 0 || slices[j].size == 0 {
                continue;
            }
            check_pair(slices, i, j, reader, diag);
        }
    }
}

/// Applies the two containment rules to the pair `(i, j)`; both sizes are known to be non-zero.
fn check_pair(slices: &mut [Slice], i: usize, j: usize, reader: &str, diag: &mut Diagnostics) {
    let (start_i, end_i) = (slices[i].start, slices[i].end());
    let (start_j, end_j) = (slices[j].start, slices[j].end());
    if start_i < start_j {
        if end_i > start_j && end_i < end_j {
            diag.warn(format!("{reader}: slice {i} overlaps with {j}"));
            slices[i].size = 0;
        }
    } else if end_i <= end_j {
        slices[i].container = Some(j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[(u64, u64)]) -> (Vec<Slice>, Vec<String>) {
        let mut slices: Vec<Slice> = input.iter().map(|&(s, n)| Slice::new(s, n)).collect();
        let mut diag = Diagnostics::default();
        mark_contained(&mut slices, "test", &mut diag);
        (slices, diag.lines().to_vec())
    }

    #[test]
    fn whole_disk_slice_contains_the_others() {
        let (s, w) = run(&[(0, 1000), (0, 100), (10, 20), (500, 500)]);
        assert!(w.is_empty());
        assert_eq!(s[0].container, None);
        assert_eq!(s[1].container, Some(0));
        assert_eq!(s[2].container, Some(1), "last matching container wins");
        assert_eq!(s[3].container, Some(0));
    }

    #[test]
    fn identical_slices_contain_each_other() {
        let (s, w) = run(&[(0, 10), (0, 10)]);
        assert!(w.is_empty());
        assert_eq!(s[0].container, Some(1));
        assert_eq!(s[1].container, Some(0));
    }

    #[test]
    fn straddling_slice_is_disabled_with_a_warning() {
        let (s, w) = run(&[(0, 100), (50, 100)]);
        assert_eq!(w, vec!["test: slice 0 overlaps with 1".to_string()]);
        assert_eq!(s[0].size, 0);
        assert_eq!(s[1].size, 100);
        assert_eq!(s[1].container, None);
    }

    #[test]
    fn touching_and_disjoint_slices_are_left_alone() {
        let (s, w) = run(&[(0, 100), (100, 100), (300, 5)]);
        assert!(w.is_empty());
        assert!(s.iter().all(|x| x.container.is_none() && x.size > 0));
    }

    #[test]
    fn same_end_is_not_an_overlap() {
        // end_i == end_j: not strictly inside, and start_i < start_j: nothing happens to i,
        // while j lies inside i.
        let (s, w) = run(&[(0, 100), (50, 50)]);
        assert!(w.is_empty());
        assert_eq!(s[0].container, None);
        assert_eq!(s[1].container, Some(0));
    }

    #[test]
    fn zero_size_slices_are_ignored() {
        let (s, w) = run(&[(0, 0), (0, 10), (5, 0)]);
        assert!(w.is_empty());
        assert!(s.iter().all(|x| x.container.is_none()));
    }

    #[test]
    fn disabled_slice_no_longer_takes_part() {
        // 0 straddles 1 and is disabled; it would otherwise contain nothing, and 2 (inside 0's
        // old range only) must not point at it afterwards.
        let (s, w) = run(&[(0, 100), (50, 100), (10, 5)]);
        assert_eq!(w, vec!["test: slice 0 overlaps with 1".to_string()]);
        assert_eq!(s[0].size, 0);
        assert_eq!(s[2].container, None);
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let (s, w) = run(&[(u64::MAX - 1, u64::MAX), (0, u64::MAX), (u64::MAX, 1)]);
        assert!(w.is_empty());
        assert_eq!(s[0].container, Some(1));
        assert_eq!(s[1].container, None);
        assert_eq!(s[2].container, Some(1));
    }
}
