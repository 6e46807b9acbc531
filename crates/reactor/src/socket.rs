//! Sockets in the loop: the [`Handler`] trait, the [`Socket`] view handed to it, and
//! the per-socket state (write queue, pushed-back bytes, watch flags).

use std::borrow::Cow;
use std::fmt;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::net::{SocketFlags, sockopt};

use crate::context::Context;
use crate::readiness::{Interest, Readiness};
use crate::registry::Token;
use crate::write_queue::{FlushStop, QueueFull, WriteMode, WriteQueue};

/// Largest single kernel read, whatever `max` asks (Danga::Socket's cap too).
const MAX_KERNEL_READ: usize = 1 << 20;

/// How long accepting pauses after `EMFILE`/`ENFILE` before the listener is watched again.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// A completion queued with [`Socket::write_completion`].
pub type Completion = Box<dyn FnOnce(&mut Socket<'_>)>;

/// A replacement for the syscall that writes queued bytes (Danga's `set_writer_func`):
/// given the fd and the slices, returns how many bytes it took.
pub type WriterFn = Box<dyn FnMut(BorrowedFd<'_>, &[IoSlice<'_>]) -> io::Result<usize>>;

/// Callbacks for one socket. Per event they run in the order read, write, error,
/// hang-up, each only while the socket is still open.
pub trait Handler {
    /// The socket is readable (data, a connection to accept, or EOF).
    fn on_readable(&mut self, sock: &mut Socket<'_>);

    /// The socket is writable; the default flushes the write queue.
    fn on_writable(&mut self, sock: &mut Socket<'_>) {
        sock.flush();
    }

    /// An error is pending (`EPOLLERR`); the default closes with the `SO_ERROR` reason.
    fn on_error(&mut self, sock: &mut Socket<'_>) {
        let error = sock.take_error();
        sock.close_with(CloseReason::Error(error));
    }

    /// The connection is shut down both ways or reset (`EPOLLHUP`); the default closes.
    fn on_hangup(&mut self, sock: &mut Socket<'_>) {
        sock.close_with(CloseReason::Hangup);
    }

    /// The socket was closed and is being dropped at the end of the iteration, with the
    /// reason it was closed for. Queued bytes and completions are dropped unsent.
    fn on_close(&mut self, cx: &mut Context, reason: &CloseReason) {
        let _ = (cx, reason);
    }

    /// The name profiling files this handler's calls under.
    fn kind(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
}

/// A closure is a handler whose `on_readable` is the closure.
impl<F: FnMut(&mut Socket<'_>)> Handler for F {
    fn on_readable(&mut self, sock: &mut Socket<'_>) {
        self(sock)
    }
}

/// Why a socket was closed.
#[derive(Debug)]
pub enum CloseReason {
    /// [`Socket::close`] or [`Context::close`] with this reason.
    Requested(String),
    /// A write failed (`EPIPE`, `ECONNRESET`, …).
    WriteError(io::Error),
    /// `EPOLLERR`, with the socket's `SO_ERROR`.
    Error(io::Error),
    /// `EPOLLHUP`.
    Hangup,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Requested(reason) => write!(f, "closed: {reason}"),
            CloseReason::WriteError(e) => write!(f, "write error: {e}"),
            CloseReason::Error(e) => write!(f, "socket error: {e}"),
            CloseReason::Hangup => f.write_str("hang-up"),
        }
    }
}

/// What a read produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<T> {
    /// Bytes (a `Vec` from [`Socket::read`], a count from [`Socket::read_into`]).
    Data(T),
    /// Nothing now (`EAGAIN`, or this iteration's read budget is spent).
    WouldBlock,
    /// The peer shut down its writing side (a 0-byte read). Readability watching is
    /// turned off, since a level-triggered poller would report the EOF forever.
    Eof,
}

/// Why [`Socket::write`] did not accept the bytes.
#[derive(Debug)]
pub enum WriteError {
    /// The socket is closed (or closing); the bytes were dropped.
    Closed,
    /// The write queue's byte limit would be exceeded; nothing was written or queued.
    Full(QueueFull),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Closed => f.write_str("socket is closed"),
            WriteError::Full(full) => full.fmt(f),
        }
    }
}

impl std::error::Error for WriteError {}

pub(crate) struct SocketState {
    pub(crate) fd: OwnedFd,
    handler: Option<Box<dyn Handler>>,
    queue: WriteQueue<Completion>,
    mode: WriteMode,
    writer: Option<WriterFn>,
    pushed_back: Vec<u8>,
    on_ready_list: bool,
    watch_read: bool,
    watch_write: bool,
    closed: Option<CloseReason>,
    budget_iteration: u64,
    budget_left: usize,
}

impl SocketState {
    pub(crate) fn new(fd: OwnedFd, handler: Box<dyn Handler>, limit: usize) -> io::Result<Self> {
        let mode = WriteMode::detect(fd.as_fd())?;
        Ok(SocketState {
            fd,
            handler: Some(handler),
            queue: WriteQueue::with_limit(limit),
            mode,
            writer: None,
            pushed_back: Vec::new(),
            on_ready_list: false,
            watch_read: true,
            watch_write: false,
            closed: None,
            budget_iteration: 0,
            budget_left: 0,
        })
    }

    fn interest(&self) -> Interest {
        Interest {
            read: self.watch_read,
            write: self.watch_write || !self.queue.is_empty(),
        }
    }

    fn write_now(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.writer.as_mut() {
            Some(writer) => writer(self.fd.as_fd(), bufs),
            None => self.mode.write_vectored(self.fd.as_fd(), bufs),
        }
    }
}

/// One socket of the loop, with the loop's [`Context`] (reach it with
/// [`Socket::context`]). Handed to [`Handler`] callbacks; get one for any socket with
/// [`Context::socket`]. Every method is safe on a closed socket (reads fail with
/// `NotConnected`, writes return [`WriteError::Closed`], the rest do nothing).
pub struct Socket<'a> {
    cx: &'a mut Context,
    token: Token,
}

impl fmt::Debug for Socket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "socket is closed")
}

impl<'a> Socket<'a> {
    pub(crate) fn new(cx: &'a mut Context, token: Token) -> Self {
        Socket { cx, token }
    }

    /// This socket's token.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The loop: register and close sources, add timers, stop.
    pub fn context(&mut self) -> &mut Context {
        self.cx
    }

    fn state(&mut self) -> Option<&mut SocketState> {
        self.cx.socket_state(self.token)
    }

    fn open_state(&mut self) -> Option<&mut SocketState> {
        self.state().filter(|s| s.closed.is_none())
    }

    fn state_ref(&self) -> Option<&SocketState> {
        match self.cx.registry.get(self.token) {
            Some(crate::context::Source::Socket(s)) => Some(s),
            _ => None,
        }
    }

    /// The socket's fd, while it is in the loop.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.state_ref().map(|s| s.fd.as_fd())
    }

    /// Whether the socket was closed (it stays in the loop, without events, until the
    /// end of the iteration).
    pub fn is_closed(&self) -> bool {
        self.state_ref().is_none_or(|s| s.closed.is_some())
    }

    fn apply_interest(&mut self) {
        let token = self.token;
        let Some(interest) = self.open_state().map(|s| s.interest()) else {
            return;
        };
        if let Err(e) = self.cx.registry.set_interest(token, interest) {
            self.close_with(CloseReason::Error(e));
        }
    }

    // ----- reading -----

    /// `read(fd, ≤ max)`: pushed-back bytes first (at most `max` of them, no syscall),
    /// then one kernel read of at most `max` (capped at 1 MiB and at what is left of
    /// this iteration's read budget).
    ///
    /// # Errors
    /// `NotConnected` on a closed socket; the read's error (`ECONNRESET`, …).
    pub fn read(&mut self, max: usize) -> io::Result<Read<Vec<u8>>> {
        let Some(state) = self.open_state() else {
            return Err(not_connected());
        };
        if !state.pushed_back.is_empty() {
            let n = max.min(state.pushed_back.len());
            let rest = state.pushed_back.split_off(n);
            return Ok(Read::Data(std::mem::replace(&mut state.pushed_back, rest)));
        }
        // The kernel reads into the loop's scratch buffer (uninitialised capacity, no
        // zeroing) and the bytes are copied out at their real size, so a `read(65536)`
        // that gets 64 bytes neither pins nor clears 64 KiB.
        let want = max.min(MAX_KERNEL_READ);
        let mut scratch = std::mem::take(&mut self.cx.read_scratch);
        scratch.clear();
        scratch.reserve(want);
        let mut data = Vec::new();
        let read = self.read_kernel(want, |fd, cap| {
            let (bytes, _) = rustix::io::read(fd, &mut scratch.spare_capacity_mut()[..cap])?;
            data = bytes.to_vec();
            Ok(bytes.len())
        });
        self.cx.read_scratch = scratch;
        let read = read?;
        Ok(match read {
            Read::Data(_) => Read::Data(data),
            Read::WouldBlock => Read::WouldBlock,
            Read::Eof => Read::Eof,
        })
    }

    /// As [`Socket::read`] into `buf` without allocating; `Data(n)` bytes were read.
    ///
    /// # Errors
    /// As [`Socket::read`].
    pub fn read_into(&mut self, buf: &mut [u8]) -> io::Result<Read<usize>> {
        let Some(state) = self.open_state() else {
            return Err(not_connected());
        };
        if !state.pushed_back.is_empty() {
            let n = buf.len().min(state.pushed_back.len());
            buf[..n].copy_from_slice(&state.pushed_back[..n]);
            state.pushed_back.drain(..n);
            return Ok(Read::Data(n));
        }
        let want = buf.len().min(MAX_KERNEL_READ);
        self.read_kernel(want, |fd, cap| rustix::io::read(fd, &mut buf[..cap]))
    }

    fn read_kernel(
        &mut self,
        want: usize,
        mut read: impl FnMut(BorrowedFd<'_>, usize) -> rustix::io::Result<usize>,
    ) -> io::Result<Read<usize>> {
        let iteration = self.cx.iteration;
        let budget = self.cx.read_budget;
        let Some(state) = self.open_state() else {
            return Err(not_connected());
        };
        if want == 0 {
            return Ok(Read::Data(0));
        }
        if state.budget_iteration != iteration {
            state.budget_iteration = iteration;
            state.budget_left = budget;
        }
        let cap = want.min(state.budget_left);
        if cap == 0 {
            return Ok(Read::WouldBlock);
        }
        loop {
            match read(state.fd.as_fd(), cap) {
                Ok(0) => {
                    state.watch_read = false;
                    self.apply_interest();
                    return Ok(Read::Eof);
                }
                Ok(n) => {
                    state.budget_left -= n;
                    return Ok(Read::Data(n));
                }
                Err(rustix::io::Errno::AGAIN) => return Ok(Read::WouldBlock),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Puts bytes back in front of the read stream: the next [`Socket::read`] returns
    /// them first, and the handler's `on_readable` is called again at the end of this
    /// iteration (no wait for the kernel) while they remain and reading is watched.
    pub fn push_back_read(&mut self, bytes: &[u8]) {
        let token = self.token;
        let Some(state) = self.open_state() else {
            return;
        };
        let mut joined = Vec::with_capacity(bytes.len() + state.pushed_back.len());
        joined.extend_from_slice(bytes);
        joined.append(&mut state.pushed_back);
        state.pushed_back = joined;
        if !state.on_ready_list {
            state.on_ready_list = true;
            self.cx.ready.push(token);
        }
    }

    // ----- writing -----

    /// Writes `data`: if nothing is queued, one `sendmsg(MSG_NOSIGNAL)` (or `writev`, or
    /// the writer function) at once and the rest queued; if something is queued, only
    /// appended (no syscall). Returns `Ok(true)` if everything went out now. Write
    /// watching is on while bytes are queued, off once the queue is empty.
    ///
    /// # Errors
    /// [`WriteError::Full`] if the queue's limit would be exceeded (nothing written or
    /// queued — backpressure: stop reading from the source of these bytes until
    /// [`Socket::queued_bytes`] falls); [`WriteError::Closed`] if the socket is closed,
    /// or the write failed and closed it (`EPIPE`, `ECONNRESET`: see [`Handler::on_close`]).
    pub fn write(&mut self, data: &[u8]) -> Result<bool, WriteError> {
        self.write_inner(Cow::Borrowed(data))
    }

    /// As [`Socket::write`], taking ownership so a queued remainder is not copied when
    /// nothing was written at once.
    ///
    /// # Errors
    /// As [`Socket::write`].
    pub fn write_vec(&mut self, data: Vec<u8>) -> Result<bool, WriteError> {
        self.write_inner(Cow::Owned(data))
    }

    fn write_inner(&mut self, data: Cow<'_, [u8]>) -> Result<bool, WriteError> {
        let Some(state) = self.open_state() else {
            return Err(WriteError::Closed);
        };
        if !state.queue.fits(data.len()) {
            return Err(WriteError::Full(QueueFull {
                queued: state.queue.queued_bytes(),
                refused: data.len(),
                limit: state.queue.limit(),
            }));
        }
        if !state.queue.is_empty() {
            state
                .queue
                .push_vec(data.into_owned())
                .map_err(WriteError::Full)?;
            return Ok(false);
        }
        if data.is_empty() {
            return Ok(true);
        }
        let written = match state.write_now(&[IoSlice::new(&data)]) {
            Ok(n) => n.min(data.len()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => {
                self.close_with(CloseReason::WriteError(e));
                return Err(WriteError::Closed);
            }
        };
        if written == data.len() {
            return Ok(true);
        }
        let rest = match data {
            Cow::Owned(mut vec) => {
                vec.drain(..written);
                vec
            }
            Cow::Borrowed(slice) => slice[written..].to_vec(),
        };
        state.queue.push_vec(rest).map_err(WriteError::Full)?;
        self.apply_interest();
        Ok(false)
    }

    /// Queues a closure that runs (with this socket) once every byte written before it
    /// is out — at once if nothing is queued. Returns whether it ran at once.
    ///
    /// # Errors
    /// [`WriteError::Closed`] on a closed socket (the closure is dropped).
    pub fn write_completion(
        &mut self,
        completion: impl FnOnce(&mut Socket<'_>) + 'static,
    ) -> Result<bool, WriteError> {
        let Some(state) = self.open_state() else {
            return Err(WriteError::Closed);
        };
        if state.queue.is_empty() {
            completion(self);
            return Ok(true);
        }
        state.queue.push_completion(Box::new(completion));
        Ok(false)
    }

    /// Writes queued bytes and runs the completions reached, until the queue is empty
    /// (returns `true`, write watching off) or the socket would block (`false`, write
    /// watching on). A write error closes the socket with the error as reason.
    pub fn flush(&mut self) -> bool {
        loop {
            let Some(state) = self.open_state() else {
                return false;
            };
            let SocketState {
                queue,
                writer,
                fd,
                mode,
                ..
            } = state;
            let flushed = match writer.as_mut() {
                Some(writer) => queue.flush_with(|bufs| writer(fd.as_fd(), bufs)),
                None => queue.flush(fd.as_fd(), *mode),
            };
            match flushed.stop {
                FlushStop::Empty => {
                    self.apply_interest();
                    return true;
                }
                FlushStop::Completion(completion) => completion(self),
                FlushStop::WouldBlock => {
                    self.apply_interest();
                    return false;
                }
                FlushStop::Error(e) => {
                    self.close_with(CloseReason::WriteError(e));
                    return false;
                }
            }
        }
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.state_ref().map_or(0, |s| s.queue.queued_bytes())
    }

    /// Changes this socket's write-queue byte limit.
    pub fn set_write_limit(&mut self, bytes: usize) {
        if let Some(state) = self.state() {
            state.queue.set_limit(bytes);
        }
    }

    /// Replaces the syscall that writes queued bytes (Danga's `set_writer_func`), e.g. a
    /// TLS layer or a test double. It gets the fd and the slices and returns how many
    /// bytes it took (`WouldBlock` to wait for writability).
    pub fn set_writer_func(
        &mut self,
        writer: impl FnMut(BorrowedFd<'_>, &[IoSlice<'_>]) -> io::Result<usize> + 'static,
    ) {
        if let Some(state) = self.state() {
            state.writer = Some(Box::new(writer));
        }
    }

    // ----- watching -----

    /// Turns readability events on or off (`epoll_ctl` only when it changes).
    pub fn watch_read(&mut self, on: bool) {
        if let Some(state) = self.open_state() {
            state.watch_read = on;
            self.apply_interest();
        }
    }

    /// Turns writability events on or off. Independent of the write queue's own
    /// watching: writability stays watched while bytes are queued, whatever this says.
    pub fn watch_write(&mut self, on: bool) {
        if let Some(state) = self.open_state() {
            state.watch_write = on;
            self.apply_interest();
        }
    }

    // ----- closing -----

    /// Closes the socket: deleted from the poller now (no further callbacks), handler
    /// `on_close` and the fd's `close` at the end of this loop iteration, so the fd
    /// number cannot be reused within the current batch. Queued bytes are dropped.
    pub fn close(&mut self, reason: &str) {
        self.close_with(CloseReason::Requested(reason.to_owned()));
    }

    /// As [`Socket::close`] with any [`CloseReason`].
    pub fn close_with(&mut self, reason: CloseReason) {
        let token = self.token;
        let Some(state) = self.open_state() else {
            return;
        };
        #[cfg(feature = "log")]
        log::debug!(target: "shoal_reactor", "socket {:?}: {reason}", state.fd);
        state.closed = Some(reason);
        self.cx.registry.deregister(token);
        self.cx.to_close.push(token);
    }

    /// Danga's `steal_socket`: takes the fd back out of the loop at once, without
    /// closing it. The handler is dropped (without `on_close`), queued bytes too.
    /// `None` if the socket is already closed.
    pub fn steal(&mut self) -> Option<OwnedFd> {
        self.open_state()?;
        match self.cx.registry.remove(self.token) {
            Some(crate::context::Source::Socket(state)) => Some(state.fd),
            _ => None,
        }
    }

    // ----- socket options and names -----

    /// `setsockopt(TCP_CORK)`.
    ///
    /// # Errors
    /// `NotConnected` on a closed socket; the `setsockopt` error (not TCP).
    pub fn tcp_cork(&mut self, on: bool) -> io::Result<()> {
        let fd = self.fd().ok_or_else(not_connected)?;
        Ok(sockopt::set_tcp_cork(fd, on)?)
    }

    /// `getsockopt(SO_ERROR)`: the pending error, cleared (an `Other` error if none).
    pub fn take_error(&mut self) -> io::Error {
        match self.fd().map(sockopt::socket_error) {
            Some(Ok(Err(errno))) => errno.into(),
            Some(Err(errno)) => errno.into(),
            Some(Ok(Ok(()))) => io::Error::other("EPOLLERR without SO_ERROR"),
            None => not_connected(),
        }
    }

    /// `getpeername` as `ip:port` (`[ip6]:port`), or a unix path; `None` if unknown.
    pub fn peer_addr_string(&self) -> Option<String> {
        let addr = rustix::net::getpeername(self.fd()?).ok()??;
        Some(addr_string(addr))
    }

    /// `getsockname` as `ip:port` (`[ip6]:port`), or a unix path; `None` if unknown.
    pub fn local_addr_string(&self) -> Option<String> {
        let addr = rustix::net::getsockname(self.fd()?).ok()?;
        Some(addr_string(addr))
    }

    /// Danga's `as_string`: fd, addresses, queued bytes, closed state, in one line.
    pub fn as_string(&self) -> String {
        let Some(state) = self.state_ref() else {
            return format!("Socket({:?}, gone)", self.token);
        };
        let mut out = format!("Socket(fd {:?}", state.fd);
        if let Some(local) = self.local_addr_string() {
            out.push_str(&format!(", {local}"));
        }
        if let Some(peer) = self.peer_addr_string() {
            out.push_str(&format!(" -> {peer}"));
        }
        out.push_str(&format!(", queued {}", state.queue.queued_bytes()));
        if let Some(reason) = &state.closed {
            out.push_str(&format!(", {reason}"));
        }
        out.push(')');
        out
    }

    /// Danga's `debugmsg`: a debug line naming this socket, through `log` (target
    /// `shoal_reactor`).
    #[cfg(feature = "log")]
    pub fn debugmsg(&self, args: fmt::Arguments<'_>) {
        log::debug!(target: "shoal_reactor", "{}: {args}", self.as_string());
    }

    /// Danga's `dump_error`: an error line naming this socket, through `log`.
    #[cfg(feature = "log")]
    pub fn dump_error(&self, message: &str) {
        log::error!(target: "shoal_reactor", "{}: {message}", self.as_string());
    }

    // ----- listening sockets -----

    /// `accept4(SOCK_CLOEXEC | SOCK_NONBLOCK)` on a listening socket: `Ok(None)` when no
    /// connection is pending.
    ///
    /// On `EMFILE`/`ENFILE`/`ENOBUFS`/`ENOMEM` the pending connection cannot be taken and
    /// the listener would stay readable, spinning a level-triggered loop: accepting is
    /// paused (readability off) and a timer turns it back on after [`ACCEPT_RETRY`]; the
    /// error is returned so the caller can log it. Connections wait in the backlog.
    ///
    /// # Errors
    /// As above; `NotConnected` on a closed socket; other `accept4` errors.
    pub fn accept(&mut self) -> io::Result<Option<OwnedFd>> {
        loop {
            let fd = self.fd().ok_or_else(not_connected)?;
            match rustix::net::accept_with(fd, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK) {
                Ok(fd) => return Ok(Some(fd)),
                Err(rustix::io::Errno::AGAIN) => return Ok(None),
                Err(rustix::io::Errno::INTR | rustix::io::Errno::CONNABORTED) => continue,
                Err(
                    e @ (rustix::io::Errno::MFILE
                    | rustix::io::Errno::NFILE
                    | rustix::io::Errno::NOBUFS
                    | rustix::io::Errno::NOMEM),
                ) => {
                    self.watch_read(false);
                    let token = self.token;
                    self.cx.add_timer(ACCEPT_RETRY, move |cx| {
                        if let Some(mut listener) = cx.socket(token) {
                            listener.watch_read(true);
                        }
                    });
                    #[cfg(feature = "log")]
                    log::warn!(target: "shoal_reactor", "accept paused for {ACCEPT_RETRY:?}: {e}");
                    return Err(e.into());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn addr_string(addr: rustix::net::SocketAddrAny) -> String {
    match SocketAddr::try_from(addr.clone()) {
        Ok(inet) => inet.to_string(),
        Err(_) => match rustix::net::SocketAddrUnix::try_from(addr) {
            Ok(unix) => match unix.path() {
                Some(path) => path.to_string_lossy().into_owned(),
                None => "unix:(unnamed)".to_owned(),
            },
            Err(_) => "(unknown address family)".to_owned(),
        },
    }
}

/// Runs the handler of `token` for one event (read, write, error, hang-up in that
/// order, each only while the socket is open and interested).
pub(crate) fn dispatch(cx: &mut Context, token: Token, readiness: Readiness) {
    let Some(state) = cx.socket_state(token) else {
        return;
    };
    let Some(mut handler) = state.handler.take() else {
        return;
    };
    let kind = handler.kind();
    let interest = state.interest();
    let mut sock = Socket::new(cx, token);
    if (readiness.readable || readiness.read_closed) && interest.read {
        call(&mut sock, kind, "read", |s| handler.on_readable(s));
    }
    if readiness.writable
        && !sock.is_closed()
        && sock.cx.registry.interest(token).is_some_and(|i| i.write)
    {
        call(&mut sock, kind, "write", |s| handler.on_writable(s));
    }
    if readiness.error && !sock.is_closed() {
        call(&mut sock, kind, "error", |s| handler.on_error(s));
    }
    if readiness.hangup && !sock.is_closed() {
        call(&mut sock, kind, "hangup", |s| handler.on_hangup(s));
    }
    if let Some(state) = cx.socket_state(token) {
        state.handler = Some(handler);
    }
}

fn call(
    sock: &mut Socket<'_>,
    kind: &'static str,
    event: &'static str,
    f: impl FnOnce(&mut Socket<'_>),
) {
    let start = sock.cx.profile_start();
    f(sock);
    sock.cx.profile_end((kind, event), start);
}

/// Calls `on_readable` once for a socket with pushed-back bytes (the ready list).
pub(crate) fn serve_pushed_back(cx: &mut Context, token: Token) {
    let Some(state) = cx.socket_state(token) else {
        return;
    };
    state.on_ready_list = false;
    if state.closed.is_some() || !state.watch_read || state.pushed_back.is_empty() {
        return;
    }
    dispatch(
        cx,
        token,
        Readiness {
            readable: true,
            ..Readiness::default()
        },
    );
}

/// Drops a closed socket's state at the end of the iteration, after `on_close`.
pub(crate) fn finish_close(cx: &mut Context, mut state: SocketState) {
    let reason = state
        .closed
        .take()
        .unwrap_or_else(|| CloseReason::Requested("closed".to_owned()));
    if let Some(mut handler) = state.handler.take() {
        let kind = handler.kind();
        let start = cx.profile_start();
        handler.on_close(cx, &reason);
        cx.profile_end((kind, "close"), start);
    }
    // `state` (fd, queue, completions) drops here: the fd is closed.
}
