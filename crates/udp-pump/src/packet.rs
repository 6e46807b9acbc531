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

/// A batch stops growing once its datagrams take this many bytes, so that a pooled
/// batch keeps a bounded buffer however large the datagrams are.
pub(crate) const BATCH_BYTES: usize = 256 * 1024;

/// One batch's datagrams back to back in one buffer, with their lengths and senders:
/// filled by the receive thread, then shared read-only by the batch's packets. One
/// buffer per batch, not per packet, keeps the handoff's cross-core traffic per batch.
#[derive(Debug, Default)]
pub(crate) struct BatchBuf {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// The senders, apart from the entries: an owner that reads only the data then
    /// touches 24 bytes of bookkeeping per packet, not the hundred-odd an address takes.
    senders: Vec<Option<PeerAddr>>,
}

#[derive(Debug)]
struct Entry {
    start: usize,
    end: usize,
    len: usize,
}

impl BatchBuf {
    /// Appends a copy of `data` (a datagram of real length `len`); returns its index.
    pub(crate) fn push(&mut self, data: &[u8], len: usize, from: Option<PeerAddr>) -> usize {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.entries.push(Entry {
            start,
            end: self.bytes.len(),
            len,
        });
        self.senders.push(from);
        self.entries.len() - 1
    }

    /// The bytes its datagrams take.
    pub(crate) fn bytes_len(&self) -> usize {
        self.bytes.len()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
        self.senders.clear();
    }
}

/// A bounded pool of batch buffers: buffers keep their capacity between batches, so a
/// steady stream allocates nothing.
#[derive(Debug)]
pub(crate) struct BatchPool {
    put: Sender<BatchBuf>,
    get: Receiver<BatchBuf>,
}

impl BatchPool {
    /// A pool holding at most `capacity` idle buffers.
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        let (put, get) = bounded(capacity);
        Arc::new(BatchPool { put, get })
    }

    /// An empty buffer, from the pool when it has one.
    pub(crate) fn take(&self) -> BatchBuf {
        self.get.try_recv().unwrap_or_default()
    }

    /// Shares a filled buffer with the packets made from it; it returns to the pool when
    /// the last of them is dropped.
    pub(crate) fn share(self: &Arc<Self>, buf: BatchBuf) -> Arc<SharedBatch> {
        Arc::new(SharedBatch {
            buf,
            pool: Arc::clone(self),
        })
    }

    fn give_back(&self, mut buf: BatchBuf) {
        buf.clear();
        // A full pool means the owner holds more batches than the queue bound; let the
        // surplus go.
        let _ = self.put.try_send(buf);
    }
}

/// A filled batch buffer, shared by its packets.
#[derive(Debug)]
pub(crate) struct SharedBatch {
    buf: BatchBuf,
    pool: Arc<BatchPool>,
}

impl SharedBatch {
    /// The packet at `index` (as [`BatchBuf::push`] returned it).
    pub(crate) fn packet(self: &Arc<Self>, index: usize) -> Packet {
        Packet {
            batch: Arc::clone(self),
            index,
        }
    }
}

impl Drop for SharedBatch {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

/// One received datagram (the seed's hash: `from`, `buffer`, `len`; failed receives are
/// reported as `Err(io::Error)` next to packets instead of a `-1` length and `errno`).
///
/// Its bytes live in its batch's buffer, which goes back to the pump's pool once every
/// packet of the batch is dropped: keep [`into_vec`](Self::into_vec) copies rather than
/// packets when holding data for long.
pub struct Packet {
    batch: Arc<SharedBatch>,
    index: usize,
}

impl Packet {
    fn entry(&self) -> Option<&Entry> {
        self.batch.buf.entries.get(self.index)
    }

    /// The sender, as `recvfrom` reported it (`None` when the kernel gave no address).
    pub fn from(&self) -> Option<&PeerAddr> {
        self.batch.buf.senders.get(self.index)?.as_ref()
    }

    /// The bytes received: the whole datagram, or its first `max_datagram` bytes when
    /// [`truncated`](Self::truncated).
    pub fn data(&self) -> &[u8] {
        self.entry()
            .and_then(|e| self.batch.buf.bytes.get(e.start..e.end))
            .unwrap_or_default()
    }

    /// The datagram's real length (`MSG_TRUNC`), which exceeds `data().len()` exactly
    /// when it was truncated.
    pub fn len(&self) -> usize {
        self.entry().map_or(0, |e| e.len)
    }

    /// Whether the datagram was empty (a zero-length datagram is a packet).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the datagram was longer than the pump's buffer and was cut.
    pub fn truncated(&self) -> bool {
        self.len() > self.data().len()
    }

    /// A copy of the bytes, which does not hold the batch's buffer.
    pub fn into_vec(self) -> Vec<u8> {
        self.data().to_vec()
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("from", &self.from())
            .field("len", &self.len())
            .field("truncated", &self.truncated())
            .finish_non_exhaustive()
    }
}
