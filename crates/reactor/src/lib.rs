//! Callback event loop on epoll: sockets with write queues, timers, a post-loop hook and
//! a cross-thread waker.
//!
//! `shoal-reactor` descends from the Perl module Danga::Socket (documentation in
//! `shared/seeds/001_7e5a8567cb4f8a3d.txt`); the guide is `docs/reactor.md`.
//!
//! ```no_run
//! use shoal_reactor::{Reactor, Read, Socket};
//!
//! let mut reactor = Reactor::new()?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! reactor.register_socket(listener, |sock: &mut Socket<'_>| {
//!     while let Ok(Some(fd)) = sock.accept() {
//!         let echo = |conn: &mut Socket<'_>| match conn.read(64 * 1024) {
//!             Ok(Read::Data(bytes)) => { let _ = conn.write_vec(bytes); }
//!             Ok(Read::WouldBlock) => {}
//!             Ok(Read::Eof) | Err(_) => conn.close("peer done"),
//!         };
//!         let _ = sock.context().register_socket(fd, echo);
//!     }
//! })?;
//! reactor.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Building blocks usable without the callback loop (`shoal-mux` does): [`Registry`]
//! (generational tokens over the poller), [`TimerHeap`], [`WriteQueue`].

mod context;
mod poller;
#[cfg(feature = "polling")]
mod polling_backend;
mod profile;
mod reactor;
mod readiness;
pub mod registry;
mod socket;
mod sync;
pub mod timer;
mod waker;
pub mod write_queue;

pub use context::{Context, DEFAULT_READ_BUDGET, TimerHandle};
pub use poller::Backend;
pub use profile::{Profile, ProfileEntry, thread_cpu_time};
pub use reactor::Reactor;
pub use readiness::{Interest, Readiness};
pub use registry::{Registry, Token};
pub use socket::{
    ACCEPT_RETRY, CloseReason, Completion, Handler, Read, Socket, WriteError, WriterFn,
};
pub use timer::{TimerHeap, TimerId};
pub use waker::{WakeFlag, Waker};
pub use write_queue::{Flush, FlushStop, QueueFull, WriteMode, WriteQueue};
