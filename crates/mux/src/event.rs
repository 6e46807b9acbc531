//! What [`crate::Mux::next_event`] returns.

use std::io;

use rustix::net::SocketAddrAny;
use shoal_reactor::Token;

use crate::socket::PeerCreds;

/// Names one handle of a [`crate::Mux`]. Generational: once a handle is closed or
/// removed, its `Handle` never names another socket, even one with the same fd number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(pub(crate) Token);

/// One event. `M` is the user metadata type of the [`crate::Mux`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<M> {
    /// The timeout given to `next_event` passed without an event.
    Timeout,
    /// A listener accepted a connection, now a handle with the listener's options.
    Accepted {
        /// The new connection.
        handle: Handle,
        /// The listener.
        listener: Handle,
        /// The peer's address (`None` for an unnamed unix socket).
        peer: Option<SocketAddrAny>,
        /// The peer's pid/uid/gid for a unix socket (`SO_PEERCRED`).
        creds: Option<PeerCreds>,
    },
    /// A stream handle became writable for the first time and `SO_ERROR` says the
    /// connection is established (a non-blocking connect finished).
    Ready {
        /// The handle.
        handle: Handle,
    },
    /// A listener with manual accept has a connection waiting: accept it yourself
    /// (through [`crate::Mux::fd`]); the event repeats while one waits.
    Accepting {
        /// The listener.
        handle: Handle,
    },
    /// Data: one frame under the handle's framing rule, else what one read returned,
    /// or one datagram.
    Read {
        /// The handle.
        handle: Handle,
        /// The bytes.
        data: Vec<u8>,
        /// The sender of a datagram.
        sender: Option<SocketAddrAny>,
    },
    /// End of stream: the buffered bytes that did not make a complete frame (everything,
    /// under the `last` rule). Followed by `Closing` and `Closed`.
    ReadLast {
        /// The handle.
        handle: Handle,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Everything queued with `send`/`send_to` has been handed to the kernel.
    Sent {
        /// The handle.
        handle: Handle,
    },
    /// The handle no longer produces events; its metadata is still there. `Closed`
    /// follows on a later call.
    Closing {
        /// The handle.
        handle: Handle,
        /// Bytes (streams) or datagrams (datagram sockets) left unsent.
        unsent: usize,
    },
    /// The fd is closed and the handle forgotten; its metadata is handed back.
    Closed {
        /// The handle (now stale).
        handle: Handle,
        /// The metadata the handle carried.
        meta: Option<M>,
    },
    /// A handle with manual read is readable. Read it yourself, then re-arm with
    /// [`crate::Mux::want_read`].
    CanRead {
        /// The handle.
        handle: Handle,
    },
    /// A handle with manual write is writable. Write, then re-arm with
    /// [`crate::Mux::want_write`].
    CanWrite {
        /// The handle.
        handle: Handle,
    },
    /// An error on a handle: a failed connect, a reset, a frame that breaks the rule
    /// (`InvalidData`; the connection is then closed), or an ICMP error reported on a
    /// connected UDP socket (`ConnectionRefused`; the socket stays open).
    Error {
        /// The handle.
        handle: Handle,
        /// What went wrong.
        error: io::Error,
    },
}

impl<M> Event<M> {
    /// The handle the event is about (`None` for `Timeout`).
    pub fn handle(&self) -> Option<Handle> {
        match self {
            Self::Timeout => None,
            Self::Accepted { handle, .. }
            | Self::Ready { handle }
            | Self::Accepting { handle }
            | Self::Read { handle, .. }
            | Self::ReadLast { handle, .. }
            | Self::Sent { handle }
            | Self::Closing { handle, .. }
            | Self::Closed { handle, .. }
            | Self::CanRead { handle }
            | Self::CanWrite { handle }
            | Self::Error { handle, .. } => Some(*handle),
        }
    }
}
