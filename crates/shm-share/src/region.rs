//! [`SharedRegion`]: creating, opening and validating a region, and the whole-value API.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;

use bytemuck::Pod;
use rustix::fs::{FallocateFlags, FileType, MemfdFlags, SealFlags};

use crate::error::{Error, HeaderError, os};
use crate::guard::{self, LockGuard};
use crate::header::{self, HEADER_LEN};
use crate::mapping::Mapping;

/// A block of memory shared between processes: a header (magic, layout version, the lock
/// word holding its owner's thread id, a sequence counter, the value's length, a
/// consistency flag) followed by `capacity` data bytes.
///
/// Made by [`new`](Self::new) (anonymous, shared with `fork`ed children) or
/// [`memfd`](Self::memfd) (a sealed memfd whose descriptor other processes open with
/// [`from_fd`](Self::from_fd)). `SharedRegion` is `Send + Sync`; share it between threads
/// by reference or `Arc`.
#[derive(Debug)]
pub struct SharedRegion {
    map: Mapping,
    /// The memfd, for regions that have one.
    fd: Option<OwnedFd>,
}

impl SharedRegion {
    /// `mmap(MAP_SHARED | MAP_ANONYMOUS)`: a region of `capacity` data bytes that children
    /// created by `fork` afterwards share with this process.
    ///
    /// # Errors
    /// [`Error::Os`] if `mmap` fails (`ENOMEM` for an absurd capacity).
    pub fn new(capacity: usize) -> Result<Self, Error> {
        let len = mapping_len(capacity)?;
        let map = Mapping::anonymous(len, capacity)?;
        map.header().init(capacity, header::pid_namespace());
        Ok(Self { map, fd: None })
    }

    /// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)`, sized, its memory reserved
    /// with `fallocate` (so a later write cannot fault for lack of memory), sealed with
    /// `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`, mapped, and given a fresh header.
    ///
    /// Hand [`fd`](Self::fd) to another process (with `shoal-fdpass`, or by inheritance)
    /// and open it there with [`from_fd`](Self::from_fd). `name` only labels the memfd in
    /// `/proc/PID/fd` (no NUL byte).
    ///
    /// # Errors
    /// [`Error::Os`] naming the failed call.
    pub fn memfd(name: &str, capacity: usize) -> Result<Self, Error> {
        let len = mapping_len(capacity)?;
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
            .map_err(os("memfd_create"))?;
        rustix::fs::ftruncate(&fd, len as u64).map_err(os("ftruncate"))?;
        rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, len as u64)
            .map_err(os("fallocate"))?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
            .map_err(os("fcntl(F_ADD_SEALS)"))?;
        let mut map = Mapping::file(&fd, len)?;
        map.set_capacity(capacity);
        map.header().init(capacity, header::pid_namespace());
        Ok(Self { map, fd: Some(fd) })
    }

    /// Opens a region from a descriptor another process sent, trusting nothing about it.
    ///
    /// In order: the file must be sealed against shrinking and growing (the seals are
    /// added if missing; `F_GET_SEALS` first, so a later `ftruncate` by a peer cannot
    /// make our accesses fault with `SIGBUS`); then `fstat` must show a regular file at
    /// least as long as the header; then, once mapped, the header must carry the magic,
    /// this layout version, this header length, a capacity that fits in the file, and
    /// (if known) our pid namespace. The capacity is read once, here; every length read
    /// from shared memory later is checked against it again.
    ///
    /// # Errors
    /// [`Error::NotSealed`] if the seals are missing and cannot be added (not a memfd, or
    /// sealed with `F_SEAL_SEAL`), [`Error::InvalidHeader`] for a bad header or file,
    /// [`Error::Os`] if `fstat` or `mmap` fails (a read-only descriptor: `EACCES`).
    pub fn from_fd(fd: OwnedFd) -> Result<Self, Error> {
        let wanted = SealFlags::SHRINK | SealFlags::GROW;
        let seals = rustix::fs::fcntl_get_seals(&fd).map_err(|errno| Error::NotSealed { errno })?;
        if !seals.contains(wanted) {
            rustix::fs::fcntl_add_seals(&fd, wanted).map_err(|errno| Error::NotSealed { errno })?;
        }
        let stat = rustix::fs::fstat(&fd).map_err(os("fstat"))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(HeaderError::NotRegularFile.into());
        }
        let file_len = u64::try_from(stat.st_size).unwrap_or(0);
        if file_len < HEADER_LEN as u64 {
            return Err(HeaderError::Truncated { file_len }.into());
        }
        let len = usize::try_from(file_len).map_err(|_| HeaderError::Capacity {
            capacity: file_len,
            file_len,
        })?;
        let mut map = Mapping::file(&fd, len)?;
        let capacity = map.header().validate(file_len, header::pid_namespace())?;
        map.set_capacity(capacity);
        Ok(Self { map, fd: Some(fd) })
    }

    /// The memfd behind the region (`None` for an anonymous one), to send to a peer.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(AsFd::as_fd)
    }

    /// Bytes in the data area.
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Takes the lock, blocking while another live thread holds it.
    ///
    /// A holder that died (even by SIGKILL) does not block anyone: its lock is recovered
    /// at once, [`LockGuard::owner_died`] says so, and if it died while it could have
    /// been changing the data, [`LockGuard::is_consistent`] is false until someone calls
    /// [`LockGuard::mark_consistent`].
    ///
    /// # Errors
    /// [`Error::Deadlock`] if this thread holds the lock already, [`Error::Os`] if the
    /// kernel refuses the lock word (another process wrote garbage into it).
    #[inline(always)]
    pub fn lock(&self) -> Result<LockGuard<'_>, Error> {
        LockGuard::acquire(&self.map, true)
    }

    /// Takes the lock if no live thread holds it.
    ///
    /// # Errors
    /// [`Error::WouldBlock`] if one does; otherwise as [`lock`](Self::lock).
    #[inline]
    pub fn try_lock(&self) -> Result<LockGuard<'_>, Error> {
        LockGuard::acquire(&self.map, false)
    }

    /// Under the lock, copies the stored value out; `None` if nothing was ever stored.
    ///
    /// # Errors
    /// [`Error::Inconsistent`] if a holder died inside its critical section and nobody
    /// marked the data consistent since; [`Error::CorruptLength`]; lock errors.
    #[inline]
    pub fn get_bytes(&self) -> Result<Option<Vec<u8>>, Error> {
        self.lock_consistent()?.get_bytes()
    }

    /// Under the lock, replaces the stored value by `value`, and marks the data
    /// consistent (the whole value was just written).
    ///
    /// # Errors
    /// [`Error::TooLarge`] with both sizes if it does not fit (nothing changes); lock
    /// errors.
    #[inline]
    pub fn set_bytes(&self, value: &[u8]) -> Result<(), Error> {
        let mut guard = self.lock()?;
        guard.set_bytes(value)?;
        guard.mark_consistent();
        Ok(())
    }

    /// Under the lock, reads the stored value as a `T`; `None` if nothing was ever stored.
    ///
    /// # Errors
    /// As [`get_bytes`](Self::get_bytes), and [`Error::LengthMismatch`] if the stored
    /// value is not `size_of::<T>()` bytes.
    #[inline]
    pub fn get<T: Pod>(&self) -> Result<Option<T>, Error> {
        self.lock_consistent()?.get()
    }

    /// Under the lock, replaces the stored value by `value` (see
    /// [`set_bytes`](Self::set_bytes)).
    ///
    /// # Errors
    /// [`Error::TooLarge`] if `T` does not fit; lock errors.
    #[inline]
    pub fn set<T: Pod>(&self, value: &T) -> Result<(), Error> {
        self.set_bytes(bytemuck::bytes_of(value))
    }

    /// Reads a `T` at `offset` without taking the lock (sequence lock): retries while a
    /// writer is active, and after a bounded number of attempts takes the lock instead
    /// (so a writer that died mid-write cannot make it spin forever).
    ///
    /// # Errors
    /// [`Error::OutOfBounds`]; [`Error::Inconsistent`] as for [`get`](Self::get).
    #[inline]
    pub fn peek_at<T: Pod>(&self, offset: usize) -> Result<T, Error> {
        self.map.check_range(offset, size_of::<T>())?;
        let read = |map: &Mapping| {
            let mut value = T::zeroed();
            map.read(offset, bytemuck::bytes_of_mut(&mut value))
                .map(|()| value)
        };
        if let Some(value) = crate::seqlock::read(&self.map, read)? {
            return Ok(value);
        }
        self.lock_consistent()?.get_at(offset)
    }

    /// Reads the stored value as a `T` without taking the lock (see
    /// [`peek_at`](Self::peek_at)); `None` if nothing was ever stored.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    #[inline]
    pub fn peek<T: Pod>(&self) -> Result<Option<T>, Error> {
        let capacity = self.capacity();
        let read = |map: &Mapping| -> Result<Option<T>, Error> {
            let Some(stored) = guard::value_len(map.header(), capacity)? else {
                return Ok(None);
            };
            if stored != size_of::<T>() {
                return Err(Error::LengthMismatch {
                    stored,
                    expected: size_of::<T>(),
                });
            }
            let mut value = T::zeroed();
            map.read(0, bytemuck::bytes_of_mut(&mut value))?;
            Ok(Some(value))
        };
        if let Some(value) = crate::seqlock::read(&self.map, read)? {
            return Ok(value);
        }
        self.lock_consistent()?.get()
    }

    /// How many `T` slots the data area holds (`capacity / size_of::<T>()`).
    pub fn slot_count<T: Pod>(&self) -> usize {
        guard::slot_count::<T>(self.capacity())
    }

    /// How many times a lock held by a dead thread was recovered since the region was
    /// made (all processes together, wrapping).
    pub fn recoveries(&self) -> u32 {
        self.map.header().recoveries.load(Ordering::Relaxed)
    }

    /// True unless a holder died inside its critical section and nobody has marked the
    /// data consistent since (read without the lock: a hint, see
    /// [`LockGuard::is_consistent`]).
    pub fn is_consistent(&self) -> bool {
        self.map.header().inconsistent.load(Ordering::Relaxed) == 0
    }

    /// The lock, refusing data that may be half-written.
    #[inline(always)]
    fn lock_consistent(&self) -> Result<LockGuard<'_>, Error> {
        let guard = self.lock()?;
        if guard.is_consistent() {
            Ok(guard)
        } else {
            Err(Error::Inconsistent)
        }
    }
}

#[cfg(feature = "serde")]
impl SharedRegion {
    /// Under the lock, replaces the stored value by `value` encoded with postcard (the
    /// seed's `set` with Storable), and marks the data consistent.
    ///
    /// # Errors
    /// [`Error::Serde`] if it cannot be encoded, [`Error::TooLarge`] with both sizes if the
    /// encoding does not fit; lock errors.
    pub fn set_serde<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        let bytes = postcard::to_stdvec(value).map_err(Error::Serde)?;
        self.set_bytes(&bytes)
    }

    /// Under the lock, copies the stored value out and decodes it with postcard; `None`
    /// if nothing was ever stored.
    ///
    /// # Errors
    /// [`Error::Serde`] if the stored bytes are not a `T`; as [`get_bytes`](Self::get_bytes).
    pub fn get_serde<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        match self.get_bytes()? {
            None => Ok(None),
            Some(bytes) => postcard::from_bytes(&bytes).map(Some).map_err(Error::Serde),
        }
    }
}

/// Header plus data, refusing capacities that overflow the address space.
fn mapping_len(capacity: usize) -> Result<usize, Error> {
    capacity
        .checked_add(HEADER_LEN)
        .filter(|&len| len <= isize::MAX as usize)
        .ok_or(Error::Os {
            call: "mmap",
            errno: rustix::io::Errno::NOMEM,
        })
}
