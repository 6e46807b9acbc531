//! Generic helpers for Shoal's tests, with no dependency but `std` and `rustix`.
//!
//! Every crate of the workspace takes this package as a dev-dependency (as does
//! `shoal-tests`, which re-exports it as `shoal_tests::util`). It depends on no crate of
//! the workspace, so a crate's tests never build another crate of the workspace through it.
//! Helpers that need a crate's own types stay in that crate's `tests/util/mod.rs`.
//!
//! - [`Reaped`]: a spawned child killed and reaped by its PID when dropped;
//! - [`read_listening_line`]: the `listening on ADDR` line servers and examples print;
//! - [`open_fd_count`]: descriptors of this process, for leak checks;
//! - [`role_command`] / [`in_role`]: re-executing the test binary in a role, so that
//!   tests never fork inside the multi-threaded libtest harness;
//! - [`example_path`]: an example binary built by cargo next to the test binary;
//! - [`TempDir`]: a private temporary directory removed on drop;
//! - [`OuterEpoll`]: an epoll instance standing in for another loop, to test nesting.

mod child;
mod dir;
mod epoll;
mod fd;
mod role;

pub use child::{Reaped, read_listening_line};
pub use dir::{TempDir, example_path};
pub use epoll::OuterEpoll;
pub use fd::open_fd_count;
pub use role::{in_role, role_command};
