//! Builders and checks shared by the unit tests, the integration tests and the fuzz targets.
//!
//! Compiled for the library's own unit tests (`cfg(test)`) and, through the cargo feature
//! `testkit`, for everything else that tests it: `Cargo.toml` enables the feature with a
//! dev-dependency of the package on itself (`kpartx = { path = ".", features = ["testkit"] }`),
//! so integration tests see `kpartx::testkit`, and `fuzz/Cargo.toml` enables it for the fuzz
//! crate. A feature rather than an always-compiled `#[doc(hidden)]` module because the builders
//! are test code (file writes, panics on bad input, a PRNG) with no place in the shipped binary,
//! and `cargo build --release` never enables it (dev-dependency features are only unified into
//! builds of test targets).
//!
//! * [`Rng`]: the one deterministic PRNG of the tests (SplitMix64).
//! * [`bytes`]: little-endian field helpers.
//! * [`dos`], [`gpt`], [`bsd`], [`sun`], [`solaris`], [`unixware`], [`ps3`]: on-disk label
//!   builders (with literal offsets, independent of the readers' constants).
//! * [`Sparse`]: a sparse disk image in memory, with bit flips and GPT CRC repair.
//! * [`readers`]: the raw readers, a runner and the invariants every reader keeps.
//! * [`host`]: facts about the machine the host tests run on, and the one skip helper.
//! * [`fake`]: a machine in memory (devices, device-mapper, locks, loops) that the engine's
//!   use cases run on in tests.

mod rng;
mod sparse;

pub mod bsd;
pub mod bytes;
pub mod dos;
pub mod fake;
pub mod gpt;
pub mod host;
pub mod ps3;
pub mod readers;
pub mod solaris;
pub mod sun;
pub mod unixware;

pub use readers::{Reader, check_slices, pos, run_reader};
pub use rng::Rng;
pub use sparse::Sparse;
