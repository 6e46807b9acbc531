//! [`LockGuard`]: the region's lock, held; every access to the data while holding it.

use std::marker::PhantomData;
use std::sync::atomic::{Ordering, fence};

use bytemuck::Pod;

use crate::error::Error;
use crate::header::{Header, NO_VALUE};
use crate::lock::{self, Taken};
use crate::mapping::Mapping;
use crate::tid;

/// The region's lock, held by this thread; released on drop (or by [`unlock`](Self::unlock)).
///
/// All accesses copy: nothing here lends out a reference into shared memory. Offsets are
/// into the data area and bounds-checked against its capacity, so a region can hold a
/// table of fixed-size slots ([`get_slot`](Self::get_slot), [`set_slot`](Self::set_slot))
/// as well as one value ([`get`](Self::get), [`set`](Self::set)).
///
/// The guard is neither `Send` nor `Sync`: the kernel's PI futex must be unlocked by the
/// thread that locked it.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    map: &'a Mapping,
    /// The thread id written into the lock word.
    tid: u32,
    /// This acquisition took the lock from a holder that had died.
    owner_died: bool,
    /// A write window of the sequence lock is open (the counter is odd).
    writing: bool,
    _not_send: PhantomData<*const ()>,
}

impl<'a> LockGuard<'a> {
    /// Takes the lock of `map` (blocking unless `block` is false).
    #[inline(always)]
    pub(crate) fn acquire(map: &'a Mapping, block: bool) -> Result<Self, Error> {
        let tid = tid::current();
        let header = map.header();
        let taken = lock::lock(&header.lock, tid, block)?;
        // Writers open the sequence lock's window (odd counter) before their first change
        // and close it just before unlocking: finding it open under the lock means the
        // previous holder died in the middle of changing the data. A holder that died
        // holding the lock without having written leaves consistent data.
        let died_mid_write = header.seq.load(Ordering::Relaxed) & 1 == 1;
        let guard = Self {
            map,
            tid,
            owner_died: taken == Taken::FromTheDead || died_mid_write,
            // The dead writer's window stays open until we unlock: readers keep retrying.
            writing: died_mid_write,
            _not_send: PhantomData,
        };
        if guard.owner_died {
            header.recoveries.fetch_add(1, Ordering::Relaxed);
        }
        if died_mid_write {
            header.inconsistent.store(1, Ordering::Relaxed);
        }
        Ok(guard)
    }

    #[inline]
    fn header(&self) -> &Header {
        self.map.header()
    }

    /// Opens a write window of the sequence lock (the counter becomes odd) before the
    /// first change made under this guard; [`Drop`] closes it. Lock-free readers retry
    /// while it is open.
    #[inline]
    fn begin_write(&mut self) {
        if !self.writing {
            let seq = &self.header().seq;
            seq.store(
                seq.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
            // Orders the odd counter before the data stores that follow (a reader that
            // sees one of them then sees the counter changed).
            fence(Ordering::Release);
            self.writing = true;
        }
    }

    /// True if this acquisition recovered the lock from a thread that died holding it
    /// (SIGKILL, a crash): the `EOWNERDEAD` of robust mutexes. The region's own
    /// [`is_consistent`](Self::is_consistent) tells whether that thread died after it
    /// had started changing the data.
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// False from the moment a holder died (or panicked) after starting to change the
    /// data until someone calls [`mark_consistent`](Self::mark_consistent) (or a
    /// whole-value [`SharedRegion::set`](crate::SharedRegion::set)). The flag lives in
    /// shared memory: every process sees it.
    #[inline]
    pub fn is_consistent(&self) -> bool {
        self.header().inconsistent.load(Ordering::Relaxed) == 0
    }

    /// Declares the data consistent again, once checked or repaired.
    #[inline]
    pub fn mark_consistent(&mut self) {
        if !self.is_consistent() {
            self.begin_write();
            self.header().inconsistent.store(0, Ordering::Relaxed);
        }
    }

    /// Bytes in the data area.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Copies `dst.len()` bytes at `offset` of the data area into `dst`.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if the range leaves the data area.
    #[inline]
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<(), Error> {
        self.map.read(offset, dst)
    }

    /// Copies `src` to `offset` of the data area.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if the range leaves the data area (nothing is written).
    #[inline]
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> Result<(), Error> {
        self.map.check_range(offset, src.len())?;
        self.begin_write();
        self.map.write(offset, src)
    }

    /// Reads a `T` at `offset` of the data area (any alignment: it is copied).
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if it does not lie inside the data area.
    #[inline]
    pub fn get_at<T: Pod>(&self, offset: usize) -> Result<T, Error> {
        let mut value = T::zeroed();
        self.map
            .read(offset, bytemuck::bytes_of_mut(&mut value))
            .map(|()| value)
    }

    /// Writes `value` at `offset` of the data area.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if it does not lie inside the data area (nothing is written).
    #[inline]
    pub fn set_at<T: Pod>(&mut self, offset: usize, value: &T) -> Result<(), Error> {
        self.write_at(offset, bytemuck::bytes_of(value))
    }

    /// Reads the `T` at `offset`, lets `change` modify it, and writes it back: a
    /// read-modify-write in one call (`change`'s result is returned).
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if it does not lie inside the data area (`change` is not
    /// called, nothing is written).
    #[inline]
    pub fn update_at<T: Pod, R>(
        &mut self,
        offset: usize,
        change: impl FnOnce(&mut T) -> R,
    ) -> Result<R, Error> {
        let mut value: T = self.get_at(offset)?;
        let result = change(&mut value);
        self.set_at(offset, &value)?;
        Ok(result)
    }

    /// [`update_at`](Self::update_at) for slot `index` of a table of `T`s: the statsd-style
    /// "find my counter, add to it" in one call.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if `index >= slot_count::<T>()` (nothing is written).
    #[inline]
    pub fn update_slot<T: Pod, R>(
        &mut self,
        index: usize,
        change: impl FnOnce(&mut T) -> R,
    ) -> Result<R, Error> {
        let offset = self.slot_offset::<T>(index)?;
        self.update_at(offset, change)
    }

    /// How many `T` slots the data area holds (`capacity / size_of::<T>()`).
    pub fn slot_count<T: Pod>(&self) -> usize {
        slot_count::<T>(self.capacity())
    }

    /// Reads slot `index` of a table of `T`s that fills the data area from offset 0.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if `index >= slot_count::<T>()`.
    pub fn get_slot<T: Pod>(&self, index: usize) -> Result<T, Error> {
        self.get_at(self.slot_offset::<T>(index)?)
    }

    /// Writes slot `index` of a table of `T`s that fills the data area from offset 0.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if `index >= slot_count::<T>()` (nothing is written).
    pub fn set_slot<T: Pod>(&mut self, index: usize, value: &T) -> Result<(), Error> {
        let offset = self.slot_offset::<T>(index)?;
        self.set_at(offset, value)
    }

    fn slot_offset<T: Pod>(&self, index: usize) -> Result<usize, Error> {
        let size = size_of::<T>();
        index.checked_mul(size).ok_or(Error::OutOfBounds {
            offset: usize::MAX,
            len: size,
            capacity: self.capacity(),
        })
    }

    /// Length of the value stored by the last [`set_bytes`](Self::set_bytes) (or
    /// [`set`](Self::set)), `None` if nothing was ever stored.
    ///
    /// # Errors
    /// [`Error::CorruptLength`] if the length in shared memory exceeds the capacity.
    #[inline]
    pub fn value_len(&self) -> Result<Option<usize>, Error> {
        value_len(self.header(), self.capacity())
    }

    /// Copies the stored value out; `None` if nothing was ever stored.
    ///
    /// # Errors
    /// [`Error::CorruptLength`] if the length in shared memory exceeds the capacity.
    pub fn get_bytes(&self) -> Result<Option<Vec<u8>>, Error> {
        let Some(len) = self.value_len()? else {
            return Ok(None);
        };
        let mut value = vec![0; len];
        self.map.read(0, &mut value)?;
        Ok(Some(value))
    }

    /// Stores `value` at the start of the data area and records its length.
    ///
    /// # Errors
    /// [`Error::TooLarge`] (with both sizes) if it does not fit; nothing is written.
    #[inline]
    pub fn set_bytes(&mut self, value: &[u8]) -> Result<(), Error> {
        if value.len() > self.capacity() {
            return Err(Error::TooLarge {
                len: value.len(),
                capacity: self.capacity(),
            });
        }
        self.begin_write();
        self.map.write(0, value)?;
        self.header()
            .length
            .store(value.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Reads the stored value as a `T`; `None` if nothing was ever stored.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the stored value is not `size_of::<T>()` bytes long,
    /// [`Error::CorruptLength`] if the length in shared memory exceeds the capacity.
    #[inline]
    pub fn get<T: Pod>(&self) -> Result<Option<T>, Error> {
        let Some(stored) = self.value_len()? else {
            return Ok(None);
        };
        if stored != size_of::<T>() {
            return Err(Error::LengthMismatch {
                stored,
                expected: size_of::<T>(),
            });
        }
        self.get_at(0).map(Some)
    }

    /// Stores `value` as the region's value.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if `T` does not fit; nothing is written.
    #[inline]
    pub fn set<T: Pod>(&mut self, value: &T) -> Result<(), Error> {
        self.set_bytes(bytemuck::bytes_of(value))
    }

    /// Releases the lock, reporting a failure of `FUTEX_UNLOCK_PI` that dropping the
    /// guard would ignore (possible only if another process overwrote the lock word).
    ///
    /// # Errors
    /// [`Error::Os`] from `futex(FUTEX_UNLOCK_PI)`.
    pub fn unlock(mut self) -> Result<(), Error> {
        let result = self.release();
        std::mem::forget(self);
        result
    }

    #[inline(always)]
    fn release(&mut self) -> Result<(), Error> {
        // A guard copied into a forked child names the parent's thread: the lock is not
        // the child's to release.
        if tid::current() != self.tid {
            return Ok(());
        }
        let header = self.header();
        if self.writing {
            // Unwinding from a panic in the middle of a change: the data may be
            // half-written, as if the holder had died (std's `Mutex` poisons here).
            if std::thread::panicking() {
                header.inconsistent.store(1, Ordering::Relaxed);
            }
            let seq = &header.seq;
            seq.store(
                seq.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Release,
            );
        }
        lock::unlock(&header.lock, self.tid)
    }
}

impl Drop for LockGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // Dropping cannot report an error; `unlock` does.
        let _ = self.release();
    }
}

/// The stored value's length from the header, re-checked against our capacity.
#[inline]
pub(crate) fn value_len(header: &Header, capacity: usize) -> Result<Option<usize>, Error> {
    match header.length.load(Ordering::Relaxed) {
        NO_VALUE => Ok(None),
        length if length <= capacity as u64 => Ok(Some(length as usize)),
        length => Err(Error::CorruptLength { length, capacity }),
    }
}

/// How many `T`s fit in `capacity` bytes (a zero-sized `T`: as many as you like).
pub(crate) fn slot_count<T>(capacity: usize) -> usize {
    capacity.checked_div(size_of::<T>()).unwrap_or(usize::MAX)
}
