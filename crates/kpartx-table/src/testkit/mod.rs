//! Test builders: on-disk labels, a sparse image, a PRNG and the readers' invariants.
//!
//! **Not part of the stable API.** Compiled for this crate's own unit tests (`cfg(test)`) and,
//! through the cargo feature `testkit`, for the tests of crates that build on the readers (the
//! `kpartx` package's tests and fuzz targets, this crate's integration tests). The builders are
//! test code: they write files, panic on bad input and use a PRNG, so no normal build enables
//! the feature, and semver does not cover it.
//!
//! * [`Rng`]: the one deterministic PRNG of the tests (SplitMix64).
//! * [`bytes`]: little-endian field helpers.
//! * [`dos`], [`gpt`], [`bsd`], [`sun`], [`solaris`], [`unixware`], [`ps3`]: on-disk label
//!   builders (with literal offsets, independent of the readers' constants).
//! * [`Sparse`]: a sparse disk image in memory, with bit flips and GPT CRC repair.
//! * [`readers`]: the raw readers, a runner and the invariants every reader keeps.

mod rng;
mod sparse;

pub mod bsd;
pub mod bytes;
pub mod dos;
pub mod gpt;
pub mod ps3;
pub mod readers;
pub mod solaris;
pub mod sun;
pub mod unixware;

pub use readers::{Reader, check_slices, pos, run_reader};
pub use rng::Rng;
pub use sparse::Sparse;
