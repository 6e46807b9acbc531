//! The synchronisation types the handoff protocol is written with (atomics, and the
//! mutex around the consumer's taken runs): `std`'s in a normal
//! build, loom's under `--cfg loom` so that the models in `tests/loom_*.rs` explore every
//! interleaving of the very code that runs in production (tokio does the same).

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, atomic};

#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, atomic};
