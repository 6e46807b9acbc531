//! One `sendmsg` / one `recvmsg` with `SCM_RIGHTS`: the only place that touches
//! ancillary buffers.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::io::{Errno, IoSlice, IoSliceMut};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};

use crate::message::{MAX_FDS_PER_MESSAGE, Outgoing, RawMessage};

/// Control-buffer bytes for `n` descriptors.
pub(crate) const fn cmsg_room(n: usize) -> usize {
    rustix::cmsg_space!(ScmRights(n))
}

/// `sendmsg(MSG_NOSIGNAL | MSG_DONTWAIT)`—sends `msg` as one message.
///
/// `MSG_NOSIGNAL` so a vanished peer is `EPIPE`, not `SIGPIPE`; `MSG_DONTWAIT` so the
/// queue never blocks even on a socket left in blocking mode.
pub(crate) fn send(socket: BorrowedFd<'_>, msg: &Outgoing) -> Result<(), Errno> {
    let mut space = [MaybeUninit::<u8>::uninit(); cmsg_room(MAX_FDS_PER_MESSAGE)];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let single;
    let many: Vec<BorrowedFd<'_>>;
    let fds: &[BorrowedFd<'_>] = match msg.fds() {
        [] => &[],
        [fd] => {
            single = [fd.as_fd()];
            &single
        }
        list => {
            many = list.iter().map(AsFd::as_fd).collect();
            &many
        }
    };
    if !fds.is_empty() {
        // Cannot fail: the buffer has room for MAX_FDS_PER_MESSAGE, which `Outgoing`
        // enforces.
        let pushed = control.push(SendAncillaryMessage::ScmRights(fds));
        debug_assert!(pushed);
    }
    let iov = [IoSlice::new(msg.payload())];
    // SOCK_SEQPACKET sends all or nothing; on SOCK_STREAM the payload is one byte.
    sendmsg(
        socket,
        &iov,
        &mut control,
        SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
    )
    .map(drop)
}

/// Reusable receive buffers sized for one passer's limits.
#[derive(Debug)]
pub(crate) struct RecvBuffers {
    payload: Vec<u8>,
    cmsg: Vec<MaybeUninit<u8>>,
}

impl RecvBuffers {
    pub(crate) fn new(max_fds: usize, max_payload: usize) -> Self {
        RecvBuffers {
            payload: vec![0; max_payload],
            cmsg: vec![MaybeUninit::uninit(); cmsg_room(max_fds.max(1))],
        }
    }
}

/// `recvmsg(MSG_CMSG_CLOEXEC | MSG_DONTWAIT)`—receives one message.
///
/// `MSG_CMSG_CLOEXEC` so no received descriptor can leak into a child exec'd by another
/// thread between receipt and a later `fcntl`.
pub(crate) fn recv(socket: BorrowedFd<'_>, bufs: &mut RecvBuffers) -> Result<RawMessage, Errno> {
    let mut control = RecvAncillaryBuffer::new(&mut bufs.cmsg);
    let got = {
        let mut iov = [IoSliceMut::new(&mut bufs.payload)];
        recvmsg(
            socket,
            &mut iov,
            &mut control,
            RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
        )?
    };
    // Without MSG_TRUNC in the flags, `bytes` never exceeds the buffer.
    let payload = bufs.payload[..got.bytes.min(bufs.payload.len())].to_vec();
    let mut fds = Vec::new();
    for cmsg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = cmsg {
            fds.extend(received);
        }
    }
    Ok(RawMessage {
        payload,
        fds_truncated: got.flags.contains(ReturnFlags::CTRUNC),
        payload_truncated: got.flags.contains(ReturnFlags::TRUNC),
        buffer_len: bufs.payload.len(),
        fds,
    })
}
