//! The multiplexer: handles in the reactor's [`Registry`], one [`Event`] at a time.
//!
//! Each call to [`Mux::next_event`] first returns queued events; when none is queued it
//! waits once on the poller and turns what it reports into events: the writable side of
//! every ready handle first (connect completion, send queue flush), then the readable
//! side (accept, read, frame), at most [`READS_PER_WAKE`] reads per handle per wake and
//! fewer once a read produced an event. Registrations are level-triggered, so a handle
//! that still has bytes is reported again by the next wait: that is the fairness.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketAddrAny};
use shoal_reactor::{
    Backend, FlushStop, Interest, Readiness, Registry, Token, WriteMode, WriteQueue,
};

use crate::endpoint;
use crate::event::{Event, Handle};
use crate::framing::{Framer, Rule};
use crate::options::Options;
use crate::socket::{self, SockKind};
use crate::url::Endpoint;

/// Most reads (or accepts) for one handle in one wake; the seed's figure.
pub const READS_PER_WAKE: usize = 10;

/// Where a handle is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// The peer finished sending; the user may still send (a reply to `ReadLast`)
    /// until the queued close runs.
    Eof,
    /// `close` was called: no more reads; the send queue is flushed, then the handle
    /// closes.
    Flushing,
    /// Out of the poller; `Closing` was queued and `Closed` follows.
    Dead,
}

/// One handle's state, stored in the registry's slab.
struct Slot<M> {
    fd: OwnedFd,
    options: Options,
    listen: bool,
    kind: SockKind,
    state: State,
    /// A stream that has not been writable yet: its first writability checks
    /// `SO_ERROR` and reports `Ready` or `Error` (whatever the state, so a handle closed
    /// while connecting still reports how the connect ended).
    connecting: bool,
    /// Present on framed streams.
    framer: Option<Framer>,
    /// Stream send queue (no completion items: `Sent` is "the queue is empty").
    send: WriteQueue<Infallible>,
    write_mode: WriteMode,
    /// Datagram send queue: one datagram per entry, with its destination.
    datagrams: VecDeque<(Vec<u8>, Option<SocketAddrAny>)>,
    /// Something was queued since the last `Sent`.
    owes_sent: bool,
    /// Manual modes: one `CanRead` / `CanWrite` per arming. On a listener, `false`
    /// while accepting is paused because the process ran out of descriptors.
    read_armed: bool,
    write_armed: bool,
    meta: Option<M>,
}

impl<M> AsFd for Slot<M> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<M> Slot<M> {
    fn has_unsent(&self) -> bool {
        !self.send.is_empty() || !self.datagrams.is_empty()
    }

    fn unsent(&self) -> usize {
        match self.kind {
            SockKind::Stream => self.send.queued_bytes(),
            SockKind::Dgram => self.datagrams.len(),
        }
    }

    /// What the poller should watch in the current state.
    fn interest(&self) -> Interest {
        let read = match self.state {
            State::Dead | State::Eof | State::Flushing => false,
            State::Open if self.listen => self.read_armed,
            State::Open => !self.options.manual_read || self.read_armed,
        };
        let write = match self.state {
            State::Dead => false,
            State::Open | State::Eof | State::Flushing => {
                self.connecting
                    || self.has_unsent()
                    || (self.options.manual_write && self.write_armed)
            }
        };
        Interest { read, write }
    }
}

/// What the queue holds: an event, or a step to take when it is reached.
enum Queued<M> {
    Event(Event<M>),
    /// Remove the handle and report `Closed`.
    Close(Handle),
    /// After a `ReadLast` was handed out: close gracefully (a reply sent in between is
    /// flushed first).
    CloseAfterEof(Handle),
}

impl<M> Queued<M> {
    fn handle(&self) -> Option<Handle> {
        match self {
            Self::Event(event) => event.handle(),
            Self::Close(h) | Self::CloseAfterEof(h) => Some(*h),
        }
    }
}

/// The multiplexer. `M` is the metadata type carried per handle.
pub struct Mux<M = ()> {
    registry: Registry<Slot<M>>,
    queue: VecDeque<Queued<M>>,
    ready: Vec<(Token, Readiness)>,
    /// Listeners whose accepting is paused by `EMFILE`/`ENFILE`; resumed when the mux
    /// closes a handle (or by `want_read`).
    paused_listeners: usize,
}

impl<M> std::fmt::Debug for Mux<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mux")
            .field("handles", &self.registry.len())
            .field("queued_events", &self.queue.len())
            .finish()
    }
}

/// The registry's epoll fd, so another loop (a `shoal-reactor` `Reactor` through
/// `register_fd`, an outer epoll, `poll(2)`) can watch this mux instead of polling it.
///
/// The fd is level-triggered readable while a wait would report some handle (a stale
/// event of a handle closed since can make it fire with nothing to return). It does not
/// show the event queue: events already queued ([`Mux::push_event`], frames completed
/// by [`Mux::set_framing`], `Closing`/`Closed` steps, the rest of a batch) are returned
/// by `next_event` without a wait. So an outer loop checks [`Mux::has_events`] before
/// each wait and does not sleep while it is true; when the fd fires, it drains with
/// `next_event(Some(Duration::ZERO))` until [`Event::Timeout`], which leaves the queue
/// empty.
impl<M> AsFd for Mux<M> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.registry.as_fd()
    }
}

fn not_found() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "no such handle (closed or removed)",
    )
}

impl<M> Mux<M> {
    /// `epoll_create1(EPOLL_CLOEXEC)`: an empty multiplexer.
    ///
    /// # Errors
    /// The poller could not be created.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            registry: Registry::new(Backend::default())?,
            queue: VecDeque::new(),
            ready: Vec::new(),
            paused_listeners: 0,
        })
    }

    /// Adds a socket (or any fd that supports `O_NONBLOCK`). Listening and the socket
    /// type are detected unless `options` says; the fd is made non-blocking unless both
    /// manual read and manual write are set. A stream that is not listening reports
    /// `Ready` (or `Error`) when it first becomes writable.
    ///
    /// # Errors
    /// `InvalidInput` for a framing rule on a datagram socket (on a listener, the rule
    /// is for the connections it accepts) or a read size of 0; `fcntl` or `epoll_ctl` errors. The fd is closed on error.
    pub fn add(&mut self, fd: OwnedFd, options: Options) -> io::Result<Handle> {
        self.add_connecting(fd, options, true)
    }

    /// Adds a handle; `check_connect` asks for the `Ready` check on a stream that is
    /// not listening (accepted connections are connected already).
    fn add_connecting(
        &mut self,
        fd: OwnedFd,
        options: Options,
        check_connect: bool,
    ) -> io::Result<Handle> {
        let listen = match options.listen {
            Some(listen) => listen,
            None => socket::socket_listening(&fd).unwrap_or(false),
        };
        let kind = match options.kind {
            Some(kind) => kind,
            None => socket::socket_type(&fd).unwrap_or(SockKind::Stream),
        };
        if options.read_size == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "read size 0"));
        }
        if options.framing.is_some() && kind == SockKind::Dgram {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "framing rules apply to streams only (datagrams keep their boundaries)",
            ));
        }
        if !(options.manual_read && options.manual_write) {
            socket::nonblock(&fd)?;
        }
        let write_mode = WriteMode::detect(fd.as_fd()).unwrap_or(WriteMode::Plain);
        let slot = Slot {
            fd,
            // A listener keeps the rule for the connections it accepts.
            framer: options.framing.clone().filter(|_| !listen).map(Framer::new),
            send: WriteQueue::with_limit(options.send_limit),
            options,
            listen,
            kind,
            state: State::Open,
            connecting: check_connect && !listen && kind == SockKind::Stream,
            write_mode,
            datagrams: VecDeque::new(),
            owes_sent: false,
            read_armed: true,
            write_armed: true,
            meta: None,
        };
        let interest = slot.interest();
        Ok(Handle(self.registry.insert(slot, interest)?))
    }

    /// Parses `url` (see [`Endpoint::parse`]; a host name is resolved first, which
    /// blocks), creates a non-blocking socket, starts connecting and adds it. A TCP or
    /// unix stream handle reports `Ready` or `Error` once the connect completes.
    ///
    /// # Errors
    /// A bad URL, a failed resolution, `socket`/`connect` errors other than
    /// `EINPROGRESS`.
    pub fn connect(&mut self, url: &str, options: Options) -> io::Result<Handle> {
        let endpoint = Endpoint::parse(url)?;
        let fd = endpoint::connect(&endpoint)?;
        self.add(fd, options)
    }

    /// Parses `url`, binds a socket there (listening for streams; `SO_REUSEADDR` for
    /// TCP) and adds it. Use [`Mux::local_addr`] to learn the port bound for port 0.
    ///
    /// # Errors
    /// A bad URL, a failed resolution, `socket`/`bind`/`listen` errors.
    pub fn listen(&mut self, url: &str, options: Options) -> io::Result<Handle> {
        let endpoint = Endpoint::parse(url)?;
        let fd = endpoint::listen(&endpoint)?;
        self.add(fd, options)
    }

    /// `getsockname`: the address a handle's socket is bound to.
    ///
    /// # Errors
    /// `NotFound` for a stale handle; `getsockname`'s error.
    pub fn local_addr(&self, handle: Handle) -> io::Result<SocketAddrAny> {
        let slot = self.registry.get(handle.0).ok_or_else(not_found)?;
        Ok(rustix::net::getsockname(&slot.fd)?)
    }

    /// The handle's fd, for manual accept/read/write.
    pub fn fd(&self, handle: Handle) -> Option<BorrowedFd<'_>> {
        self.registry.get(handle.0).map(|slot| slot.fd.as_fd())
    }

    /// Every handle, including those closing and not yet `Closed`.
    pub fn handles(&self) -> Vec<Handle> {
        self.registry
            .iter()
            .map(|(token, _)| Handle(token))
            .collect()
    }

    /// The handle's metadata.
    pub fn meta(&self, handle: Handle) -> Option<&M> {
        self.registry.get(handle.0)?.meta.as_ref()
    }

    /// The handle's metadata, mutably.
    pub fn meta_mut(&mut self, handle: Handle) -> Option<&mut M> {
        self.registry.get_mut(handle.0)?.meta.as_mut()
    }

    /// Sets the handle's metadata; returns the previous value. It is kept until
    /// `Closed`, which hands it back.
    ///
    /// # Errors
    /// `NotFound` for a stale handle (the value is dropped).
    pub fn set_meta(&mut self, handle: Handle, meta: M) -> io::Result<Option<M>> {
        let slot = self.registry.get_mut(handle.0).ok_or_else(not_found)?;
        Ok(slot.meta.replace(meta))
    }

    /// Changes (or removes, with `None`) a stream's framing rule without losing
    /// buffered bytes: frames already complete under the new rule are queued at once;
    /// without a rule, the buffered bytes are queued as one `Read`.
    ///
    /// # Errors
    /// `NotFound` for a stale handle; `InvalidInput` for a datagram socket. On a
    /// listener the rule applies to connections accepted from now on.
    pub fn set_framing(&mut self, handle: Handle, rule: Option<Rule>) -> io::Result<()> {
        let slot = self.registry.get_mut(handle.0).ok_or_else(not_found)?;
        if rule.is_some() && slot.kind == SockKind::Dgram {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "framing rules apply to streams only (datagrams keep their boundaries)",
            ));
        }
        slot.options.framing = rule.clone();
        if slot.listen {
            return Ok(());
        }
        match (rule, slot.framer.as_mut()) {
            (Some(rule), Some(framer)) => framer.set_rule(rule),
            (Some(rule), None) => slot.framer = Some(Framer::new(rule)),
            (None, Some(framer)) => {
                let rest = framer.take_buffered();
                slot.framer = None;
                if !rest.is_empty() {
                    self.queue.push_back(Queued::Event(Event::Read {
                        handle,
                        data: rest,
                        sender: None,
                    }));
                }
                return Ok(());
            }
            (None, None) => return Ok(()),
        }
        self.drain_frames(handle);
        Ok(())
    }

    /// Bytes (streams) or datagrams (datagram sockets) queued and not yet sent.
    pub fn buflen(&self, handle: Handle) -> Option<usize> {
        self.registry.get(handle.0).map(Slot::unsent)
    }

    /// Whether events are queued (the next `next_event` returns without waiting).
    pub fn has_events(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Queues an event; `next_event` returns queued events first, in order.
    pub fn push_event(&mut self, event: Event<M>) {
        self.queue.push_back(Queued::Event(event));
    }

    /// Queues `data` on a stream (tried at once if nothing is queued) or as one
    /// datagram on a connected datagram socket. `Sent` follows when the queue is empty.
    ///
    /// # Errors
    /// `NotFound` for a stale handle, `NotConnected` for a handle that is closing,
    /// `InvalidInput` on a listener, `OutOfMemory` when the stream's send limit would
    /// be exceeded (nothing queued then).
    pub fn send(&mut self, handle: Handle, data: &[u8]) -> io::Result<()> {
        self.enqueue(handle, data, None)
    }

    /// Queues `data` as one datagram to `to` on a datagram socket.
    ///
    /// # Errors
    /// As [`Mux::send`]; `InvalidInput` on a stream.
    pub fn send_to(&mut self, handle: Handle, to: SocketAddrAny, data: &[u8]) -> io::Result<()> {
        self.enqueue(handle, data, Some(to))
    }

    fn enqueue(
        &mut self,
        handle: Handle,
        data: &[u8],
        to: Option<SocketAddrAny>,
    ) -> io::Result<()> {
        let slot = self.registry.get_mut(handle.0).ok_or_else(not_found)?;
        if matches!(slot.state, State::Dead | State::Flushing) {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the handle is closing",
            ));
        }
        if slot.listen {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot send on a listening socket",
            ));
        }
        let was_empty = !slot.has_unsent();
        match slot.kind {
            SockKind::Stream if to.is_some() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "send_to needs a datagram socket",
                ));
            }
            SockKind::Stream => slot
                .send
                .push_bytes(data)
                .map_err(|full| io::Error::new(io::ErrorKind::OutOfMemory, full))?,
            SockKind::Dgram => slot.datagrams.push_back((data.to_vec(), to)),
        }
        slot.owes_sent = true;
        if was_empty && !slot.connecting {
            self.flush(handle);
        }
        self.update_interest(handle);
        Ok(())
    }

    /// Graceful close: stops reading, flushes the send queue, then queues `Closing`
    /// (with the count left unsent if flushing failed) and `Closed`. The seed's
    /// documentation describes this; its 2.x code closes at once and reports what was
    /// left. [`Mux::kill`] is the immediate close.
    ///
    /// # Errors
    /// `NotFound` for a stale handle.
    pub fn close(&mut self, handle: Handle) -> io::Result<()> {
        let slot = self.registry.get_mut(handle.0).ok_or_else(not_found)?;
        match slot.state {
            State::Dead | State::Flushing => return Ok(()),
            _ if slot.has_unsent() && !slot.options.manual_write => {
                slot.state = State::Flushing;
                self.update_interest(handle);
            }
            _ => self.shut(handle),
        }
        Ok(())
    }

    /// Immediate close: drops the send queue and buffers, closes the fd and queues
    /// `Closed` (with the metadata). No `ReadLast`, no `Closing`; events already queued
    /// for the handle are dropped.
    ///
    /// # Errors
    /// `NotFound` for a stale handle.
    pub fn kill(&mut self, handle: Handle) -> io::Result<()> {
        let slot = self.registry.remove(handle.0).ok_or_else(not_found)?;
        drop(slot.fd);
        self.resume_listeners();
        self.queue.retain(|q| q.handle() != Some(handle));
        self.queue.push_back(Queued::Event(Event::Closed {
            handle,
            meta: slot.meta,
        }));
        Ok(())
    }

    /// Forgets a handle and hands its fd back: out of the poller, still open, and still
    /// non-blocking (as `add` made it, unless both manual read and write were set).
    /// Buffered input and the send queue are dropped, and so are queued events for it.
    pub fn remove(&mut self, handle: Handle) -> Option<OwnedFd> {
        let slot = self.registry.remove(handle.0)?;
        self.queue.retain(|q| q.handle() != Some(handle));
        Some(slot.fd)
    }

    /// Manual read: asks for one more `CanRead`. On a listener whose accepting was
    /// paused by `EMFILE`, resumes it.
    ///
    /// # Errors
    /// `NotFound` for a stale handle.
    pub fn want_read(&mut self, handle: Handle) -> io::Result<()> {
        self.registry
            .get_mut(handle.0)
            .ok_or_else(not_found)?
            .read_armed = true;
        self.update_interest(handle);
        Ok(())
    }

    /// Manual write: asks for one more `CanWrite`.
    ///
    /// # Errors
    /// `NotFound` for a stale handle.
    pub fn want_write(&mut self, handle: Handle) -> io::Result<()> {
        self.registry
            .get_mut(handle.0)
            .ok_or_else(not_found)?
            .write_armed = true;
        self.update_interest(handle);
        Ok(())
    }

    /// `epoll_pwait` until an event, or until `timeout` (`None`: no limit; zero: poll
    /// once) passes, which returns [`Event::Timeout`]. Queued events come first.
    ///
    /// # Errors
    /// The poller's error (not `EINTR`, which is retried).
    pub fn next_event(&mut self, timeout: Option<Duration>) -> io::Result<Event<M>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            while let Some(queued) = self.queue.pop_front() {
                if let Some(event) = self.take(queued) {
                    return Ok(event);
                }
            }
            let remaining = match (timeout, deadline) {
                (None, _) => None,
                (Some(_), Some(deadline)) => {
                    Some(deadline.saturating_duration_since(Instant::now()))
                }
                (Some(t), None) => Some(t),
            };
            let mut ready = std::mem::take(&mut self.ready);
            ready.clear();
            self.registry.wait(&mut ready, remaining)?;
            self.dispatch(&ready);
            self.ready = ready;
            if self.queue.is_empty() && remaining.is_some_and(|r| r.is_zero()) {
                return Ok(Event::Timeout);
            }
            if self.queue.is_empty() && deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Event::Timeout);
            }
        }
    }

    /// Turns a queued item into the event to return (or nothing, for a step whose
    /// handle is gone or that only started a flush).
    fn take(&mut self, queued: Queued<M>) -> Option<Event<M>> {
        match queued {
            Queued::Event(event) => Some(event),
            Queued::Close(handle) => {
                let slot = self.registry.remove(handle.0)?;
                drop(slot.fd);
                self.resume_listeners();
                Some(Event::Closed {
                    handle,
                    meta: slot.meta,
                })
            }
            Queued::CloseAfterEof(handle) => {
                // A stale handle (killed or removed meanwhile) is simply skipped.
                let _ = self.close(handle);
                None
            }
        }
    }

    fn dispatch(&mut self, ready: &[(Token, Readiness)]) {
        for &(token, readiness) in ready {
            if readiness.writable || readiness.error || readiness.hangup {
                self.on_writable(Handle(token));
            }
        }
        for &(token, readiness) in ready {
            if readiness.readable || readiness.error || readiness.hangup || readiness.read_closed {
                self.on_readable(Handle(token));
            }
        }
    }

    /// A descriptor was freed: listeners paused by `EMFILE` may accept again.
    fn resume_listeners(&mut self) {
        if self.paused_listeners == 0 {
            return;
        }
        self.paused_listeners = 0;
        let paused: Vec<Handle> = self
            .registry
            .iter()
            .filter(|(_, slot)| slot.listen && !slot.read_armed && slot.state == State::Open)
            .map(|(token, _)| Handle(token))
            .collect();
        for handle in paused {
            if let Some(slot) = self.registry.get_mut(handle.0) {
                slot.read_armed = true;
            }
            self.update_interest(handle);
        }
    }

    fn push(&mut self, event: Event<M>) {
        self.queue.push_back(Queued::Event(event));
    }

    fn push_error(&mut self, handle: Handle, error: impl Into<io::Error>) {
        self.push(Event::Error {
            handle,
            error: error.into(),
        });
    }

    fn update_interest(&mut self, handle: Handle) {
        if let Some(slot) = self.registry.get(handle.0) {
            if slot.state == State::Dead {
                return;
            }
            let interest = slot.interest();
            if let Err(error) = self.registry.set_interest(handle.0, interest) {
                self.push_error(handle, error);
                self.shut(handle);
            }
        }
    }

    /// Takes the handle out of the poller and queues `Closing` then `Closed`.
    fn shut(&mut self, handle: Handle) {
        let Some(slot) = self.registry.get_mut(handle.0) else {
            return;
        };
        if slot.state == State::Dead {
            return;
        }
        slot.state = State::Dead;
        let unsent = slot.unsent();
        self.registry.deregister(handle.0);
        self.push(Event::Closing { handle, unsent });
        self.queue.push_back(Queued::Close(handle));
    }

    fn on_writable(&mut self, handle: Handle) {
        let Some(slot) = self.registry.get_mut(handle.0) else {
            return;
        };
        if slot.state == State::Dead || slot.listen {
            return;
        }
        if slot.connecting {
            slot.connecting = false;
            match rustix::net::sockopt::socket_error(&slot.fd) {
                Ok(Ok(())) => self.push(Event::Ready { handle }),
                // The connect failed, or SO_ERROR could not be read.
                Ok(Err(errno)) | Err(errno) => {
                    self.push_error(handle, errno);
                    self.shut(handle);
                    return;
                }
            }
        }
        self.flush(handle);
        if let Some(slot) = self.registry.get_mut(handle.0)
            && slot.options.manual_write
            && slot.write_armed
            && slot.state != State::Dead
        {
            slot.write_armed = false;
            self.push(Event::CanWrite { handle });
        }
        self.update_interest(handle);
    }

    /// Writes what is queued; queues `Sent` when the queue empties, finishes a graceful
    /// close, or reports a write error.
    fn flush(&mut self, handle: Handle) {
        let Some(slot) = self.registry.get_mut(handle.0) else {
            return;
        };
        let error = match slot.kind {
            SockKind::Stream => match slot.send.flush(&slot.fd, slot.write_mode).stop {
                FlushStop::Empty | FlushStop::WouldBlock => None,
                FlushStop::Completion(never) => match never {},
                FlushStop::Error(e) => Some((e, true)),
            },
            SockKind::Dgram => flush_datagrams(slot),
        };
        let slot = self.registry.get_mut(handle.0).expect("checked above");
        let drained = !slot.has_unsent();
        if drained && slot.owes_sent {
            slot.owes_sent = false;
            self.push(Event::Sent { handle });
        }
        if let Some((error, fatal)) = error {
            self.push_error(handle, error);
            if fatal {
                self.shut(handle);
                return;
            }
        }
        let slot = self.registry.get_mut(handle.0).expect("checked above");
        if drained && slot.state == State::Flushing {
            self.shut(handle);
        }
    }

    fn on_readable(&mut self, handle: Handle) {
        let Some(slot) = self.registry.get_mut(handle.0) else {
            return;
        };
        match slot.state {
            State::Dead | State::Eof | State::Flushing => return,
            State::Open => {}
        }
        if slot.listen {
            if slot.options.manual_accept {
                self.push(Event::Accepting { handle });
            } else {
                self.accept(handle);
            }
            return;
        }
        if slot.options.manual_read {
            if slot.read_armed {
                slot.read_armed = false;
                self.push(Event::CanRead { handle });
                self.update_interest(handle);
            }
            return;
        }
        match slot.kind {
            SockKind::Stream => self.read_stream(handle),
            SockKind::Dgram => self.read_datagrams(handle),
        }
    }

    fn accept(&mut self, listener: Handle) {
        for _ in 0..READS_PER_WAKE {
            let Some(slot) = self.registry.get(listener.0) else {
                return;
            };
            let flags = rustix::net::SocketFlags::NONBLOCK | rustix::net::SocketFlags::CLOEXEC;
            match rustix::net::acceptfrom_with(&slot.fd, flags) {
                Ok((fd, peer)) => {
                    let is_unix = match &peer {
                        Some(addr) => addr.address_family() == AddressFamily::UNIX,
                        None => true,
                    };
                    let creds = if is_unix {
                        socket::socket_creds(&fd).ok()
                    } else {
                        None
                    };
                    let options = Options {
                        listen: Some(false),
                        kind: Some(slot.kind),
                        ..slot.options.clone()
                    };
                    match self.add_connecting(fd, options, false) {
                        Ok(handle) => self.push(Event::Accepted {
                            handle,
                            listener,
                            peer,
                            creds,
                        }),
                        Err(error) => self.push_error(listener, error),
                    }
                }
                Err(Errno::AGAIN) => return,
                Err(Errno::INTR | Errno::CONNABORTED) => {}
                Err(errno @ (Errno::MFILE | Errno::NFILE)) => {
                    // Out of descriptors: the connection stays in the backlog and the
                    // listener stays readable, so polling it again would spin. Pause
                    // it until the mux closes a handle (or `want_read`).
                    self.push_error(listener, errno);
                    if let Some(slot) = self.registry.get_mut(listener.0) {
                        slot.read_armed = false;
                        self.paused_listeners += 1;
                    }
                    self.update_interest(listener);
                    return;
                }
                Err(errno) => {
                    self.push_error(listener, errno);
                    return;
                }
            }
        }
    }

    fn read_stream(&mut self, handle: Handle) {
        for _ in 0..READS_PER_WAKE {
            let Some(slot) = self.registry.get_mut(handle.0) else {
                return;
            };
            let read_size = slot.options.read_size;
            let fd = slot.fd.as_fd();
            let (result, raw) = match slot.framer.as_mut() {
                Some(framer) => (
                    framer.fill_with(read_size, |buf| rustix::io::read(fd, buf)),
                    None,
                ),
                None => {
                    let mut data = Vec::with_capacity(read_size);
                    let r = rustix::io::read(fd, rustix::buffer::spare_capacity(&mut data));
                    (r, Some(data))
                }
            };
            match result {
                Ok(0) => {
                    self.end_of_stream(handle);
                    return;
                }
                Ok(_) => {
                    let produced = match raw {
                        Some(data) => {
                            self.push(Event::Read {
                                handle,
                                data,
                                sender: None,
                            });
                            true
                        }
                        None => self.drain_frames(handle),
                    };
                    if produced {
                        return;
                    }
                }
                Err(Errno::AGAIN) => return,
                Err(Errno::INTR) => {}
                Err(errno) => {
                    self.push_error(handle, errno);
                    self.shut(handle);
                    return;
                }
            }
        }
    }

    /// Queues a `Read` per complete frame; a frame error is queued as `Error`
    /// (`InvalidData`) and closes the handle. Returns whether an event was queued.
    fn drain_frames(&mut self, handle: Handle) -> bool {
        let mut produced = false;
        loop {
            let Some(framer) = self
                .registry
                .get_mut(handle.0)
                .and_then(|slot| slot.framer.as_mut())
            else {
                return produced;
            };
            match framer.next_frame() {
                Ok(Some(data)) => {
                    produced = true;
                    self.push(Event::Read {
                        handle,
                        data,
                        sender: None,
                    });
                }
                Ok(None) => return produced,
                Err(err) => {
                    self.push_error(handle, err);
                    self.shut(handle);
                    return true;
                }
            }
        }
    }

    /// The peer finished: what is buffered comes out as `ReadLast`; the graceful close
    /// is queued behind it, so a reply sent while handling `ReadLast` is flushed first.
    fn end_of_stream(&mut self, handle: Handle) {
        let Some(slot) = self.registry.get_mut(handle.0) else {
            return;
        };
        slot.state = State::Eof;
        let rest = slot.framer.as_mut().map(Framer::finish);
        match rest {
            Some(Ok(Some(data))) => self.push(Event::ReadLast { handle, data }),
            Some(Err(err)) => self.push_error(handle, err),
            Some(Ok(None)) | None => {}
        }
        self.update_interest(handle);
        self.queue.push_back(Queued::CloseAfterEof(handle));
    }

    fn read_datagrams(&mut self, handle: Handle) {
        for _ in 0..READS_PER_WAKE {
            let Some(slot) = self.registry.get_mut(handle.0) else {
                return;
            };
            let mut data = vec![0u8; slot.options.read_size];
            match rustix::net::recvfrom(&slot.fd, &mut data[..], RecvFlags::TRUNC) {
                Ok((got, full, sender)) => {
                    if full > got {
                        self.push_error(
                            handle,
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!(
                                    "datagram of {full} bytes truncated to the read size {got}"
                                ),
                            ),
                        );
                    } else {
                        data.truncate(got);
                        self.push(Event::Read {
                            handle,
                            data,
                            sender,
                        });
                    }
                    return;
                }
                Err(Errno::AGAIN) => return,
                Err(Errno::INTR) => {}
                Err(errno) => {
                    // ECONNREFUSED and other ICMP errors on a connected socket: the
                    // socket stays usable.
                    self.push_error(handle, errno);
                    return;
                }
            }
        }
    }
}

/// Sends queued datagrams until the socket would block. A datagram the kernel refuses
/// is dropped and its error returned (not fatal: UDP errors concern one datagram).
fn flush_datagrams<M>(slot: &mut Slot<M>) -> Option<(io::Error, bool)> {
    while let Some((data, to)) = slot.datagrams.front() {
        let result = match to {
            Some(to) => rustix::net::sendto(&slot.fd, data, SendFlags::NOSIGNAL, to),
            None => rustix::net::send(&slot.fd, data, SendFlags::NOSIGNAL),
        };
        match result {
            Ok(_) => {
                slot.datagrams.pop_front();
            }
            Err(Errno::AGAIN) => return None,
            Err(Errno::INTR) => {}
            Err(errno) => {
                slot.datagrams.pop_front();
                return Some((errno.into(), false));
            }
        }
    }
    None
}
