//! The write queue: byte chunks and completion items in order, flushed vectored into an
//! fd. A building block on its own (`shoal-mux` uses it with its own completion type).
//!
//! Sockets are written with `sendmsg(…, MSG_NOSIGNAL)`, so a peer that reset the
//! connection yields `EPIPE` instead of a process-killing `SIGPIPE`; `writev` (which
//! has no flags) is used only for fds that are not sockets (pipes, ttys). The queue
//! holds at most [`WriteQueue::limit`] bytes: a push that would exceed it is refused
//! whole with [`QueueFull`], so a peer that stops reading cannot eat memory.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};

use rustix::net::{SendAncillaryBuffer, SendFlags};

/// How bytes are written to an fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteMode {
    /// `sendmsg(…, MSG_NOSIGNAL)`: sockets.
    Socket,
    /// `writev`: any other fd (pipes, character devices, files).
    Plain,
}

impl WriteMode {
    /// `fstat`: `Socket` for a socket, `Plain` for anything else.
    ///
    /// # Errors
    /// `fstat` failed (`EBADF`).
    pub fn detect(fd: BorrowedFd<'_>) -> io::Result<WriteMode> {
        let stat = rustix::fs::fstat(fd)?;
        Ok(
            if rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Socket {
                WriteMode::Socket
            } else {
                WriteMode::Plain
            },
        )
    }

    /// `sendmsg(fd, bufs, MSG_NOSIGNAL)` or `writev(fd, bufs)`; `EINTR` is retried.
    ///
    /// # Errors
    /// The syscall's error (`WouldBlock` for `EAGAIN`).
    pub fn write_vectored(self, fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            let result = match self {
                WriteMode::Socket => rustix::net::sendmsg(
                    fd,
                    bufs,
                    &mut SendAncillaryBuffer::default(),
                    SendFlags::NOSIGNAL,
                ),
                WriteMode::Plain => rustix::io::writev(fd, bufs),
            };
            match result {
                Err(rustix::io::Errno::INTR) => continue,
                other => return other.map_err(io::Error::from),
            }
        }
    }
}

/// A push was refused: it would have taken the queue over its byte limit. Nothing of
/// the refused bytes was queued or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFull {
    /// Bytes already queued.
    pub queued: usize,
    /// Bytes the refused push carried.
    pub refused: usize,
    /// The queue's limit.
    pub limit: usize,
}

impl fmt::Display for QueueFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "write queue full: {} bytes queued + {} refused > limit {}",
            self.queued, self.refused, self.limit
        )
    }
}

impl std::error::Error for QueueFull {}

/// Why a [`WriteQueue::flush`] stopped.
#[derive(Debug)]
pub enum FlushStop<C> {
    /// Everything was written; the queue is empty.
    Empty,
    /// Everything queued before this completion item was written; it is handed back
    /// (run it, then flush again).
    Completion(C),
    /// The fd cannot take more now (`EAGAIN`, or a short write): wait for writability.
    WouldBlock,
    /// The write failed (`EPIPE`, `ECONNRESET`, …); the queue is left as it was after
    /// the bytes written so far.
    Error(io::Error),
}

/// The result of one [`WriteQueue::flush`].
#[derive(Debug)]
pub struct Flush<C> {
    /// Bytes written by this flush.
    pub written: usize,
    /// Why it stopped.
    pub stop: FlushStop<C>,
}

enum Item<C> {
    Bytes(Vec<u8>),
    Completion(C),
}

/// Most chunks handed to one `sendmsg`/`writev` (well under `IOV_MAX` = 1024).
const MAX_IOVECS: usize = 64;

/// Default byte limit of a queue: 16 MiB.
pub const DEFAULT_LIMIT: usize = 16 << 20;

/// An ordered queue of byte chunks and completion items `C`.
pub struct WriteQueue<C> {
    items: VecDeque<Item<C>>,
    /// Bytes of the front chunk already written.
    head_offset: usize,
    queued: usize,
    limit: usize,
}

impl<C> Default for WriteQueue<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> fmt::Debug for WriteQueue<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteQueue")
            .field("items", &self.items.len())
            .field("queued", &self.queued)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<C> WriteQueue<C> {
    /// An empty queue with the [`DEFAULT_LIMIT`].
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_LIMIT)
    }

    /// An empty queue holding at most `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        WriteQueue {
            items: VecDeque::new(),
            head_offset: 0,
            queued: 0,
            limit,
        }
    }

    /// The byte limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the byte limit (bytes already queued stay, even above it).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    /// Whether nothing (no bytes, no completion) is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether `len` more bytes fit under the limit.
    pub fn fits(&self, len: usize) -> bool {
        self.queued
            .checked_add(len)
            .is_some_and(|total| total <= self.limit)
    }

    /// Appends a copy of `data`.
    ///
    /// # Errors
    /// [`QueueFull`] if it would exceed the limit; nothing is queued then.
    pub fn push_bytes(&mut self, data: &[u8]) -> Result<(), QueueFull> {
        self.push_vec(data.to_vec())
    }

    /// Appends `data` without copying.
    ///
    /// # Errors
    /// [`QueueFull`] if it would exceed the limit; nothing is queued then.
    pub fn push_vec(&mut self, data: Vec<u8>) -> Result<(), QueueFull> {
        if !self.fits(data.len()) {
            return Err(QueueFull {
                queued: self.queued,
                refused: data.len(),
                limit: self.limit,
            });
        }
        if !data.is_empty() {
            self.queued += data.len();
            self.items.push_back(Item::Bytes(data));
        }
        Ok(())
    }

    /// Appends a completion item, handed back by `flush` once every byte queued before
    /// it is written.
    pub fn push_completion(&mut self, completion: C) {
        self.items.push_back(Item::Completion(completion));
    }

    /// Drops everything queued and returns the completion items, in order, that will
    /// now never be reached.
    pub fn clear(&mut self) -> Vec<C> {
        self.head_offset = 0;
        self.queued = 0;
        self.items
            .drain(..)
            .filter_map(|item| match item {
                Item::Completion(c) => Some(c),
                Item::Bytes(_) => None,
            })
            .collect()
    }

    /// Writes queued bytes into `fd` with `mode` until the queue is empty, a completion
    /// item is reached, the fd would block, or an error.
    pub fn flush(&mut self, fd: impl AsFd, mode: WriteMode) -> Flush<C> {
        let fd = fd.as_fd();
        self.flush_with(|bufs| mode.write_vectored(fd, bufs))
    }

    /// As [`WriteQueue::flush`] but through `writer` (a TLS layer, a test double): it
    /// returns how many bytes of the slices it took, or an error (`WouldBlock` to stop).
    pub fn flush_with(
        &mut self,
        mut writer: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> Flush<C> {
        let mut written = 0;
        loop {
            match self.items.front() {
                None => {
                    return Flush {
                        written,
                        stop: FlushStop::Empty,
                    };
                }
                Some(Item::Completion(_)) => {
                    if let Some(Item::Completion(c)) = self.items.pop_front() {
                        return Flush {
                            written,
                            stop: FlushStop::Completion(c),
                        };
                    }
                }
                Some(Item::Bytes(_)) => {}
            }
            // On the stack: one flush per write on the hot path, no allocation.
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            let mut offered = 0;
            for (i, item) in self.items.iter().enumerate() {
                let Item::Bytes(bytes) = item else { break };
                let bytes = if i == 0 {
                    &bytes[self.head_offset..]
                } else {
                    &bytes[..]
                };
                offered += bytes.len();
                slices[count] = IoSlice::new(bytes);
                count += 1;
                if count == MAX_IOVECS {
                    break;
                }
            }
            let result = writer(&slices[..count]);
            match result {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "write returned 0");
                    return Flush {
                        written,
                        stop: FlushStop::Error(e),
                    };
                }
                Ok(n) => {
                    let n = n.min(offered);
                    self.consume(n);
                    written += n;
                    if n < offered {
                        // A short write means the buffer is full; level-triggered
                        // writability tells us when there is room again.
                        return Flush {
                            written,
                            stop: FlushStop::WouldBlock,
                        };
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Flush {
                        written,
                        stop: FlushStop::WouldBlock,
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Flush {
                        written,
                        stop: FlushStop::Error(e),
                    };
                }
            }
        }
    }

    fn consume(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let Some(Item::Bytes(front)) = self.items.front() else {
                break;
            };
            let left = front.len() - self.head_offset;
            if n < left {
                self.head_offset += n;
                return;
            }
            n -= left;
            self.head_offset = 0;
            self.items.pop_front();
        }
    }
}
