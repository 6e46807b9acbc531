//! Sockets for [`crate::Mux::connect`] and [`crate::Mux::listen`], from an [`Endpoint`].
//!
//! Every socket is created `SOCK_NONBLOCK | SOCK_CLOEXEC`. A TCP connect returns at
//! once (`EINPROGRESS`); the handle reports `Ready` or `Error` when it completes.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use rustix::io::Errno;
use rustix::net::{self, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::url::Endpoint;

/// Backlog of listening sockets (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 1024;

fn new_socket(family: AddressFamily, kind: SocketType) -> io::Result<OwnedFd> {
    Ok(net::socket_with(
        family,
        kind,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?)
}

fn family(addr: &SocketAddr) -> AddressFamily {
    match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    }
}

/// `socket` + `connect` (non-blocking: `EINPROGRESS` is success).
pub(crate) fn connect(endpoint: &Endpoint) -> io::Result<OwnedFd> {
    let (fd, result) = match endpoint {
        Endpoint::Tcp(addr) => {
            let fd = new_socket(family(addr), SocketType::STREAM)?;
            let r = net::connect(&fd, addr);
            (fd, r)
        }
        Endpoint::Udp(addr) => {
            let fd = new_socket(family(addr), SocketType::DGRAM)?;
            let r = net::connect(&fd, addr);
            (fd, r)
        }
        Endpoint::Unix(path) | Endpoint::UnixDgram(path) => {
            let kind = match endpoint {
                Endpoint::Unix(_) => SocketType::STREAM,
                _ => SocketType::DGRAM,
            };
            let fd = new_socket(AddressFamily::UNIX, kind)?;
            let r = net::connect(&fd, &SocketAddrUnix::new(path.as_path())?);
            (fd, r)
        }
    };
    match result {
        Ok(()) | Err(Errno::INPROGRESS) => Ok(fd),
        Err(e) => Err(e.into()),
    }
}

/// `socket` + `bind` (+ `SO_REUSEADDR` for TCP, + `listen` for streams).
pub(crate) fn listen(endpoint: &Endpoint) -> io::Result<OwnedFd> {
    match endpoint {
        Endpoint::Tcp(addr) => {
            let fd = new_socket(family(addr), SocketType::STREAM)?;
            net::sockopt::set_socket_reuseaddr(&fd, true)?;
            net::bind(&fd, addr)?;
            net::listen(&fd, BACKLOG)?;
            Ok(fd)
        }
        Endpoint::Udp(addr) => {
            let fd = new_socket(family(addr), SocketType::DGRAM)?;
            net::bind(&fd, addr)?;
            Ok(fd)
        }
        Endpoint::Unix(path) => {
            let fd = new_socket(AddressFamily::UNIX, SocketType::STREAM)?;
            net::bind(&fd, &SocketAddrUnix::new(path.as_path())?)?;
            net::listen(&fd, BACKLOG)?;
            Ok(fd)
        }
        Endpoint::UnixDgram(path) => {
            let fd = new_socket(AddressFamily::UNIX, SocketType::DGRAM)?;
            net::bind(&fd, &SocketAddrUnix::new(path.as_path())?)?;
            Ok(fd)
        }
    }
}
