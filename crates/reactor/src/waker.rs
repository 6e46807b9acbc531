//! [`Waker`]: wakes the loop from any thread and runs a closure on the loop thread.
//!
//! Wake-ups are coalesced: an atomic `pending` flag is set with `swap`, and only the
//! caller that turned it from `false` to `true` writes the eventfd. The loop clears the
//! flag with `swap(false)` **before** draining the eventfd, so a wake racing the drain
//! either sees `false` and writes again, or was already counted by the drain; a wake-up
//! is never lost (tokio#6133 lost them by clearing after).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::event::{EventfdFlags, eventfd};

pub(crate) struct WakerShared {
    eventfd: OwnedFd,
    pending: AtomicBool,
    /// `false` once the loop dropped this waker's source, or in a forked child.
    valid: AtomicBool,
}

impl WakerShared {
    /// `eventfd2(0, EFD_CLOEXEC | EFD_NONBLOCK)`.
    pub(crate) fn new() -> io::Result<Arc<Self>> {
        Ok(Arc::new(WakerShared {
            eventfd: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
            pending: AtomicBool::new(false),
            valid: AtomicBool::new(true),
        }))
    }

    /// On the loop thread, when the eventfd is readable: clear `pending` first, then
    /// drain the counter.
    pub(crate) fn acknowledge(&self) {
        self.pending.swap(false, Ordering::AcqRel);
        let mut counter = [0u8; 8];
        // EAGAIN: a coalesced wake already drained by an earlier acknowledgement.
        let _ = rustix::io::read(&self.eventfd, &mut counter);
    }

    pub(crate) fn invalidate(&self) {
        self.valid.store(false, Ordering::Release);
    }
}

impl AsFd for WakerShared {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.eventfd.as_fd()
    }
}

/// Wakes a [`crate::Reactor`] from any thread; the loop then runs the closure given to
/// [`crate::Context::waker`]. `Send + Sync + Clone`; clones wake the same closure.
#[derive(Clone)]
pub struct Waker {
    shared: Arc<WakerShared>,
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker")
            .field("pending", &self.shared.pending.load(Ordering::Relaxed))
            .field("valid", &self.shared.valid.load(Ordering::Relaxed))
            .finish()
    }
}

impl Waker {
    pub(crate) fn new(shared: Arc<WakerShared>) -> Self {
        Waker { shared }
    }

    /// `write(eventfd, 1)` unless a wake-up is already pending (then no syscall).
    ///
    /// # Errors
    /// `NotConnected` if the waker's loop is gone (the reactor was dropped), or if this
    /// is a forked child and the waker was made before
    /// [`crate::Reactor::reset_after_fork`]; the eventfd write's error.
    pub fn wake(&self) -> io::Result<()> {
        if !self.shared.valid.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "waker is no longer attached to a loop (loop dropped, waker removed, or forked child)",
            ));
        }
        if self.shared.pending.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        match rustix::io::write(&self.shared.eventfd, &1u64.to_ne_bytes()) {
            // EAGAIN: the counter is at its maximum, so the loop is woken anyway.
            Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
