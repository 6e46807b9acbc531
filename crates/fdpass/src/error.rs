//! The one error type of the crate, and how a passer ends.

use std::fmt;
use std::io;

/// Everything that can go wrong while passing descriptors.
///
/// Some errors concern one message only (see [`Error::is_per_message`]): the passer
/// reports them to that message's receive callback and carries on. The others either
/// reject a call before anything was queued, or shut the passer down.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed; `op` names it.
    Io {
        /// The system call or step that failed (`"sendmsg"`, `"bind"`, …).
        op: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
    /// A message may carry at most [`MAX_FDS_PER_MESSAGE`](crate::MAX_FDS_PER_MESSAGE)
    /// descriptors (the kernel's `SCM_MAX_FD`), or fewer if the passer was built so.
    TooManyFds {
        /// How many descriptors the message had.
        count: usize,
        /// The limit it broke.
        max: usize,
    },
    /// Every message carries at least one payload byte: an empty `SOCK_SEQPACKET`
    /// message reads like end-of-file on the other side.
    EmptyPayload,
    /// The payload is longer than the passer's `max_payload`.
    PayloadTooLarge {
        /// The payload's length.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// [`Mode::Stream`](crate::Mode::Stream) speaks the original framing: exactly one
    /// descriptor and one payload byte per message.
    StreamFraming {
        /// Descriptors in the rejected message.
        fds: usize,
        /// Payload bytes in the rejected message.
        payload: usize,
    },
    /// Per message: the kernel set `MSG_CTRUNC`, so descriptors of this message were
    /// dropped (the receiver's room was too small, or its descriptor table was full).
    /// The `closed` descriptors that did arrive were closed; the kernel does not say how
    /// many more were dropped (at least one).
    FdsTruncated {
        /// Descriptors that arrived with the message and were closed.
        closed: usize,
    },
    /// Per message: the payload was longer than the receive buffer (`MSG_TRUNC`); the
    /// message and its descriptors were discarded.
    PayloadTruncated {
        /// The receive buffer size the payload did not fit in.
        max: usize,
    },
    /// Per message, [`Mode::Stream`](crate::Mode::Stream) only: a byte arrived without
    /// a descriptor (the peer does not speak the one-fd-plus-one-byte framing).
    MissingFd,
    /// The socket path does not fit in `sockaddr_un.sun_path`.
    PathTooLong {
        /// The path's length in bytes.
        len: usize,
        /// The longest path the kernel accepts.
        max: usize,
    },
    /// Something that must not be replaced is at the server's socket path.
    PathOccupied {
        /// What is there: `"not a socket"` or `"a live server"`.
        what: &'static str,
    },
    /// The peer closed its end (orderly end, as a blocking call reports it).
    PeerClosed,
    /// The passer was shut down earlier (after an error or the peer's close).
    Shutdown,
}

impl Error {
    pub(crate) fn io(op: &'static str, errno: rustix::io::Errno) -> Self {
        Error::Io {
            op,
            source: errno.into(),
        }
    }

    /// True for errors that concern one received message only; the passer goes on.
    pub fn is_per_message(&self) -> bool {
        matches!(
            self,
            Error::FdsTruncated { .. } | Error::PayloadTruncated { .. } | Error::MissingFd
        )
    }

    /// True if this is a failed system call that would have blocked (`EAGAIN`), as a
    /// non-blocking [`Listener::accept`](crate::Listener::accept) returns when no
    /// connection is waiting.
    pub fn is_would_block(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::WouldBlock)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, source } => write!(f, "{op}: {source}"),
            Error::TooManyFds { count, max } => {
                write!(
                    f,
                    "{count} descriptors in one message, at most {max} allowed"
                )
            }
            Error::EmptyPayload => f.write_str("a message needs at least one payload byte"),
            Error::PayloadTooLarge { len, max } => {
                write!(f, "payload of {len} bytes, at most {max} allowed")
            }
            Error::StreamFraming { fds, payload } => write!(
                f,
                "stream mode sends exactly one descriptor and one byte per message, \
                 not {fds} descriptors and {payload} bytes"
            ),
            Error::FdsTruncated { closed } => write!(
                f,
                "descriptors dropped by the kernel (MSG_CTRUNC); the {closed} that arrived were closed"
            ),
            Error::PayloadTruncated { max } => {
                write!(
                    f,
                    "message longer than the {max}-byte receive buffer (MSG_TRUNC)"
                )
            }
            Error::MissingFd => f.write_str("stream mode: a byte arrived without a descriptor"),
            Error::PathTooLong { len, max } => write!(
                f,
                "unix socket path of {len} bytes is too long (at most {max})"
            ),
            Error::PathOccupied { what } => write!(f, "socket path is taken by {what}"),
            Error::PeerClosed => f.write_str("the peer closed its end"),
            Error::Shutdown => f.write_str("the passer was shut down"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Io { source, .. } => source,
            Error::PeerClosed => io::Error::new(io::ErrorKind::UnexpectedEof, err),
            other => io::Error::other(other),
        }
    }
}

/// How a passer ended; given once to the `on_end` callback.
#[derive(Debug)]
pub enum End {
    /// The peer closed its end (orderly); `unsent` messages were still queued and were
    /// closed without being sent.
    PeerClosed {
        /// Queued messages that were never sent.
        unsent: usize,
    },
    /// A fatal error shut the passer down.
    Failed(Error),
}
