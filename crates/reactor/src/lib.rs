//! Callback event loop on epoll: sockets with write queues, timers, a post-loop hook and a cross-thread waker.
//!
//! `shoal-reactor` descends from the Perl module Danga::Socket (documentation in
//! `shared/seeds/001_7e5a8567cb4f8a3d.txt`); see `docs/architecture.md` for where it fits in Shoal.
//!
//! **Not built yet.** This crate is a placeholder in the workspace so that the checks
//! (`cargo xtask ci`) cover it from the start; it exports nothing.
