//! [`Packet`]: one received datagram, in a buffer that returns to the pump's pool when
//! dropped.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, bounded};
use rustix::net::{AddressFamily, SocketAddrAny, SocketAddrUnix};

/// Where a datagram came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAddr {
    /// An IPv4 or IPv6 sender.
    Inet(SocketAddr),
    /// A unix datagram sender (possibly unnamed).
    Unix(SocketAddrUnix),
    /// An address family the pump does not decode (its family is kept).
    Other(AddressFamily),
}

impl PeerAddr {
    pub(crate) fn from_any(addr: SocketAddrAny) -> Self {
        let family = addr.address_family();
        if family == AddressFamily::INET || family == AddressFamily::INET6 {
            if let Ok(inet) = SocketAddr::try_from(addr) {
                return PeerAddr::Inet(inet);
            }
        } else if family == AddressFamily::UNIX
            && let Ok(unix) = SocketAddrUnix::try_from(addr)
        {
            return PeerAddr::Unix(unix);
        }
        PeerAddr::Other(family)
    }

    /// The IP sender, if it is one.
    pub fn inet(&self) -> Option<SocketAddr> {
        match self {
            PeerAddr::Inet(addr) => Some(*addr),
            _ => None,
        }
    }
}

/// A bounded pool of byte buffers: buffers keep their capacity between packets, so a
/// steady stream allocates nothing.
#[derive(Debug)]
pub(crate) struct BufferPool {
    put: Sender<Vec<u8>>,
    get: Receiver<Vec<u8>>,
}

impl BufferPool {
    /// A pool holding at most `capacity` idle buffers.
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        let (put, get) = bounded(capacity);
        Arc::new(BufferPool { put, get })
    }

    /// A pooled packet holding a copy of `data`.
    pub(crate) fn packet(
        self: &Arc<Self>,
        data: &[u8],
        len: usize,
        from: Option<PeerAddr>,
    ) -> Packet {
        let mut buf = self.get.try_recv().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        Packet {
            buf,
            len,
            from,
            pool: Some(Arc::clone(self)),
        }
    }

    fn give_back(&self, buf: Vec<u8>) {
        // A full pool means the owner holds more packets than the queue bound; let the
        // surplus go.
        let _ = self.put.try_send(buf);
    }
}

/// One received datagram (the seed's hash: `from`, `buffer`, `len`; failed receives are
/// reported as `Err(io::Error)` next to packets instead of a `-1` length and `errno`).
///
/// Its buffer goes back to the pump's pool when the packet is dropped.
pub struct Packet {
    buf: Vec<u8>,
    len: usize,
    from: Option<PeerAddr>,
    pool: Option<Arc<BufferPool>>,
}

impl Packet {
    /// The sender, as `recvfrom` reported it (`None` when the kernel gave no address).
    pub fn from(&self) -> Option<&PeerAddr> {
        self.from.as_ref()
    }

    /// The bytes received: the whole datagram, or its first `max_datagram` bytes when
    /// [`truncated`](Self::truncated).
    pub fn data(&self) -> &[u8] {
        &self.buf
    }

    /// The datagram's real length (`MSG_TRUNC`), which exceeds `data().len()` exactly
    /// when it was truncated.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the datagram was empty (a zero-length datagram is a packet).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the datagram was longer than the pump's buffer and was cut.
    pub fn truncated(&self) -> bool {
        self.len > self.buf.len()
    }

    /// The bytes, taken out of the pool.
    pub fn into_vec(mut self) -> Vec<u8> {
        self.pool = None;
        std::mem::take(&mut self.buf)
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("from", &self.from)
            .field("len", &self.len)
            .field("truncated", &self.truncated())
            .finish_non_exhaustive()
    }
}

impl Drop for Packet {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give_back(std::mem::take(&mut self.buf));
        }
    }
}
