//! Preparing sockets: binding, receive buffer sizing, and the two ways for many
//! processes to share one port (a socket inherited across `fork`, or `SO_REUSEPORT`).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{
    AddressFamily, SocketFlags, SocketType, bind, getsockname, ipproto, socket_with, sockopt,
};

use crate::packet::PeerAddr;

/// `socket(AF_INET/AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP)` + `bind`—A blocking
/// UDP socket bound to `addr` (port 0 picks a free port; [`local_addr`] tells which).
///
/// An IPv6 socket is made `IPV6_V6ONLY` so that binding `[::]` and `0.0.0.0` to one port
/// side by side works the same on every host.
///
/// # Errors
/// What `socket`, `setsockopt` or `bind` fail with (`EADDRINUSE`, `EACCES`, …).
pub fn bind_udp(addr: SocketAddr) -> io::Result<OwnedFd> {
    let fd = udp_socket(addr)?;
    bind(&fd, &addr)?;
    Ok(fd)
}

fn udp_socket(addr: SocketAddr) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = socket_with(
        family,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(ipproto::UDP),
    )?;
    if addr.is_ipv6() {
        sockopt::set_ipv6_v6only(&fd, true)?;
    }
    Ok(fd)
}

/// `getsockname`—The IP address a socket is bound to.
///
/// # Errors
/// What `getsockname` fails with, or `InvalidInput` for a socket that is not IP.
pub fn local_addr(fd: impl AsFd) -> io::Result<SocketAddr> {
    match PeerAddr::from_any(getsockname(fd)?) {
        PeerAddr::Inet(addr) => Ok(addr),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not an IP socket: {other:?}"),
        )),
    }
}

/// `setsockopt(SO_RCVBUF)` then `getsockopt(SO_RCVBUF)`—Asks for a receive buffer of
/// `bytes` and returns what the kernel granted.
///
/// Linux caps the request at `net.core.rmem_max` and reports twice the value it stored
/// (half of it is bookkeeping overhead), so the granted size may be smaller or larger
/// than `bytes`: log it, do not assume it.
///
/// # Errors
/// What `setsockopt`/`getsockopt` fail with.
pub fn set_recv_buffer_size(fd: impl AsFd, bytes: usize) -> io::Result<usize> {
    let fd = fd.as_fd();
    sockopt::set_socket_recv_buffer_size(fd, bytes)?;
    Ok(sockopt::socket_recv_buffer_size(fd)?)
}

/// `setsockopt(SO_RCVBUFFORCE)` then `getsockopt(SO_RCVBUF)`—Like
/// [`set_recv_buffer_size`] but past `net.core.rmem_max`, which needs `CAP_NET_ADMIN`.
///
/// # Errors
/// `EPERM` without the capability; [`request_recv_buffer_size`] falls back instead.
pub fn set_recv_buffer_size_force(fd: impl AsFd, bytes: usize) -> io::Result<usize> {
    let fd = fd.as_fd();
    sockopt::set_socket_recv_buffer_size_force(fd, bytes)?;
    Ok(sockopt::socket_recv_buffer_size(fd)?)
}

/// The forced size when privileged, the capped one otherwise: returns the size granted.
///
/// # Errors
/// What `setsockopt`/`getsockopt` fail with other than the `EPERM` of the forced try.
pub fn request_recv_buffer_size(fd: impl AsFd, bytes: usize) -> io::Result<usize> {
    let fd = fd.as_fd();
    match set_recv_buffer_size_force(fd, bytes) {
        Err(err) if err.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) => {
            set_recv_buffer_size(fd, bytes)
        }
        other => other,
    }
}

/// One bound socket for workers that are forked after binding (the seed's model).
///
/// Every worker inherits the same socket and runs a pump on it with
/// [`Sharing::Shared`](crate::Sharing::Shared). Each datagram wakes exactly one of the
/// blocked readers: a blocking UDP receive sleeps *exclusively*
/// (`__skb_wait_for_more_packets` → `prepare_to_wait_exclusive`), so there is no
/// thundering herd, and a busy worker simply is not among the sleepers — the kernel
/// hands the next datagram to an idle one. This is `bind_udp`; it exists under this name
/// so that the model is visible where a server is set up.
///
/// # Errors
/// As [`bind_udp`].
pub fn bind_shared(addr: SocketAddr) -> io::Result<OwnedFd> {
    bind_udp(addr)
}

/// `SO_REUSEPORT` sockets bound to one address, one per worker.
///
/// The kernel spreads datagrams over the sockets by a hash of the sender's address and
/// port, so one sender always lands on the same worker. Made before forking; each child
/// keeps its own socket with [`into_worker`](Self::into_worker), which closes the others
/// in that child (a socket still open in a process that never reads it keeps receiving
/// its share of the traffic, which then overflows and is lost). The parent drops the
/// group once the workers are started.
#[derive(Debug)]
pub struct ReuseportGroup {
    sockets: Vec<OwnedFd>,
    addr: SocketAddr,
}

impl ReuseportGroup {
    /// `socket` + `setsockopt(SO_REUSEPORT)` + `bind`, `workers` times. With port 0 the
    /// first socket picks the port and the others bind to it.
    ///
    /// # Errors
    /// What the syscalls fail with; `InvalidInput` for zero workers.
    pub fn bind(addr: SocketAddr, workers: usize) -> io::Result<Self> {
        if workers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a reuseport group needs at least one worker",
            ));
        }
        let mut sockets = Vec::with_capacity(workers);
        let mut bound = addr;
        for _ in 0..workers {
            let fd = udp_socket(bound)?;
            sockopt::set_socket_reuseport(&fd, true)?;
            bind(&fd, &bound)?;
            bound = local_addr(&fd)?;
            sockets.push(fd);
        }
        Ok(ReuseportGroup {
            sockets,
            addr: bound,
        })
    }

    /// The address every socket of the group is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The sockets, in worker order.
    pub fn sockets(&self) -> &[OwnedFd] {
        &self.sockets
    }

    /// Worker `index`'s socket (`None` past the last worker); the others are closed (in
    /// this process).
    pub fn into_worker(mut self, index: usize) -> Option<OwnedFd> {
        (index < self.sockets.len()).then(|| self.sockets.swap_remove(index))
    }
}
