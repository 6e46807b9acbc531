//! The region header: its layout in shared memory and the checks an untrusted one passes.
//!
//! Every field is an atomic, so a `&Header` into shared memory is sound while the mapping
//! lives: other processes may change any field at any time, and each access is a single
//! atomic load or store. The data area follows at [`HEADER_LEN`].

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::error::HeaderError;

/// `"SHOALSHM"` as a little-endian `u64`: the first 8 bytes of every region.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"SHOALSHM");

/// Layout version; bumped whenever a field moves or changes meaning.
pub(crate) const LAYOUT_VERSION: u32 = 1;

/// Size of the header, and offset of the data area (a multiple of 64, so the data is
/// aligned for word-wise copies and starts on its own cache line).
pub(crate) const HEADER_LEN: usize = 64;

/// `length` value meaning "nothing was ever stored".
pub(crate) const NO_VALUE: u64 = u64::MAX;

/// The first [`HEADER_LEN`] bytes of a region.
#[repr(C)]
pub(crate) struct Header {
    /// [`MAGIC`].
    pub(crate) magic: AtomicU64,
    /// [`LAYOUT_VERSION`].
    pub(crate) version: AtomicU32,
    /// [`HEADER_LEN`], so a reader can reject a header of another size.
    pub(crate) header_len: AtomicU32,
    /// Bytes in the data area.
    pub(crate) capacity: AtomicU64,
    /// Inode of the creator's pid namespace (`/proc/self/ns/pid`), 0 if unknown: thread
    /// ids in the lock word only mean something inside one pid namespace.
    pub(crate) pid_ns: AtomicU64,
    /// The futex word of the PI lock, which is also the owner id: the owner's thread id |
    /// `FUTEX_WAITERS` | `FUTEX_OWNER_DIED`.
    pub(crate) lock: AtomicU32,
    /// Unused, zero (keeps the fields below at their offsets).
    pub(crate) reserved: AtomicU32,
    /// 1 once a holder died after starting to change the data (the sequence counter was
    /// left odd), until someone marks the data consistent again.
    pub(crate) inconsistent: AtomicU32,
    /// How many times a dead holder's lock was recovered (wrapping).
    pub(crate) recoveries: AtomicU32,
    /// Sequence lock: odd while a writer is changing the data.
    pub(crate) seq: AtomicU64,
    /// Length of the value stored by `set`, or [`NO_VALUE`].
    pub(crate) length: AtomicU64,
}

const _: () = assert!(size_of::<Header>() == HEADER_LEN);

impl Header {
    /// Writes a fresh header (the mapping is not shared with anyone yet).
    pub(crate) fn init(&self, capacity: usize, pid_ns: u64) {
        self.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        self.header_len.store(HEADER_LEN as u32, Ordering::Relaxed);
        self.capacity.store(capacity as u64, Ordering::Relaxed);
        self.pid_ns.store(pid_ns, Ordering::Relaxed);
        self.lock.store(0, Ordering::Relaxed);
        self.reserved.store(0, Ordering::Relaxed);
        self.inconsistent.store(0, Ordering::Relaxed);
        self.recoveries.store(0, Ordering::Relaxed);
        self.seq.store(0, Ordering::Relaxed);
        self.length.store(NO_VALUE, Ordering::Relaxed);
        // Last, with Release: a reader that sees the magic sees the rest.
        self.magic.store(MAGIC, Ordering::Release);
    }

    /// Checks a header found in a file of `file_len` bytes and returns the data capacity.
    ///
    /// The capacity is read once here and kept by the caller: a peer may rewrite the
    /// field afterwards, and nothing ever reads it again.
    pub(crate) fn validate(&self, file_len: u64, our_pid_ns: u64) -> Result<usize, HeaderError> {
        let magic = self.magic.load(Ordering::Acquire);
        if magic != MAGIC {
            return Err(HeaderError::Magic { found: magic });
        }
        let version = self.version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(HeaderError::Version {
                found: version,
                supported: LAYOUT_VERSION,
            });
        }
        let header_len = self.header_len.load(Ordering::Relaxed);
        if header_len as usize != HEADER_LEN {
            return Err(HeaderError::HeaderLen { found: header_len });
        }
        let capacity = self.capacity.load(Ordering::Relaxed);
        check_capacity(capacity, file_len)?;
        let pid_ns = self.pid_ns.load(Ordering::Relaxed);
        if pid_ns != 0 && our_pid_ns != 0 && pid_ns != our_pid_ns {
            return Err(HeaderError::PidNamespace {
                creator: pid_ns,
                ours: our_pid_ns,
            });
        }
        // `check_capacity` bounded it by the file length, which fits the address space
        // (the file is mapped whole).
        usize::try_from(capacity).map_err(|_| HeaderError::Capacity { capacity, file_len })
    }
}

/// The data area (`capacity` bytes after the header) must lie inside the file.
pub(crate) fn check_capacity(capacity: u64, file_len: u64) -> Result<(), HeaderError> {
    match capacity.checked_add(HEADER_LEN as u64) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(HeaderError::Capacity { capacity, file_len }),
    }
}

/// The inode of this process's pid namespace, 0 if `/proc` does not tell.
pub(crate) fn pid_namespace() -> u64 {
    rustix::fs::stat("/proc/self/ns/pid").map_or(0, |st| st.st_ino)
}
