//! [`Context`]: the loop's state, handed to every callback as `&mut Context`.
//!
//! Callbacks never hold references into the loop: a socket handler, fd closure or waker
//! closure is taken out of its slot while it runs and put back afterwards (unless its
//! source was stolen meanwhile), so from inside a callback the whole `Context` is free to
//! use: register and close sources, add and cancel timers, stop the loop.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::poller::Backend;
use crate::profile::{self, Profile};
use crate::readiness::{Interest, Readiness};
use crate::registry::{Registry, Token};
use crate::socket::{Handler, Socket, SocketState};
use crate::timer::{TimerHeap, TimerId};
use crate::waker::{Waker, WakerShared};
use crate::write_queue::DEFAULT_LIMIT;

pub(crate) type TimerFn = Box<dyn FnOnce(&mut Context)>;
type FdFn = Box<dyn FnMut(&mut Context, Token, Readiness)>;
type WakeFn = Box<dyn FnMut(&mut Context)>;
type PostLoopFn = Box<dyn FnMut(&mut Context) -> bool>;

/// Default bytes a socket may read from the kernel per loop iteration (fairness).
pub const DEFAULT_READ_BUDGET: usize = 256 << 10;

pub(crate) struct FdSource {
    fd: Box<dyn AsFd>,
    callback: Option<FdFn>,
    closed: bool,
}

pub(crate) struct WakerSource {
    shared: Arc<WakerShared>,
    callback: Option<WakeFn>,
}

impl Drop for WakerSource {
    fn drop(&mut self) {
        self.shared.invalidate();
    }
}

pub(crate) enum Source {
    Socket(Box<SocketState>),
    Fd(FdSource),
    Waker(WakerSource),
}

impl AsFd for Source {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Source::Socket(s) => s.fd.as_fd(),
            Source::Fd(f) => f.fd.as_fd(),
            Source::Waker(w) => w.shared.as_fd(),
        }
    }
}

/// A pending timer; cancel it with [`TimerHandle::cancel`] or [`Context::cancel_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerHandle(TimerId);

impl TimerHandle {
    /// Cancels the timer (O(log n), nothing left behind). Returns `false` if it already
    /// fired or was cancelled.
    pub fn cancel(self, cx: &mut Context) -> bool {
        cx.cancel_timer(self)
    }

    /// Whether the timer is still pending.
    pub fn is_pending(self, cx: &Context) -> bool {
        cx.timers.contains(self.0)
    }
}

/// The event loop's state: sources, timers, wakers, the deferred-close list, settings.
/// [`crate::Reactor`] owns one and derefs to it.
pub struct Context {
    pub(crate) registry: Registry<Source>,
    pub(crate) timers: TimerHeap<TimerFn>,
    pub(crate) to_close: Vec<Token>,
    pub(crate) ready: Vec<Token>,
    pub(crate) stop: bool,
    pub(crate) loop_timeout: Option<Duration>,
    pub(crate) post_loop: Option<PostLoopFn>,
    pub(crate) profile: Option<Profile>,
    pub(crate) iteration: u64,
    pub(crate) read_budget: usize,
    pub(crate) write_limit: usize,
    /// Kernel reads of `Socket::read` land here first (at most 1 MiB, reused).
    pub(crate) read_scratch: Vec<u8>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("backend", &self.registry.backend())
            .field("sources", &self.registry.len())
            .field("timers", &self.timers.len())
            .field("to_close", &self.to_close)
            .field("stop", &self.stop)
            .finish()
    }
}

impl Context {
    pub(crate) fn new(backend: Backend) -> io::Result<Self> {
        Ok(Context {
            registry: Registry::new(backend)?,
            timers: TimerHeap::new(),
            to_close: Vec::new(),
            ready: Vec::new(),
            stop: false,
            loop_timeout: None,
            post_loop: None,
            profile: None,
            iteration: 0,
            read_budget: DEFAULT_READ_BUDGET,
            write_limit: DEFAULT_LIMIT,
            read_scratch: Vec::new(),
        })
    }

    /// The poller backend in use.
    pub fn backend(&self) -> Backend {
        self.registry.backend()
    }

    // ----- sockets -----

    /// Registers a socket with its handler, watched for readability. The fd is made
    /// non-blocking (`ioctl(FIONBIO)`); it is written with `sendmsg(MSG_NOSIGNAL)` if
    /// `fstat` says it is a socket, with `writev` otherwise (a pipe works too).
    ///
    /// # Errors
    /// `ioctl`, `fstat` or `epoll_ctl` failed; the fd is closed.
    pub fn register_socket(
        &mut self,
        fd: impl Into<OwnedFd>,
        handler: impl Handler + 'static,
    ) -> io::Result<Token> {
        let fd = fd.into();
        rustix::io::ioctl_fionbio(&fd, true)?;
        let state = SocketState::new(fd, Box::new(handler), self.write_limit)?;
        self.registry
            .insert(Source::Socket(Box::new(state)), Interest::READ)
    }

    /// A view of the socket under `token`, to read, write, close it from outside its own
    /// handler; `None` if the token is stale or names another kind of source.
    pub fn socket(&mut self, token: Token) -> Option<Socket<'_>> {
        match self.registry.get(token) {
            Some(Source::Socket(_)) => Some(Socket::new(self, token)),
            _ => None,
        }
    }

    pub(crate) fn socket_state(&mut self, token: Token) -> Option<&mut SocketState> {
        match self.registry.get_mut(token) {
            Some(Source::Socket(s)) => Some(s),
            _ => None,
        }
    }

    // ----- other fds -----

    /// Registers any fd (a UDP socket, a pipe, an `Arc<UdpSocket>` shared with a thread)
    /// with `interest` and a plain closure called with the readiness. The fd is left as
    /// it is (blocking or not: the closure decides how it reads).
    ///
    /// # Errors
    /// `epoll_ctl` failed; the fd is dropped.
    pub fn register_fd(
        &mut self,
        fd: impl AsFd + 'static,
        interest: Interest,
        callback: impl FnMut(&mut Context, Token, Readiness) + 'static,
    ) -> io::Result<Token> {
        let source = FdSource {
            fd: Box::new(fd),
            callback: Some(Box::new(callback)),
            closed: false,
        };
        self.registry.insert(Source::Fd(source), interest)
    }

    /// Changes the interest of any source (an fd registered with
    /// [`Context::register_fd`], or a socket, overriding its watch flags until they next
    /// change). An empty interest takes the fd out of the poller.
    ///
    /// # Errors
    /// `NotFound` for a stale or closed token; the `epoll_ctl` error.
    pub fn set_interest(&mut self, token: Token, interest: Interest) -> io::Result<()> {
        self.registry.set_interest(token, interest)
    }

    /// Takes an fd registered with [`Context::register_fd`] back out of the loop at once
    /// (deleted from the poller, not closed); `None` for a stale token or another kind.
    pub fn take_fd(&mut self, token: Token) -> Option<Box<dyn AsFd>> {
        if !matches!(self.registry.get(token), Some(Source::Fd(f)) if !f.closed) {
            return None;
        }
        match self.registry.remove(token) {
            Some(Source::Fd(f)) => Some(f.fd),
            _ => None,
        }
    }

    /// Closes any source: deleted from the poller now (no further callback), dropped (so
    /// its fd closed) at the end of the loop iteration, so its fd number cannot be reused
    /// within the current batch of events. For a socket this is [`Socket::close`].
    pub fn close(&mut self, token: Token, reason: &str) {
        match self.registry.get_mut(token) {
            Some(Source::Socket(_)) => {
                Socket::new(self, token).close(reason);
            }
            Some(Source::Fd(f)) if !f.closed => {
                f.closed = true;
                self.registry.deregister(token);
                self.to_close.push(token);
            }
            Some(Source::Waker(_)) => {
                self.registry.deregister(token);
                self.to_close.push(token);
            }
            _ => {}
        }
    }

    // ----- wakers -----

    /// Creates a [`Waker`] (an `eventfd`, `EFD_CLOEXEC | EFD_NONBLOCK`) whose wake-ups
    /// run `on_wake` on the loop thread. Several wakers may exist; clones of one share
    /// its closure. Many wakes before the loop gets to run coalesce into one call.
    ///
    /// # Errors
    /// `eventfd` or `epoll_ctl` failed.
    pub fn waker(&mut self, on_wake: impl FnMut(&mut Context) + 'static) -> io::Result<Waker> {
        let shared = WakerShared::new()?;
        let source = WakerSource {
            shared: Arc::clone(&shared),
            callback: Some(Box::new(on_wake)),
        };
        let token = self
            .registry
            .insert(Source::Waker(source), Interest::READ)?;
        Ok(Waker::new(shared, token))
    }

    /// Takes `waker` out of the loop at once: its eventfd is deleted from the poller
    /// (`epoll_ctl(EPOLL_CTL_DEL)`) and its closure dropped (after it returns, if this is
    /// called from inside it); from then on `wake` on any clone returns `NotConnected`.
    /// The eventfd itself is closed when the last clone of the `Waker` is dropped, so it
    /// is never closed while still in the poller. Returns `false` if the waker is not in
    /// this loop (already removed or closed, removed by
    /// [`crate::Reactor::reset_after_fork`], or made by another loop).
    pub fn remove_waker(&mut self, waker: &Waker) -> bool {
        let token = waker.token();
        if !matches!(self.registry.get(token), Some(Source::Waker(w)) if waker.shares(&w.shared)) {
            return false;
        }
        // Dropping the source invalidates the waker and drops the closure.
        self.registry.remove(token).is_some()
    }

    // ----- timers -----

    /// Runs `callback` once, `after` from now (in the first iteration whose wait ends after it is due).
    /// The poller's timeout is rounded up to the next millisecond, never down to a spin.
    pub fn add_timer(
        &mut self,
        after: Duration,
        callback: impl FnOnce(&mut Context) + 'static,
    ) -> TimerHandle {
        let deadline = Instant::now().checked_add(after).unwrap_or_else(far_future);
        TimerHandle(self.timers.insert(deadline, Box::new(callback)))
    }

    /// Cancels a timer; `false` if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, handle: TimerHandle) -> bool {
        self.timers.cancel(handle.0).is_some()
    }

    /// Number of pending timers.
    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    // ----- loop control -----

    /// Whether an iteration has work that the poller's fd does not show: sockets with
    /// pushed-back bytes (served at the end of an iteration without a wait), closes
    /// requested outside an iteration, or a requested stop. A loop that nests this reactor
    /// through its fd (`impl AsFd for Reactor`) must not sleep while this is true.
    pub fn has_pending_work(&self) -> bool {
        self.stop || !self.ready.is_empty() || !self.to_close.is_empty()
    }

    /// How long a loop that nests this reactor may wait on its fd before calling
    /// [`crate::Reactor::run_once`]: `Some(ZERO)` while [`Context::has_pending_work`],
    /// otherwise until the next timer or the loop timeout; `None` when only the fd can
    /// bring work.
    pub fn next_wait(&self) -> Option<Duration> {
        self.wait_timeout(None)
    }

    /// Makes [`crate::Reactor::run`] return after the current iteration.
    pub fn stop(&mut self) {
        self.stop = true;
    }

    /// Whether [`Context::stop`] was called (or the post-loop callback said stop) since
    /// the loop last returned.
    pub fn is_stopping(&self) -> bool {
        self.stop
    }

    /// The longest a loop iteration waits for events (Danga's `SetLoopTimeout`); `None`
    /// (the default) waits until an event or the next timer.
    pub fn set_loop_timeout(&mut self, timeout: Option<Duration>) {
        self.loop_timeout = timeout;
    }

    /// The loop timeout.
    pub fn loop_timeout(&self) -> Option<Duration> {
        self.loop_timeout
    }

    /// Sets the callback run at the end of every iteration (after deferred closes);
    /// returning `false` stops the loop. Replaces any earlier one.
    pub fn set_post_loop_callback(&mut self, callback: impl FnMut(&mut Context) -> bool + 'static) {
        self.post_loop = Some(Box::new(callback));
    }

    /// Removes the post-loop callback.
    pub fn clear_post_loop_callback(&mut self) {
        self.post_loop = None;
    }

    /// Bytes a socket may read from the kernel per iteration before [`Socket::read`]
    /// reports `WouldBlock` (level-triggered polling reports it again next iteration, so
    /// one busy peer cannot starve the others).
    pub fn set_read_budget(&mut self, bytes: usize) {
        self.read_budget = bytes.max(1);
    }

    /// The write-queue byte limit given to sockets registered from now on.
    pub fn set_default_write_limit(&mut self, bytes: usize) {
        self.write_limit = bytes;
    }

    // ----- introspection -----

    /// Danga's `DescriptorMap`: every registered socket (closing ones included until the
    /// end of the iteration) with its fd.
    pub fn descriptor_map(&self) -> impl Iterator<Item = (Token, BorrowedFd<'_>)> + '_ {
        self.registry
            .iter()
            .filter_map(|(token, source)| match source {
                Source::Socket(s) => Some((token, s.fd.as_fd())),
                _ => None,
            })
    }

    /// Danga's `OtherFds`: every fd registered with [`Context::register_fd`].
    pub fn other_fds(&self) -> impl Iterator<Item = (Token, BorrowedFd<'_>)> + '_ {
        self.registry
            .iter()
            .filter_map(|(token, source)| match source {
                Source::Fd(f) => Some((token, f.fd.as_fd())),
                _ => None,
            })
    }

    /// Danga's `WatchedSockets`: number of sources in the loop (sockets, other fds and
    /// wakers, closing ones included until the end of the iteration).
    pub fn watched_count(&self) -> usize {
        self.registry.len()
    }

    /// Danga's `ToClose`: sources closed during this iteration, dropped at its end.
    pub fn to_be_closed(&self) -> &[Token] {
        &self.to_close
    }

    /// Danga's `DebugMsg`: a debug line through the `log` facade (target
    /// `shoal_reactor`) instead of stderr.
    #[cfg(feature = "log")]
    pub fn debugmsg(&self, args: fmt::Arguments<'_>) {
        log::debug!(target: "shoal_reactor", "{args}");
    }

    // ----- profiling -----

    /// Turns profiling on, clearing earlier data.
    pub fn enable_profiling(&mut self) {
        self.profile = Some(Profile::new());
    }

    /// Turns profiling off and returns what was collected.
    pub fn disable_profiling(&mut self) -> Option<Profile> {
        self.profile.take()
    }

    /// The data collected so far, if profiling is on.
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    pub(crate) fn profile_start(&self) -> Option<Duration> {
        self.profile.as_ref().map(|_| profile::thread_cpu_time())
    }

    pub(crate) fn profile_end(
        &mut self,
        key: (&'static str, &'static str),
        start: Option<Duration>,
    ) {
        if let (Some(p), Some(start)) = (self.profile.as_mut(), start) {
            profile::record(p, key, start);
        }
    }

    // ----- the iteration's steps (driven by `Reactor`) -----

    pub(crate) fn run_due_timers(&mut self) {
        let now = Instant::now();
        // Timers added by these callbacks wait for the next iteration, even with a zero
        // delay, so a timer re-arming itself cannot keep this loop from polling.
        let mut limit = self.timers.len();
        while limit > 0 {
            let Some((_, callback)) = self.timers.pop_expired(now) else {
                break;
            };
            limit -= 1;
            let start = self.profile_start();
            callback(self);
            self.profile_end(("timer", "fire"), start);
        }
    }

    /// How long the next wait may block.
    pub(crate) fn wait_timeout(&self, cap: Option<Duration>) -> Option<Duration> {
        if self.has_pending_work() {
            return Some(Duration::ZERO);
        }
        let timer = self
            .timers
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()));
        [timer, self.loop_timeout, cap].into_iter().flatten().min()
    }

    pub(crate) fn dispatch(&mut self, token: Token, readiness: Readiness) {
        if !self.registry.is_active(token) {
            return; // closed earlier in this batch: stale
        }
        match self.registry.get_mut(token) {
            Some(Source::Socket(_)) => crate::socket::dispatch(self, token, readiness),
            Some(Source::Fd(f)) => {
                let Some(mut callback) = f.callback.take() else {
                    return;
                };
                let start = self.profile_start();
                callback(self, token, readiness);
                self.profile_end(("fd", "event"), start);
                if let Some(Source::Fd(f)) = self.registry.get_mut(token) {
                    f.callback = Some(callback);
                }
            }
            Some(Source::Waker(w)) => {
                w.shared.acknowledge();
                let Some(mut callback) = w.callback.take() else {
                    return;
                };
                let start = self.profile_start();
                callback(self);
                self.profile_end(("waker", "wake"), start);
                if let Some(Source::Waker(w)) = self.registry.get_mut(token) {
                    w.callback = Some(callback);
                }
            }
            None => {}
        }
    }

    pub(crate) fn serve_ready(&mut self) {
        let ready = std::mem::take(&mut self.ready);
        for token in ready {
            crate::socket::serve_pushed_back(self, token);
        }
    }

    pub(crate) fn close_deferred(&mut self) {
        while !self.to_close.is_empty() {
            let closing = std::mem::take(&mut self.to_close);
            for token in closing {
                if let Some(Source::Socket(state)) = self.registry.remove(token) {
                    crate::socket::finish_close(self, *state);
                }
            }
        }
    }

    pub(crate) fn run_post_loop(&mut self) {
        let Some(mut callback) = self.post_loop.take() else {
            return;
        };
        let start = self.profile_start();
        let go_on = callback(self);
        self.profile_end(("post-loop", "call"), start);
        if self.post_loop.is_none() {
            self.post_loop = Some(callback);
        }
        if !go_on {
            self.stop = true;
        }
    }

    pub(crate) fn reset_after_fork(&mut self) -> io::Result<()> {
        self.registry.reset_after_fork()?;
        let wakers: Vec<Token> = self
            .registry
            .iter()
            .filter(|(_, s)| matches!(s, Source::Waker(_)))
            .map(|(t, _)| t)
            .collect();
        for token in wakers {
            // Dropping the source invalidates its `Waker`s in this (child) process.
            self.registry.remove(token);
        }
        Ok(())
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}
