//! Shared helpers for Shoal's cross-crate tests, and the fuzz harnesses.
//!
//! This package is never published. Its library holds:
//! - [`util`]: the generic test helpers (children reaped by PID, descriptor counting,
//!   the `listening on ADDR` line, role re-exec), re-exported from the std-only
//!   `shoal-test-util` package (`tests/util/`), which the crates' own tests use directly;
//! - [`fuzz`]: one plain function per fuzz target. `fuzz/` (cargo-fuzz, libFuzzer) calls
//!   them from its targets, and `tests/fuzz_replay.rs` replays the committed seeds and
//!   past crashes through the same functions on stable Rust, without linking libFuzzer.

pub mod fuzz;
pub use shoal_test_util as util;
