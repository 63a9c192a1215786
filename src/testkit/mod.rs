//! Builders and checks shared by the unit tests and the integration tests.
//!
//! Compiled for the library's own unit tests (`cfg(test)`) and, through the cargo feature
//! `testkit`, for everything else that tests it: `Cargo.toml` enables the feature with a
//! dev-dependency of the package on itself (`kpartx = { path = ".", features = ["testkit"] }`),
//! so integration tests see `kpartx::testkit`. A feature rather than an always-compiled
//! `#[doc(hidden)]` module because the builders are test code (file writes, panics on bad
//! input, a PRNG) with no place in the shipped binary, and `cargo build --release` never
//! enables it (dev-dependency features are only unified into builds of test targets).
//!
//! The builders of on-disk labels belong to the readers' crate (`kpartx_table::testkit`, behind
//! its own `testkit` feature, which this crate's feature turns on; the fuzz crate uses it
//! directly) and are re-exported here:
//!
//! * [`Rng`]: the one deterministic PRNG of the tests (SplitMix64).
//! * [`bytes`]: little-endian field helpers.
//! * [`dos`], [`gpt`], [`bsd`], [`sun`], [`solaris`], [`unixware`], [`ps3`]: on-disk label
//!   builders (with literal offsets, independent of the readers' constants).
//! * [`Sparse`]: a sparse disk image in memory, with bit flips and GPT CRC repair.
//! * [`readers`]: the raw readers, a runner and the invariants every reader keeps.
//!
//! Its own:
//!
//! * [`host`]: facts about the machine the host tests run on, and the one skip helper.
//! * [`fake`]: a machine in memory (devices, device-mapper, locks, loops) that the engine's
//!   use cases run on in tests.

pub mod fake;
pub mod host;

// The label builders, the PRNG, the sparse image and the readers' invariants live with the
// readers (`kpartx_table::testkit`, enabled by this crate's `testkit` feature).
pub use kpartx_table::testkit::{
    Reader, Rng, Sparse, bsd, bytes, check_slices, dos, gpt, pos, ps3, readers, run_reader,
    solaris, sun, unixware,
};
