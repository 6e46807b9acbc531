//! The reserve descriptor: one table slot kept free for `recvmsg`.
//!
//! When the descriptor table is full the kernel drops the descriptors of the message it
//! delivers (`MSG_CTRUNC`), and they are lost for good. As the original did, a passer
//! keeps a spare descriptor (a `dup` of its own socket), closes it just before each
//! `recvmsg` so the incoming descriptor has a free slot, and duplicates it again
//! afterwards. If that fails the table is full: receiving pauses (the next message stays
//! safe in the kernel) until a retry finds a free slot.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long receiving pauses after the table was found full (the original's 0.5 s).
pub const RESERVE_RETRY: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub(crate) struct Reserve {
    /// False when the passer was built without a reserve: every call is then a no-op.
    enabled: bool,
    fd: Option<OwnedFd>,
    /// When receiving may be retried; `Some` while paused.
    paused_until: Option<Instant>,
}

impl Reserve {
    pub(crate) fn new(socket: BorrowedFd<'_>, enabled: bool) -> Self {
        let mut reserve = Reserve {
            enabled,
            fd: None,
            paused_until: None,
        };
        reserve.refill(socket);
        reserve
    }

    /// Makes sure the spare slot is held; pauses receiving (and returns false) if the
    /// table is full.
    pub(crate) fn refill(&mut self, socket: BorrowedFd<'_>) -> bool {
        if self.enabled && self.fd.is_none() {
            match rustix::io::fcntl_dupfd_cloexec(socket.as_fd(), 0) {
                Ok(fd) => self.fd = Some(fd),
                Err(_) => {
                    self.paused_until = Some(Instant::now() + RESERVE_RETRY);
                    return false;
                }
            }
        }
        self.paused_until = None;
        true
    }

    /// Frees the spare slot right before a `recvmsg`.
    pub(crate) fn release(&mut self) {
        self.fd = None;
    }

    pub(crate) fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }
}
