//! [`Waker`]: wakes the loop from any thread and runs a closure on the loop thread.
//!
//! Wake-ups are coalesced by a [`WakeFlag`]: `wake` sets an atomic `pending` flag with
//! `swap`, and only the caller that turned it from `false` to `true` writes the eventfd.
//! The loop drains the eventfd, **then** clears the flag with `swap(false)`, **then**
//! runs the closure, which drains the data queue (tokio#6133: clear before draining the
//! data, never after). A wake racing this either finds the flag still set before the
//! clear (its data is queued before the closure runs) or sets it again after the clear
//! and writes the eventfd (one more wake-up). Clearing the flag before draining the
//! *eventfd* would lose a wake-up: a wake between the two would write an eventfd count
//! that the drain then swallows, leaving the flag set with nothing to wake the loop.
//! `tests/loom_waker.rs` checks this with loom.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::registry::Token;
use crate::sync::atomic::{AtomicBool as ModelledBool, Ordering as ModelledOrdering};

use rustix::event::{EventfdFlags, eventfd};

/// The coalescing flag of a waker, with the two halves of its protocol. Generic over
/// how the wake-up is signalled and drained so the loom model runs this very code.
#[doc(hidden)]
pub struct WakeFlag {
    pending: ModelledBool,
}

impl WakeFlag {
    /// A flag with no wake-up pending.
    pub fn new() -> Self {
        WakeFlag {
            pending: ModelledBool::new(false),
        }
    }

    /// Waker side: `signal` (the eventfd write) runs only if no wake-up was pending.
    /// Returns whether it ran.
    pub fn request(&self, signal: impl FnOnce()) -> bool {
        if self.pending.swap(true, ModelledOrdering::AcqRel) {
            return false;
        }
        signal();
        true
    }

    /// Loop side, when the wake-up fired: `drain` (the eventfd read) first, then the
    /// flag is cleared; the caller drains its data only after this returns.
    pub fn acknowledge(&self, drain: impl FnOnce()) {
        drain();
        self.pending.swap(false, ModelledOrdering::AcqRel);
    }

    fn is_pending(&self) -> bool {
        self.pending.load(ModelledOrdering::Relaxed)
    }
}

impl Default for WakeFlag {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) struct WakerShared {
    eventfd: OwnedFd,
    flag: WakeFlag,
    /// `false` once the loop dropped this waker's source, or in a forked child.
    valid: AtomicBool,
}

impl WakerShared {
    /// `eventfd2(0, EFD_CLOEXEC | EFD_NONBLOCK)`.
    pub(crate) fn new() -> io::Result<Arc<Self>> {
        Ok(Arc::new(WakerShared {
            eventfd: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
            flag: WakeFlag::new(),
            valid: AtomicBool::new(true),
        }))
    }

    /// On the loop thread, when the eventfd is readable: drain it, then clear the flag
    /// (see the module documentation for why in this order).
    pub(crate) fn acknowledge(&self) {
        self.flag.acknowledge(|| {
            let mut counter = [0u8; 8];
            // EAGAIN: nothing to drain (a wake-up already consumed).
            let _ = rustix::io::read(&self.eventfd, &mut counter);
        });
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
///
/// [`crate::Context::remove_waker`] takes the waker out of its loop (its closure is
/// dropped); the eventfd is closed when the last clone is dropped.
#[derive(Clone)]
pub struct Waker {
    shared: Arc<WakerShared>,
    token: Token,
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker")
            .field("pending", &self.shared.flag.is_pending())
            .field("valid", &self.shared.valid.load(Ordering::Relaxed))
            .finish()
    }
}

impl Waker {
    pub(crate) fn new(shared: Arc<WakerShared>, token: Token) -> Self {
        Waker { shared, token }
    }

    /// The loop's token for this waker.
    pub(crate) fn token(&self) -> Token {
        self.token
    }

    /// Whether `shared` is this waker's state (a token alone may name a waker of
    /// another loop).
    pub(crate) fn shares(&self, shared: &Arc<WakerShared>) -> bool {
        Arc::ptr_eq(&self.shared, shared)
    }

    /// `write(eventfd, 1)` unless a wake-up is already pending (then no syscall).
    ///
    /// # Errors
    /// `NotConnected` if the waker's loop is gone (the reactor was dropped), if the waker
    /// was removed ([`crate::Context::remove_waker`]), or if this is a forked child and the waker was made before
    /// [`crate::Reactor::reset_after_fork`]; the eventfd write's error.
    pub fn wake(&self) -> io::Result<()> {
        if !self.shared.valid.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "waker is no longer attached to a loop (loop dropped, waker removed, or forked child)",
            ));
        }
        let mut result = Ok(());
        self.shared.flag.request(|| {
            result = match rustix::io::write(&self.shared.eventfd, &1u64.to_ne_bytes()) {
                // EAGAIN: the counter is at its maximum, so the loop is woken anyway.
                Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
                Err(e) => Err(e.into()),
            };
        });
        result
    }
}
