//! Shared helpers for Shoal's cross-crate tests, and the fuzz harnesses.
//!
//! This package is never published. Its library holds:
//! - [`util`]: helpers the integration tests share (descriptor counting, child
//!   processes reaped by PID, reading a server's `listening on ADDR` line);
//! - [`fuzz`]: one plain function per fuzz target. `fuzz/` (cargo-fuzz, libFuzzer) calls
//!   them from its targets, and `tests/fuzz_replay.rs` replays the committed seeds and
//!   past crashes through the same functions on stable Rust, without linking libFuzzer.

pub mod fuzz;
pub mod util;
