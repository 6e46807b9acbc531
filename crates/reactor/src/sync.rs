//! The atomics the waker's flag is written with: `std`'s in a normal build, loom's under
//! `--cfg loom`, so `tests/loom_waker.rs` explores every interleaving of the production
//! protocol.

#[cfg(loom)]
pub(crate) use loom::sync::atomic;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic;
