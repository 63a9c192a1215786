//! `kpartx -l` against the reference binary, byte for byte.
//!
//! Two tests share this binary:
//!
//! * `list_matches_reference` (`catalogue.rs`): a fixed catalogue of disk images built with
//!   `sfdisk`, `sgdisk`, `parted` and by hand, listed by the reference (`/usr/sbin/kpartx`) and
//!   by ours. Standard output and exit status must be identical. Our `--json` listing is checked
//!   against our text listing too (`json.rs`).
//! * `differential_random_images` (`differential.rs`, images from `generate.rs`): pseudo-random
//!   images from a fixed seed (valid tables of every format, then mutated), compared the same
//!   way.
//!
//! `harness.rs` runs the two implementations and compares them; `images.rs` builds image files
//! with the tools; `churn.rs` is the optional loop churner. The on-disk builders (DOS, GPT,
//! BSD, Sun), the PRNG and the sparse image are the library's `kpartx::testkit`, shared with the
//! readers' unit tests and the fuzz targets.
//!
//! Differences that src/ documents as deliberate are reported as `KNOWN DIFFERENCE` on stderr
//! and do not fail: the Solaris VTOC layout (catalogue), and in the random images a GPT
//! `header_size` outside 92..=512 or an entry array past the end, a DOS EBR chain that reaches
//! block 2^32 (the reference's 32-bit `getblock` wraps), 32-bit overflow of Apple map entries,
//! and DASD sizes below the start (saturating instead of wrapping); see `hardening`. A
//! reference that crashes and leaves its loop device behind is noted and cleaned up.
//!
//! Both need root, `/dev/loop-control`, the reference binary and the table tools; without them
//! they skip through `kpartx::testkit::host::skip` (a failure where CI sets
//! `KPARTX_TEST_REQUIRE_ALL=1`). Image files go to a temporary directory; the reference
//! attaches a loop device for `-l` and detaches it again (ours reads the file and binds
//! none), and the tests check that no loop is left behind.
//!
//! The loop device number appears in the output, so the cases run strictly one after the
//! other (one mutex for the whole binary). When something else on the machine grabs a loop
//! device between the two runs, the outputs name different loops; such a case is retried, and
//! when retries do not help, compared modulo loop numbers. `KPARTX_TEST_LOOP_CHURN=1` makes
//! both tests run with a thread that attaches and detaches loops in a tight loop the whole time
//! (`scripts/test-all.sh` runs them so once), and fails them if that thread never got a loop.
//!
//! Environment knobs for the differential test: `KPARTX_DIFF_SEED` (decimal or `0x…`, the seed
//! of the first case; case i uses seed + i), `KPARTX_DIFF_CASES` (default 150) and
//! `KPARTX_DIFF_SECONDS` (time budget, default 50). A mismatch prints the case's seed; rerun
//! with `KPARTX_DIFF_SEED=<seed> KPARTX_DIFF_CASES=1` to reproduce it. Mismatching images are
//! also kept under `target/tmp/list-differential/`. `KPARTX_COMPAT_VERBOSE=1` prints every
//! matching case's output too.

mod catalogue;
mod churn;
mod differential;
mod generate;
mod harness;
mod images;
mod json;

#[test]
fn list_matches_reference() {
    catalogue::list_matches_reference();
}

#[test]
fn differential_random_images() {
    differential::differential_random_images();
}
