//! Errors of this crate: every failure is a value, none is a panic.

use std::fmt;

use rustix::io::Errno;

/// Why a region could not be created, opened, locked, read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A value of `len` bytes does not fit in the data area of `capacity` bytes.
    TooLarge {
        /// Bytes asked for.
        len: usize,
        /// Bytes the data area holds.
        capacity: usize,
    },
    /// An access of `len` bytes at `offset` runs past the end of the data area.
    OutOfBounds {
        /// Offset into the data area.
        offset: usize,
        /// Bytes accessed.
        len: usize,
        /// Bytes the data area holds.
        capacity: usize,
    },
    /// The stored value is `stored` bytes long but the type read is `expected` bytes.
    LengthMismatch {
        /// Length recorded by the last `set`.
        stored: usize,
        /// `size_of` the type asked for.
        expected: usize,
    },
    /// The length recorded in shared memory is larger than the data area: another
    /// process wrote garbage into the header. Nothing was read.
    CorruptLength {
        /// The length found.
        length: u64,
        /// Bytes the data area holds.
        capacity: usize,
    },
    /// A process died holding the lock inside its critical section, so the data may be
    /// half-written (like `EOWNERDEAD`). Take the lock with
    /// [`SharedRegion::lock`](crate::SharedRegion::lock), repair or check the data, and call
    /// [`LockGuard::mark_consistent`](crate::LockGuard::mark_consistent); a whole-value
    /// `set` also clears it.
    Inconsistent,
    /// This thread already holds the lock (the kernel's `EDEADLK`).
    Deadlock,
    /// [`try_lock`](crate::SharedRegion::try_lock): another thread holds the lock.
    WouldBlock,
    /// [`from_fd`](crate::SharedRegion::from_fd): the file does not hold a valid region.
    InvalidHeader(HeaderError),
    /// [`from_fd`](crate::SharedRegion::from_fd): the file is not sealed against shrinking
    /// and growing and the seals could not be added (a peer's `ftruncate` could then make
    /// our accesses fault with `SIGBUS`).
    NotSealed {
        /// The error of `fcntl(F_ADD_SEALS)`.
        errno: Errno,
    },
    /// `get_serde`/`set_serde`: postcard could not encode or decode the value.
    #[cfg(feature = "serde")]
    Serde(postcard::Error),
    /// A system call failed.
    Os {
        /// The call, such as `"mmap"`.
        call: &'static str,
        /// Its error.
        errno: Errno,
    },
}

/// What is wrong with the header of a region opened with
/// [`from_fd`](crate::SharedRegion::from_fd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The file is shorter than the header.
    Truncated {
        /// The file's size from `fstat`.
        file_len: u64,
    },
    /// The first 8 bytes are not `SHOALSHM`.
    Magic {
        /// What was found, as a little-endian `u64`.
        found: u64,
    },
    /// A layout version this build does not know.
    Version {
        /// Version found.
        found: u32,
        /// The one version this build reads.
        supported: u32,
    },
    /// The header claims another header size.
    HeaderLen {
        /// Size found.
        found: u32,
    },
    /// The data area the header claims does not fit in the file.
    Capacity {
        /// Capacity found in the header.
        capacity: u64,
        /// The file's size from `fstat`.
        file_len: u64,
    },
    /// The region was created in another pid namespace, where thread ids in the lock
    /// word mean other threads.
    PidNamespace {
        /// Inode of the creator's pid namespace.
        creator: u64,
        /// Inode of ours.
        ours: u64,
    },
    /// The file is not a regular file (memfd or tmpfs file).
    NotRegularFile,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, capacity } => write!(
                f,
                "value of {len} bytes does not fit in a region of {capacity} bytes"
            ),
            Self::OutOfBounds {
                offset,
                len,
                capacity,
            } => write!(
                f,
                "access of {len} bytes at offset {offset} runs past the {capacity}-byte data area"
            ),
            Self::LengthMismatch { stored, expected } => write!(
                f,
                "stored value is {stored} bytes, the type read is {expected} bytes"
            ),
            Self::CorruptLength { length, capacity } => write!(
                f,
                "shared header records a length of {length} bytes in a {capacity}-byte data area"
            ),
            Self::Inconsistent => f.write_str(
                "a process died holding the lock; the data may be inconsistent until marked consistent",
            ),
            Self::Deadlock => f.write_str("this thread already holds the region's lock"),
            Self::WouldBlock => f.write_str("the region's lock is held by another thread"),
            Self::InvalidHeader(err) => write!(f, "invalid shared region: {err}"),
            Self::NotSealed { errno } => write!(
                f,
                "memfd is not sealed against shrinking and growing, and sealing failed: {errno}"
            ),
            #[cfg(feature = "serde")]
            Self::Serde(err) => write!(f, "postcard: {err}"),
            Self::Os { call, errno } => write!(f, "{call}: {errno}"),
        }
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { file_len } => write!(
                f,
                "file of {file_len} bytes is shorter than the {}-byte header",
                crate::header::HEADER_LEN
            ),
            Self::Magic { found } => write!(f, "bad magic {found:#018x}"),
            Self::Version { found, supported } => {
                write!(f, "layout version {found}, this build reads {supported}")
            }
            Self::HeaderLen { found } => write!(f, "header length {found}"),
            Self::Capacity { capacity, file_len } => write!(
                f,
                "capacity {capacity} plus the header exceeds the {file_len}-byte file"
            ),
            Self::PidNamespace { creator, ours } => write!(
                f,
                "created in pid namespace {creator}, this process is in {ours}"
            ),
            Self::NotRegularFile => f.write_str("not a regular file"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os { errno, .. } | Self::NotSealed { errno } => Some(errno),
            Self::InvalidHeader(err) => Some(err),
            #[cfg(feature = "serde")]
            Self::Serde(err) => Some(err),
            _ => None,
        }
    }
}

impl std::error::Error for HeaderError {}

impl From<HeaderError> for Error {
    fn from(err: HeaderError) -> Self {
        Self::InvalidHeader(err)
    }
}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::Os { errno, .. } => return std::io::Error::from(*errno),
            Error::WouldBlock => std::io::ErrorKind::WouldBlock,
            Error::Deadlock => std::io::ErrorKind::Deadlock,
            Error::TooLarge { .. } | Error::OutOfBounds { .. } => std::io::ErrorKind::InvalidInput,
            _ => std::io::ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, err)
    }
}

/// Wraps a failed system call.
pub(crate) fn os(call: &'static str) -> impl FnOnce(Errno) -> Error {
    move |errno| Error::Os { call, errno }
}
