//! `shoal-fdpass`'s receive-side decoding ([`shoal_fdpass::decode`]) on arbitrary
//! `recvmsg` outcomes: flags, payload, descriptor count and the receiver's limit.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use shoal_fdpass::{Error, Mode, RawMessage, decode};

/// Input layout: byte 0 = flags (bit 0 stream mode, bit 1 `MSG_CTRUNC`, bit 2
/// `MSG_TRUNC`), byte 1 = descriptors that "arrived" (mod 6), byte 2 = the receiver's
/// `max_fds` (1 to 8), the rest = payload (at most 64 bytes).
///
/// Invariants: the orderly end only for an empty read; a message is delivered only when
/// nothing was truncated and the limits hold, with every descriptor and the payload
/// intact; and every descriptor is closed once the outcome is dropped. The descriptors
/// are duplicates of one end of a socket pair, so the other end reads end-of-file only if
/// none leaked — a check no other thread can disturb (unlike counting `/proc/self/fd`).
pub fn fdpass_decode(data: &[u8]) {
    let [flags, fd_count, max_fds, payload @ ..] = data else {
        return;
    };
    let mode = if flags & 1 == 0 {
        Mode::SeqPacket
    } else {
        Mode::Stream
    };
    let fds_truncated = flags & 2 != 0;
    let payload_truncated = flags & 4 != 0;
    let fd_count = usize::from(fd_count % 6);
    let max_fds = usize::from(max_fds % 8) + 1;
    let payload = &payload[..payload.len().min(64)];

    let (end, mut witness) = UnixStream::pair().expect("socketpair");
    witness.set_nonblocking(true).expect("nonblocking");
    let fds: Vec<OwnedFd> = (0..fd_count)
        .map(|_| end.try_clone().expect("dup").into())
        .collect();
    drop(end);
    let raw = RawMessage {
        payload: payload.to_vec(),
        fds_truncated,
        payload_truncated,
        buffer_len: 64,
        fds,
    };
    match decode(mode, max_fds, raw) {
        None => assert!(payload.is_empty() && fd_count == 0 && !fds_truncated),
        Some(Ok(msg)) => {
            assert!(!fds_truncated && !payload_truncated);
            assert!(fd_count <= max_fds);
            assert!(mode == Mode::SeqPacket || fd_count >= 1);
            assert_eq!(msg.fds.len(), fd_count);
            assert_eq!(msg.payload, payload);
        }
        Some(Err(Error::FdsTruncated { closed })) => {
            assert!(fds_truncated || fd_count > max_fds);
            assert_eq!(closed, fd_count);
        }
        Some(Err(e)) => assert!(e.is_per_message(), "unexpected error {e:?}"),
    }
    let mut byte = [0u8; 1];
    match witness.read(&mut byte) {
        Ok(0) => {}
        other => panic!("a descriptor leaked: the witness read {other:?}"),
    }
}
