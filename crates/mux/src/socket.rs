//! Socket helpers (the seed's `socket_creds`, `socket_type`, `socket_listening`,
//! `nonblock`): thin, documented wrappers over `getsockopt`/`fcntl`.

use std::io;
use std::os::fd::AsFd;

use rustix::net::sockopt;

/// The credentials of the process at the other end of a unix socket, as the kernel
/// recorded them when the connection was made (`SO_PEERCRED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerCreds {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Whether a socket carries a byte stream or datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockKind {
    /// `SOCK_STREAM` (and anything that is not a datagram socket: pipes, ttys).
    Stream,
    /// `SOCK_DGRAM` or `SOCK_SEQPACKET`: message boundaries are kept.
    Dgram,
}

/// `getsockopt(SO_PEERCRED)`: the peer's pid, uid and gid on a connected unix socket.
///
/// # Errors
/// `ENOTSOCK`, or `ENOTCONN`/`EINVAL` for a socket that is not a connected unix socket.
pub fn socket_creds(fd: impl AsFd) -> io::Result<PeerCreds> {
    let cred = sockopt::socket_peercred(fd)?;
    Ok(PeerCreds {
        pid: cred.pid.as_raw_pid(),
        uid: cred.uid.as_raw(),
        gid: cred.gid.as_raw(),
    })
}

/// `getsockopt(SO_TYPE)`: stream or datagram. Seqpacket sockets count as datagram
/// sockets (they keep message boundaries).
///
/// # Errors
/// `ENOTSOCK` for an fd that is not a socket.
pub fn socket_type(fd: impl AsFd) -> io::Result<SockKind> {
    let kind = sockopt::socket_type(fd)?;
    Ok(
        if kind == rustix::net::SocketType::DGRAM || kind == rustix::net::SocketType::SEQPACKET {
            SockKind::Dgram
        } else {
            SockKind::Stream
        },
    )
}

/// `getsockopt(SO_ACCEPTCONN)`: whether the socket is listening.
///
/// # Errors
/// `ENOTSOCK` for an fd that is not a socket.
pub fn socket_listening(fd: impl AsFd) -> io::Result<bool> {
    Ok(sockopt::socket_acceptconn(fd)?)
}

/// `fcntl(F_SETFL, O_NONBLOCK)`: puts the fd into non-blocking mode (other status flags
/// are kept).
///
/// # Errors
/// `EBADF`.
pub fn nonblock(fd: impl AsFd) -> io::Result<()> {
    let fd = fd.as_fd();
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}
