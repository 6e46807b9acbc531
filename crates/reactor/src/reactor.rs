//! [`Reactor`]: owns the [`Context`] and drives the loop.

use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use crate::context::Context;
use crate::poller::Backend;
use crate::readiness::Readiness;
use crate::registry::Token;

/// The event loop (Danga::Socket's class-level state, as a value you own).
///
/// One iteration ([`Reactor::run_once`]): one wait for events (as long as the next
/// timer, the loop timeout and the caller allow; not at all while sockets have
/// pushed-back bytes or closes are pending); dispatch each event whose token is still
/// live; run the timers now due; serve sockets with pushed-back bytes; drop the sources
/// closed during the iteration; run the post-loop callback. (Danga::Socket ran timers
/// before the wait; after it, a timer that fell due during the wait runs before the
/// post-loop callback of the same iteration, which can then stop the loop.) Derefs to [`Context`] for registration.
pub struct Reactor {
    cx: Context,
    events: Vec<(Token, Readiness)>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.cx.fmt(f)
    }
}

impl Reactor {
    /// A loop on epoll (`epoll_create1(EPOLL_CLOEXEC)`).
    ///
    /// # Errors
    /// `epoll_create1` failed (`EMFILE`, `ENOMEM`).
    pub fn new() -> io::Result<Reactor> {
        Self::with_backend(Backend::Epoll)
    }

    /// A loop on the chosen backend.
    ///
    /// # Errors
    /// Creating the poller failed.
    pub fn with_backend(backend: Backend) -> io::Result<Reactor> {
        Ok(Reactor {
            cx: Context::new(backend)?,
            events: Vec::new(),
        })
    }

    /// Runs iterations until [`Context::stop`] is called or the post-loop callback
    /// returns `false`; then clears the stop flag, so `run` can be called again.
    ///
    /// # Errors
    /// The poller's wait failed (not `EINTR`, which is retried).
    pub fn run(&mut self) -> io::Result<()> {
        let result = loop {
            if self.cx.stop {
                break Ok(());
            }
            if let Err(e) = self.run_once(None) {
                break Err(e);
            }
        };
        self.cx.stop = false;
        result
    }

    /// Runs one iteration, waiting at most `max_wait` (`None`: until an event, the next
    /// timer or the loop timeout). Does not clear the stop flag.
    ///
    /// # Errors
    /// The poller's wait failed (not `EINTR`, which is retried with the remaining time).
    pub fn run_once(&mut self, max_wait: Option<Duration>) -> io::Result<()> {
        let cx = &mut self.cx;
        cx.iteration += 1;
        let timeout = cx.wait_timeout(max_wait);
        self.events.clear();
        cx.registry.wait(&mut self.events, timeout)?;
        for &(token, readiness) in &self.events {
            cx.dispatch(token, readiness);
        }
        cx.run_due_timers();
        cx.serve_ready();
        cx.close_deferred();
        cx.run_post_loop();
        Ok(())
    }

    /// After `fork`, in the child: a fresh poller (the parent's epoll instance is leaked,
    /// never closed nor deleted from, since the child shares it), every socket and fd
    /// registered again with it, and every waker removed — `Waker`s made before the fork
    /// return an error from `wake` in the child. Timers and settings are kept.
    ///
    /// # Errors
    /// Creating the poller or registering a source failed.
    pub fn reset_after_fork(&mut self) -> io::Result<()> {
        self.cx.reset_after_fork()
    }
}

/// The poller's epoll fd (both backends have one on Linux: ours, or the `polling`
/// crate's), so another loop can watch this reactor.
///
/// The fd is readable while some registered source has an event to dispatch; it does
/// not show the work the reactor keeps to itself: timers, the loop timeout, sockets with
/// pushed-back bytes (the ready list), closes deferred from outside an iteration and a
/// pending stop. The nested-wait contract is therefore: before each wait, the outer
/// loop bounds its timeout by [`Context::next_wait`] (`Some(ZERO)` while
/// [`Context::has_pending_work`]); when the fd fires or that timeout passes, it calls
/// [`Reactor::run_once`]`(Some(Duration::ZERO))`. A wake-up may find nothing to do: an
/// event of a source closed since, or with `Backend::Polling` (feature `polling`) the
/// `polling` crate's internal timerfd or notifier firing once; that iteration just
/// returns.
/// [`Reactor::reset_after_fork`] replaces the poller: re-register the new fd.
impl AsFd for Reactor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.cx.registry.as_fd()
    }
}

impl Deref for Reactor {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.cx
    }
}

impl DerefMut for Reactor {
    fn deref_mut(&mut self) -> &mut Context {
        &mut self.cx
    }
}
