//! Messages: what is sent (checked before it is queued) and how one `recvmsg` result is
//! decoded into a delivered message, a per-message error, or the orderly end.
//!
//! [`decode`] is pure (no system call) so that it can be fuzzed: the invariant is that
//! every descriptor handed to it is either delivered in a [`Message`] or closed.

use std::os::fd::OwnedFd;

use crate::error::Error;

/// The kernel's `SCM_MAX_FD`: a message with more descriptors fails with `EINVAL`, so
/// the passer refuses it before sending.
pub const MAX_FDS_PER_MESSAGE: usize = 253;

/// The payload byte sent with a single descriptor when the caller gives none (the
/// original's one-fd-plus-one-byte framing; the receiver ignores its value).
pub const FD_ONLY_PAYLOAD: u8 = 0;

/// Socket type and framing of a passer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `SOCK_SEQPACKET` (default): message boundaries are kept, so a message may carry
    /// up to 253 descriptors and a payload, and a damaged message does not desynchronise
    /// the ones after it.
    #[default]
    SeqPacket,
    /// `SOCK_STREAM` speaking AnyEvent::FDpasser's framing: one descriptor attached to
    /// one byte per message. Interoperates with the original and with any peer that
    /// sends one descriptor per one-byte `sendmsg`.
    Stream,
}

/// A message waiting to be sent: descriptors plus a non-empty payload.
///
/// The descriptors are owned: once the kernel took the message they are closed (the
/// sender's copy must not linger), and if the message is never sent they are closed
/// when it is dropped.
#[derive(Debug)]
pub struct Outgoing {
    fds: Vec<OwnedFd>,
    payload: Vec<u8>,
}

impl Outgoing {
    /// A message of `fds` and `payload`.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyFds`] beyond [`MAX_FDS_PER_MESSAGE`], [`Error::EmptyPayload`] for
    /// an empty payload. The descriptors of a rejected message are closed.
    pub fn new(fds: Vec<OwnedFd>, payload: Vec<u8>) -> Result<Self, Error> {
        if fds.len() > MAX_FDS_PER_MESSAGE {
            return Err(Error::TooManyFds {
                count: fds.len(),
                max: MAX_FDS_PER_MESSAGE,
            });
        }
        if payload.is_empty() {
            return Err(Error::EmptyPayload);
        }
        Ok(Outgoing { fds, payload })
    }

    /// One descriptor with the one-byte payload [`FD_ONLY_PAYLOAD`] (valid in both
    /// modes).
    pub fn fd(fd: OwnedFd) -> Self {
        Outgoing {
            fds: vec![fd],
            payload: vec![FD_ONLY_PAYLOAD],
        }
    }

    /// The descriptors to pass.
    pub fn fds(&self) -> &[OwnedFd] {
        &self.fds
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Checks the message against a passer's mode and limits.
    pub(crate) fn check(
        &self,
        mode: Mode,
        max_fds: usize,
        max_payload: usize,
    ) -> Result<(), Error> {
        if mode == Mode::Stream && (self.fds.len() != 1 || self.payload.len() != 1) {
            return Err(Error::StreamFraming {
                fds: self.fds.len(),
                payload: self.payload.len(),
            });
        }
        if self.fds.len() > max_fds {
            return Err(Error::TooManyFds {
                count: self.fds.len(),
                max: max_fds,
            });
        }
        if self.payload.len() > max_payload {
            return Err(Error::PayloadTooLarge {
                len: self.payload.len(),
                max: max_payload,
            });
        }
        Ok(())
    }
}

impl From<OwnedFd> for Outgoing {
    fn from(fd: OwnedFd) -> Self {
        Outgoing::fd(fd)
    }
}

/// A received message: its descriptors (close-on-exec, owned by you) and payload.
#[derive(Debug)]
pub struct Message {
    /// The descriptors, in the order the sender listed them.
    pub fds: Vec<OwnedFd>,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

impl Message {
    /// The first descriptor, closing any others; `None` for a message without one.
    pub fn into_fd(self) -> Option<OwnedFd> {
        self.fds.into_iter().next()
    }
}

/// What one `recvmsg` returned, before it is interpreted by [`decode`].
#[derive(Debug)]
pub struct RawMessage {
    /// The payload bytes that fit in the receive buffer.
    pub payload: Vec<u8>,
    /// The kernel set `MSG_CTRUNC`: descriptors were dropped.
    pub fds_truncated: bool,
    /// The kernel set `MSG_TRUNC`: the payload did not fit in the buffer.
    pub payload_truncated: bool,
    /// The receive buffer size (reported in [`Error::PayloadTruncated`]).
    pub buffer_len: usize,
    /// The descriptors that arrived.
    pub fds: Vec<OwnedFd>,
}

/// Interprets one `recvmsg` result.
///
/// `max_fds` is the receiver's limit: the control buffer may have a little more room
/// than asked for (alignment), and a message over the limit is treated as truncated.
///
/// Returns `None` for the orderly end (zero bytes and no descriptors: the peer closed,
/// which is also how an empty `SOCK_SEQPACKET` message reads — we never send one),
/// `Some(Err(_))` for a per-message error (every descriptor that arrived is closed), and
/// `Some(Ok(_))` for a message to deliver.
pub fn decode(mode: Mode, max_fds: usize, raw: RawMessage) -> Option<Result<Message, Error>> {
    let RawMessage {
        payload,
        fds_truncated,
        payload_truncated,
        buffer_len,
        fds,
    } = raw;
    if payload.is_empty() && fds.is_empty() && !fds_truncated {
        return None;
    }
    // Dropping `fds` on the error paths closes every descriptor that did arrive.
    if fds_truncated || fds.len() > max_fds {
        return Some(Err(Error::FdsTruncated { closed: fds.len() }));
    }
    if payload_truncated {
        return Some(Err(Error::PayloadTruncated { max: buffer_len }));
    }
    if mode == Mode::Stream && fds.is_empty() {
        return Some(Err(Error::MissingFd));
    }
    Some(Ok(Message { fds, payload }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devnull() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    fn raw(payload: &[u8], fds: usize) -> RawMessage {
        RawMessage {
            payload: payload.to_vec(),
            fds_truncated: false,
            payload_truncated: false,
            buffer_len: 16,
            fds: (0..fds).map(|_| devnull()).collect(),
        }
    }

    #[test]
    fn empty_read_is_the_end() {
        assert!(decode(Mode::SeqPacket, 253, raw(b"", 0)).is_none());
        assert!(decode(Mode::Stream, 1, raw(b"", 0)).is_none());
    }

    #[test]
    fn truncation_wins_and_reports_the_closed_count() {
        let mut r = raw(b"x", 2);
        r.fds_truncated = true;
        r.payload_truncated = true;
        match decode(Mode::SeqPacket, 253, r) {
            Some(Err(Error::FdsTruncated { closed: 2 })) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn more_than_the_limit_counts_as_truncated() {
        assert!(matches!(
            decode(Mode::SeqPacket, 2, raw(b"x", 3)),
            Some(Err(Error::FdsTruncated { closed: 3 }))
        ));
    }

    #[test]
    fn stream_needs_a_descriptor() {
        assert!(matches!(
            decode(Mode::Stream, 1, raw(b"x", 0)),
            Some(Err(Error::MissingFd))
        ));
        let msg = decode(Mode::Stream, 1, raw(b"x", 1)).unwrap().unwrap();
        assert_eq!(msg.fds.len(), 1);
    }

    #[test]
    fn outgoing_limits() {
        assert!(matches!(
            Outgoing::new(vec![devnull()], Vec::new()),
            Err(Error::EmptyPayload)
        ));
        let two = Outgoing::new(vec![devnull(), devnull()], b"ab".to_vec()).unwrap();
        assert!(matches!(
            two.check(Mode::Stream, 253, 4096),
            Err(Error::StreamFraming { fds: 2, payload: 2 })
        ));
        assert!(matches!(
            two.check(Mode::SeqPacket, 1, 4096),
            Err(Error::TooManyFds { count: 2, max: 1 })
        ));
        assert!(matches!(
            two.check(Mode::SeqPacket, 253, 1),
            Err(Error::PayloadTooLarge { len: 2, max: 1 })
        ));
    }
}
