//! The shared mapping: `mmap`/`munmap`, the header view, and the only copies in and out
//! of the data area.
//!
//! Unsafe because `mmap` hands out raw memory. Other processes write this memory at any
//! time (with or without the lock, if they misbehave), so this module never creates a
//! `&[u8]` or `&mut [u8]` into it: the header is all atomics, and data moves only through
//! 64-bit atomic loads, stores and read-modify-writes of whole aligned words (relaxed; the
//! lock or the sequence counter orders them), never byte-sized ones: racing atomic
//! accesses of different sizes that overlap are undefined behaviour too, and lock-free
//! readers race writers by design.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::os::fd::AsFd;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::mm::{MapFlags, ProtFlags};

use crate::error::{Error, os};
use crate::header::{HEADER_LEN, Header};

const _: () = assert!(
    HEADER_LEN.is_multiple_of(8),
    "the data area starts word aligned"
);

/// A `MAP_SHARED` read-write mapping of a header followed by `capacity` data bytes.
#[derive(Debug)]
pub(crate) struct Mapping {
    /// Start of the mapping (page aligned).
    base: NonNull<u8>,
    /// Bytes mapped.
    len: usize,
    /// Bytes of the data area, fixed when mapped (never re-read from the header).
    capacity: usize,
}

// SAFETY: the mapping is plain memory owned by this value (unmapped once, on drop); all
// accesses through it are atomic, so sending or sharing it between threads is sound.
unsafe impl Send for Mapping {}
// SAFETY: as above: `&Mapping` only allows atomic accesses to the shared memory.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0)`: memory that
    /// `fork` shares with the children.
    pub(crate) fn anonymous(len: usize, capacity: usize) -> Result<Self, Error> {
        assert!(capacity.checked_add(HEADER_LEN).is_some_and(|n| n <= len));
        // SAFETY: a NULL hint lets the kernel choose fresh address space, so no existing
        // memory is replaced; the result is owned by the returned `Mapping`.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
            )
        }
        .map_err(os("mmap"))?;
        Ok(Self::from_raw(base, len, capacity))
    }

    /// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0)`.
    ///
    /// The caller has checked that the file is at least `len` bytes and sealed against
    /// shrinking, so no page of the mapping can lie past the end of the file (`SIGBUS`).
    pub(crate) fn file(fd: impl AsFd, len: usize) -> Result<Self, Error> {
        // `header()` relies on every mapping holding a whole header.
        if len < HEADER_LEN {
            return Err(Error::Os {
                call: "mmap",
                errno: rustix::io::Errno::INVAL,
            });
        }
        // SAFETY: a NULL hint lets the kernel choose fresh address space, so no existing
        // memory is replaced; the result is owned by the returned `Mapping`.
        let base = unsafe {
            rustix::mm::mmap(
                ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }
        .map_err(os("mmap"))?;
        // The capacity is set by the caller once the header is validated.
        Ok(Self::from_raw(base, len, 0))
    }

    fn from_raw(base: *mut c_void, len: usize, capacity: usize) -> Self {
        let base = NonNull::new(base.cast::<u8>()).expect("mmap never returns NULL on success");
        Self {
            base,
            len,
            capacity,
        }
    }

    /// Fixes the data capacity after validating the header (at most `len - HEADER_LEN`).
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        assert!(
            capacity <= self.len - HEADER_LEN,
            "capacity validated by the caller"
        );
        self.capacity = capacity;
    }

    /// Bytes in the data area.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The header, a view of atomics.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the mapping is page aligned and at least HEADER_LEN bytes long (checked
        // when it was made), lives as long as `self`, and `Header` is made of atomics only,
        // which are valid for any bit pattern and may be changed by others concurrently.
        unsafe { self.base.cast::<Header>().as_ref() }
    }

    /// Checks that `len` bytes at `offset` lie inside the data area.
    #[inline]
    pub(crate) fn check_range(&self, offset: usize, len: usize) -> Result<(), Error> {
        match offset.checked_add(len) {
            Some(end) if end <= self.capacity => Ok(()),
            _ => Err(Error::OutOfBounds {
                offset,
                len,
                capacity: self.capacity,
            }),
        }
    }

    /// Copies `dst.len()` bytes at `offset` of the data area into `dst`.
    ///
    /// Every access is a 64-bit atomic load of an aligned word of the mapping, whatever
    /// `offset` and the length: a lock-free (sequence lock) reader races writers, and
    /// Rust's memory model makes racing atomic accesses that partially overlap (a byte
    /// load against a word store) undefined behaviour, so the shared memory is only ever
    /// accessed in whole aligned words.
    #[inline]
    pub(crate) fn read(&self, offset: usize, dst: &mut [u8]) -> Result<(), Error> {
        self.check_range(offset, dst.len())?;
        let src = self.data_ptr(offset);
        if (src as usize).is_multiple_of(8) && dst.len().is_multiple_of(8) {
            // The common case (a `Pod` value or slot at an aligned offset): whole words
            // only, a loop the compiler unrolls when the length is known.
            for (w, chunk) in dst.chunks_exact_mut(8).enumerate() {
                // SAFETY: `src + 8 * w` is 8-byte aligned and its word lies inside the
                // checked range, so inside the mapping, which outlives `&self`.
                let word = unsafe { AtomicU64::from_ptr(src.add(8 * w).cast::<u64>()) };
                chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
            }
            return Ok(());
        }
        let mut skip = (src as usize) % 8;
        let mut word_ptr = src.wrapping_sub(skip);
        let mut done = 0;
        while done < dst.len() {
            let take = (8 - skip).min(dst.len() - done);
            // SAFETY: `word_ptr` is 8-byte aligned and its word holds a byte of the checked
            // range, so it is mapped: see `data_ptr`.
            let word = unsafe { AtomicU64::from_ptr(word_ptr.cast::<u64>()) };
            let bytes = word.load(Ordering::Relaxed).to_ne_bytes();
            dst[done..done + take].copy_from_slice(&bytes[skip..skip + take]);
            done += take;
            skip = 0;
            word_ptr = word_ptr.wrapping_add(8);
        }
        Ok(())
    }

    /// Copies `src` to `offset` of the data area.
    ///
    /// Whole aligned words only, as in [`read`](Self::read): a word only partly covered by
    /// `src` is changed with `fetch_and` + `fetch_or` on the word, which never loses a
    /// concurrent store to its other bytes.
    #[inline]
    pub(crate) fn write(&self, offset: usize, src: &[u8]) -> Result<(), Error> {
        self.check_range(offset, src.len())?;
        let dst = self.data_ptr(offset);
        if (dst as usize).is_multiple_of(8) && src.len().is_multiple_of(8) {
            // The common case, as in `read`.
            for (w, chunk) in src.chunks_exact(8).enumerate() {
                let mut word = [0; 8];
                word.copy_from_slice(chunk);
                // SAFETY: `dst + 8 * w` is 8-byte aligned and its word lies inside the
                // checked range, so inside the mapping, which outlives `&self`.
                unsafe { AtomicU64::from_ptr(dst.add(8 * w).cast::<u64>()) }
                    .store(u64::from_ne_bytes(word), Ordering::Relaxed);
            }
            return Ok(());
        }
        let mut skip = (dst as usize) % 8;
        let mut word_ptr = dst.wrapping_sub(skip);
        let mut done = 0;
        while done < src.len() {
            let take = (8 - skip).min(src.len() - done);
            // SAFETY: `word_ptr` is 8-byte aligned and its word holds a byte of the checked
            // range, so it is mapped: see `data_ptr`.
            let word = unsafe { AtomicU64::from_ptr(word_ptr.cast::<u64>()) };
            let mut bytes = [0; 8];
            bytes[skip..skip + take].copy_from_slice(&src[done..done + take]);
            if take == 8 {
                word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
            } else {
                let mut mask = [0; 8];
                mask[skip..skip + take].fill(0xFF);
                word.fetch_and(!u64::from_ne_bytes(mask), Ordering::Relaxed);
                word.fetch_or(u64::from_ne_bytes(bytes), Ordering::Relaxed);
            }
            done += take;
            skip = 0;
            word_ptr = word_ptr.wrapping_add(8);
        }
        Ok(())
    }

    /// Address of `offset` in the data area; `offset <= capacity` (checked by the caller).
    ///
    /// The aligned 8-byte word holding any byte of the data area is mapped: the data area
    /// starts on an 8-byte boundary (page-aligned base, `HEADER_LEN` a multiple of 8), so
    /// the word starts inside it, and the word ends at or before the end of that byte's
    /// page (pages are multiples of 8 bytes), which `mmap` mapped whole (a page of a file
    /// mapping that holds a byte of the file is readable to its end, without `SIGBUS`).
    #[inline]
    fn data_ptr(&self, offset: usize) -> *mut u8 {
        // `wrapping_add` keeps this safe; the callers only dereference checked ranges.
        self.base.as_ptr().wrapping_add(HEADER_LEN + offset)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned, this is the only unmap, and
        // no reference into the mapping outlives `self` (the header view borrows `self`).
        // An error here (EINVAL) is impossible for a range we mapped, so it is ignored.
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unaligned_copies_round_trip() {
        let map = Mapping::anonymous(4096, 4096 - HEADER_LEN).unwrap();
        let pattern: Vec<u8> = (0..100u8).collect();
        for offset in 0..9 {
            for len in [0, 1, 7, 8, 9, 15, 16, 17, 64, 91] {
                map.write(offset, &pattern[..len]).unwrap();
                let mut back = vec![0xAA; len];
                map.read(offset, &mut back).unwrap();
                assert_eq!(back, &pattern[..len], "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn partial_word_writes_keep_the_neighbouring_bytes() {
        // A capacity that ends inside a word: the last word is partly past the data area.
        let map = Mapping::anonymous(4096, 29).unwrap();
        let pattern: Vec<u8> = (1..=29u8).collect();
        for offset in 0..29 {
            for len in 0..=29 - offset {
                map.write(0, &[0xAA; 29]).unwrap();
                map.write(offset, &pattern[..len]).unwrap();
                let mut back = [0; 29];
                map.read(0, &mut back).unwrap();
                let mut expected = [0xAA; 29];
                expected[offset..offset + len].copy_from_slice(&pattern[..len]);
                assert_eq!(back, expected, "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn out_of_range_is_refused() {
        let map = Mapping::anonymous(4096, 100).unwrap();
        assert!(map.write(100, &[]).is_ok());
        assert!(matches!(
            map.write(99, &[1, 2]),
            Err(Error::OutOfBounds {
                offset: 99,
                len: 2,
                capacity: 100
            })
        ));
        let mut buf = [0; 1];
        assert!(map.read(usize::MAX, &mut buf).is_err());
    }
}
