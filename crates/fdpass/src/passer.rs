//! `FdPasser`: the ordered send and receive queues over one connected socket, driven by
//! any event loop through `AsFd` + [`FdPasser::interest`] + `on_readable`/`on_writable`,
//! or by the blocking calls built on the same driver.

use std::collections::VecDeque;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::RecvFlags;

use crate::error::{End, Error};
use crate::message::{Message, Mode, Outgoing, decode};
use crate::reserve::Reserve;
use crate::socket::{self, Listener, Options, PeerCredentials};
use crate::wire::{self, RecvBuffers};

/// Messages received per [`FdPasser::on_readable`] call at most, so one busy passer
/// cannot starve the other sources of a loop.
pub const RECV_BUDGET: usize = 64;

type SentCallback = Box<dyn FnOnce() + Send>;
type RecvCallback = Box<dyn FnOnce(Result<Message, Error>) + Send>;
type EndCallback = Box<dyn FnOnce(End) + Send>;

/// Who gets the next received message.
enum Waiter {
    Callback(RecvCallback),
    /// The result is kept in `stored` for whoever pushed this waiter (a blocking
    /// [`FdPasser::recv`], or the reactor glue, which calls its own callbacks).
    Stored,
}

struct PendingSend {
    msg: Outgoing,
    on_sent: Option<SentCallback>,
}

/// The readiness a passer wants from its event loop right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    /// Call [`FdPasser::on_readable`] when the socket is readable.
    pub readable: bool,
    /// Call [`FdPasser::on_writable`] when the socket is writable.
    pub writable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    PeerClosed,
    Failed,
}

/// Ordered, non-blocking descriptor passing over one connected AF_UNIX socket.
///
/// Sending: [`push_send`](Self::push_send) queues a message (and tries to send the queue
/// at once, without blocking); the kernel takes messages in queue order; each message's
/// descriptors are closed once the kernel has them, then its callback runs. Receiving:
/// [`push_recv`](Self::push_recv) queues a callback; received messages go to the
/// callbacks in order, one message each.
///
/// Drive it from any loop: register [`as_fd`](AsFd::as_fd) with the readiness in
/// [`interest`](Self::interest), call [`on_readable`](Self::on_readable) /
/// [`on_writable`](Self::on_writable) when told, and re-read `interest` after each call
/// or push. While receiving is paused for a full descriptor table,
/// [`retry_at`](Self::retry_at) says when to call `on_readable` anyway.
///
/// Or block: [`send`](Self::send) / [`recv`](Self::recv) and the one-descriptor
/// [`send_fd`](Self::send_fd) / [`recv_fd`](Self::recv_fd) wait with `poll`.
///
/// Use across `fork`: make a [`socketpair`](Self::socketpair), fork, and let each
/// process drop the other's end (the seed's `i_am_parent` / `i_am_child`); a passer
/// holds no state tied to a process.
pub struct FdPasser {
    socket: OwnedFd,
    mode: Mode,
    max_fds: usize,
    max_payload: usize,
    sends: VecDeque<PendingSend>,
    waiters: VecDeque<Waiter>,
    bufs: RecvBuffers,
    reserve: Reserve,
    state: State,
    on_end: Option<EndCallback>,
    /// The end, kept until someone takes it (an `on_end` set later, or a blocking call).
    end: Option<End>,
    sent_total: u64,
    /// Results for `Waiter::Stored`, in order.
    stored: VecDeque<Result<Message, Error>>,
}

impl fmt::Debug for FdPasser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdPasser")
            .field("socket", &self.socket)
            .field("mode", &self.mode)
            .field("state", &self.state)
            .field("queued_sends", &self.sends.len())
            .field("queued_recvs", &self.waiters.len())
            .finish_non_exhaustive()
    }
}

impl FdPasser {
    /// `socketpair(AF_UNIX, SOCK_SEQPACKET)`—two connected passers with the default
    /// options.
    ///
    /// # Errors
    ///
    /// The failed system call.
    pub fn socketpair() -> Result<(FdPasser, FdPasser), Error> {
        Self::socketpair_with(&Options::default())
    }

    /// `socketpair(AF_UNIX)`—two connected passers with `options`.
    ///
    /// # Errors
    ///
    /// The failed system call.
    pub fn socketpair_with(options: &Options) -> Result<(FdPasser, FdPasser), Error> {
        let (a, b) = socket::pair(options)?;
        let already = options.clone().set_nonblocking(false);
        Ok((
            Self::from_socket(a, &already)?,
            Self::from_socket(b, &already)?,
        ))
    }

    /// `connect(path)`—a passer connected to a [`Listener`] (default options).
    ///
    /// # Errors
    ///
    /// [`Error::PathTooLong`] or the failed system call.
    pub fn connect(path: impl AsRef<Path>) -> Result<FdPasser, Error> {
        Self::connect_with(path, &Options::default())
    }

    /// `connect(path)` with `options` (the mode must match the listener's).
    ///
    /// # Errors
    ///
    /// [`Error::PathTooLong`] or the failed system call.
    pub fn connect_with(path: impl AsRef<Path>, options: &Options) -> Result<FdPasser, Error> {
        let socket = socket::connect(path.as_ref(), options)?;
        Self::from_socket(socket, &options.clone().set_nonblocking(false))
    }

    /// `bind(path)` + `listen(backlog)`—the seed's `fdpasser_server`; see [`Listener`].
    ///
    /// # Errors
    ///
    /// As [`Listener::bind`].
    pub fn server(path: impl AsRef<Path>, backlog: i32) -> Result<Listener, Error> {
        Listener::bind(path, backlog)
    }

    /// A passer over an already connected AF_UNIX socket of the type `options.mode`
    /// names (made non-blocking unless `options` opt out).
    ///
    /// # Errors
    ///
    /// The failed `ioctl(FIONBIO)`.
    pub fn from_socket(socket: OwnedFd, options: &Options) -> Result<FdPasser, Error> {
        if options.set_nonblocking {
            rustix::io::ioctl_fionbio(&socket, true).map_err(|e| Error::io("ioctl(FIONBIO)", e))?;
        }
        let (max_fds, max_payload) = match options.mode {
            // The original framing: one descriptor per byte.
            Mode::Stream => (1, 1),
            Mode::SeqPacket => (options.max_fds, options.max_payload),
        };
        Ok(FdPasser {
            reserve: Reserve::new(socket.as_fd(), options.reserve_fd),
            socket,
            mode: options.mode,
            max_fds,
            max_payload,
            sends: VecDeque::new(),
            waiters: VecDeque::new(),
            bufs: RecvBuffers::new(max_fds, max_payload),
            state: State::Open,
            on_end: None,
            end: None,
            sent_total: 0,
            stored: VecDeque::new(),
        })
    }

    /// The passer's socket mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// `getsockopt(SO_PEERCRED)`—the peer's pid, uid and gid.
    ///
    /// # Errors
    ///
    /// The failed system call.
    pub fn peer_credentials(&self) -> Result<PeerCredentials, Error> {
        socket::peer_credentials(self.socket.as_fd())
    }

    /// Sets the callback told once how the passer ended (the seed's `on_error`; an
    /// orderly end is [`End::PeerClosed`]). If it has ended already, the callback runs
    /// now.
    pub fn set_on_end(&mut self, on_end: impl FnOnce(End) + Send + 'static) {
        match self.end.take() {
            Some(end) => on_end(end),
            None => self.on_end = Some(Box::new(on_end)),
        }
    }

    /// True once the passer has shut down (peer closed, or a fatal error).
    pub fn is_closed(&self) -> bool {
        self.state != State::Open
    }

    /// Queues `msg` for sending (an [`OwnedFd`] converts into a one-descriptor message)
    /// and sends what the socket takes now. Never blocks. Once the kernel has taken the
    /// message, its descriptors are closed and then `on_sent` runs (the peer may not have
    /// received it yet).
    ///
    /// # Errors
    ///
    /// The message breaks the mode's framing or the limits ([`Error::StreamFraming`],
    /// [`Error::TooManyFds`], [`Error::PayloadTooLarge`]), or the passer is shut down
    /// ([`Error::Shutdown`]). A rejected message's descriptors are closed and nothing is
    /// queued.
    pub fn push_send(
        &mut self,
        msg: impl Into<Outgoing>,
        on_sent: impl FnOnce() + Send + 'static,
    ) -> Result<(), Error> {
        self.enqueue(msg.into(), Some(Box::new(on_sent))).map(drop)
    }

    /// Queues `msg` and returns its sequence number: it has been sent once
    /// [`sent_total`](Self::sent_total) reaches that number.
    pub(crate) fn enqueue(
        &mut self,
        msg: Outgoing,
        on_sent: Option<SentCallback>,
    ) -> Result<u64, Error> {
        if self.is_closed() {
            return Err(Error::Shutdown);
        }
        msg.check(self.mode, self.max_fds, self.max_payload)?;
        self.sends.push_back(PendingSend { msg, on_sent });
        let seq = self.sent_total + self.sends.len() as u64;
        if self.sends.len() == 1 {
            self.flush();
        }
        Ok(seq)
    }

    /// Queues `on_recv` for the next message not yet promised to an earlier callback.
    /// It gets the message, or a per-message error ([`Error::is_per_message`]) after
    /// which the passer goes on. Callbacks still queued when the passer ends are dropped
    /// uncalled; the end goes to [`set_on_end`](Self::set_on_end).
    pub fn push_recv(&mut self, on_recv: impl FnOnce(Result<Message, Error>) + Send + 'static) {
        if !self.is_closed() {
            self.waiters.push_back(Waiter::Callback(Box::new(on_recv)));
        }
    }

    /// Messages queued and not yet taken by the kernel.
    pub fn queued_sends(&self) -> usize {
        self.sends.len()
    }

    /// Receive callbacks waiting for a message.
    pub fn queued_recvs(&self) -> usize {
        self.waiters.len()
    }

    /// The readiness to wait for now: readable while receive callbacks wait (and
    /// receiving is not paused), writable while sends are queued.
    pub fn interest(&self) -> Interest {
        let open = !self.is_closed();
        Interest {
            readable: open && !self.waiters.is_empty() && self.reserve.paused_until().is_none(),
            writable: open && !self.sends.is_empty(),
        }
    }

    /// When receiving was paused because the descriptor table is full, the time at which
    /// to call [`on_readable`](Self::on_readable) to retry (whatever the readiness).
    pub fn retry_at(&self) -> Option<Instant> {
        if self.is_closed() || self.waiters.is_empty() {
            return None;
        }
        self.reserve.paused_until()
    }

    /// Call when the socket is writable: sends queued messages in order until the socket
    /// is full.
    pub fn on_writable(&mut self) {
        self.flush();
    }

    /// Call when the socket is readable (or hung up, or at [`retry_at`](Self::retry_at)):
    /// receives up to [`RECV_BUDGET`] messages for the waiting callbacks, in order. With
    /// no callback waiting it only checks for the peer's close, leaving messages in the
    /// kernel.
    pub fn on_readable(&mut self) {
        if self.is_closed() {
            return;
        }
        if self.waiters.is_empty() {
            self.check_peer_closed();
            return;
        }
        for _ in 0..RECV_BUDGET {
            if self.waiters.is_empty() || self.is_closed() {
                return;
            }
            if !self.reserve.refill(self.socket.as_fd()) {
                return;
            }
            self.reserve.release();
            let received = wire::recv(self.socket.as_fd(), &mut self.bufs);
            // A failure here pauses receiving until a slot frees up; the message we just
            // got (if any) is still delivered.
            self.reserve.refill(self.socket.as_fd());
            match received {
                Err(Errno::AGAIN) => return,
                Err(Errno::INTR) => continue,
                Err(e) => return self.finish(End::Failed(Error::io("recvmsg", e))),
                Ok(raw) => match decode(self.mode, self.max_fds, raw) {
                    None => {
                        let unsent = self.sends.len();
                        return self.finish(End::PeerClosed { unsent });
                    }
                    Some(result) => self.deliver(result),
                },
            }
            if self.reserve.paused_until().is_some() {
                return;
            }
        }
    }

    fn deliver(&mut self, result: Result<Message, Error>) {
        match self.waiters.pop_front() {
            Some(Waiter::Callback(callback)) => callback(result),
            Some(Waiter::Stored) => self.stored.push_back(result),
            // Unreachable: `on_readable` receives only while someone waits. Dropping
            // the message closes its descriptors.
            None => drop(result),
        }
    }

    /// `recv(MSG_PEEK)` of one byte: zero means the peer closed.
    fn check_peer_closed(&mut self) {
        let mut byte = [0u8; 1];
        let peeked = rustix::net::recv(
            &self.socket,
            &mut byte[..],
            RecvFlags::PEEK | RecvFlags::DONTWAIT,
        );
        match peeked {
            Ok((0, _)) => {
                let unsent = self.sends.len();
                self.finish(End::PeerClosed { unsent });
            }
            Ok(_) | Err(Errno::AGAIN) | Err(Errno::INTR) => {}
            Err(e) => self.finish(End::Failed(Error::io("recv(MSG_PEEK)", e))),
        }
    }

    fn flush(&mut self) {
        while let Some(front) = self.sends.front() {
            match wire::send(self.socket.as_fd(), &front.msg) {
                Ok(()) => {
                    let sent = self.sends.pop_front().expect("front exists");
                    self.sent_total += 1;
                    // The kernel holds its own references now: close ours, then tell.
                    drop(sent.msg);
                    if let Some(on_sent) = sent.on_sent {
                        on_sent();
                    }
                }
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return,
                Err(Errno::PIPE) | Err(Errno::CONNRESET) => {
                    let unsent = self.sends.len();
                    return self.finish(End::PeerClosed { unsent });
                }
                Err(e) => return self.finish(End::Failed(Error::io("sendmsg", e))),
            }
        }
    }

    /// Shuts the passer down once: drops both queues (closing queued descriptors) and
    /// reports the end.
    fn finish(&mut self, end: End) {
        if self.is_closed() {
            return;
        }
        self.state = match end {
            End::PeerClosed { .. } => State::PeerClosed,
            End::Failed(_) => State::Failed,
        };
        self.sends.clear();
        self.waiters.clear();
        match self.on_end.take() {
            Some(on_end) => on_end(end),
            None => self.end = Some(end),
        }
    }

    /// Queues a waiter whose result is kept for [`take_stored`](Self::take_stored).
    #[cfg(feature = "reactor")]
    pub(crate) fn push_recv_stored(&mut self) {
        if !self.is_closed() {
            self.waiters.push_back(Waiter::Stored);
        }
    }

    /// The oldest result kept for a `Stored` waiter.
    #[cfg(feature = "reactor")]
    pub(crate) fn take_stored(&mut self) -> Option<Result<Message, Error>> {
        self.stored.pop_front()
    }

    /// Messages taken by the kernel since the passer was made.
    #[cfg(feature = "reactor")]
    pub(crate) fn sent_total(&self) -> u64 {
        self.sent_total
    }

    /// The end, if the passer ended while no `on_end` callback was set.
    #[cfg(feature = "reactor")]
    pub(crate) fn take_end(&mut self) -> Option<End> {
        self.end.take()
    }

    /// The error a blocking call reports once the passer has ended.
    fn end_error(&mut self) -> Error {
        match self.end.take() {
            Some(End::Failed(err)) => err,
            Some(End::PeerClosed { .. }) => Error::PeerClosed,
            None if self.state == State::PeerClosed => Error::PeerClosed,
            None => Error::Shutdown,
        }
    }

    /// Sends `msg` after everything queued before it, waiting with `poll` while the
    /// socket is full.
    ///
    /// # Errors
    ///
    /// As [`push_send`](Self::push_send); [`Error::PeerClosed`] or the fatal error if the
    /// passer ends before the message went out.
    pub fn send(&mut self, msg: impl Into<Outgoing>) -> Result<(), Error> {
        let target = self.enqueue(msg.into(), None)?;
        while self.sent_total < target {
            if self.is_closed() {
                return Err(self.end_error());
            }
            self.wait(PollFlags::OUT, None)?;
            self.flush();
        }
        Ok(())
    }

    /// Receives the next message not promised to an earlier callback, waiting with
    /// `poll`.
    ///
    /// # Errors
    ///
    /// A per-message error for that message, [`Error::PeerClosed`] at the orderly end,
    /// or the fatal error that shut the passer down.
    pub fn recv(&mut self) -> Result<Message, Error> {
        if self.is_closed() {
            return Err(self.end_error());
        }
        self.waiters.push_back(Waiter::Stored);
        loop {
            self.on_readable();
            if let Some(result) = self.stored.pop_front() {
                return result;
            }
            if self.is_closed() {
                return Err(self.end_error());
            }
            self.wait(PollFlags::IN, self.reserve.paused_until())?;
        }
    }

    /// Sends one descriptor with a one-byte payload (blocking; see [`send`](Self::send)).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_fd(&mut self, fd: OwnedFd) -> Result<(), Error> {
        self.send(Outgoing::fd(fd))
    }

    /// Receives one message and returns its first descriptor (blocking; see
    /// [`recv`](Self::recv)); other descriptors of that message are closed.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); a message without descriptors is [`Error::MissingFd`].
    pub fn recv_fd(&mut self) -> Result<OwnedFd, Error> {
        self.recv()?.into_fd().ok_or(Error::MissingFd)
    }

    /// `poll` until the socket has `events` (or `until` passes).
    fn wait(&self, events: PollFlags, until: Option<Instant>) -> Result<(), Error> {
        let timeout = until.map(|t| {
            let left = t.saturating_duration_since(Instant::now());
            rustix::event::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            }
        });
        let mut fds = [PollFd::new(&self.socket, events)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(Errno::INTR) => Ok(()),
            Err(e) => Err(Error::io("poll", e)),
        }
    }
}

impl AsFd for FdPasser {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}
