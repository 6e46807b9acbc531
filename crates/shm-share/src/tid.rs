//! The calling thread's id, cached per thread and refreshed after `fork`.
//!
//! The PI lock word holds the owner's thread id, and `gettid` is a system call, so each
//! thread keeps its id in a thread-local. A `fork`ed child inherits that thread-local with
//! the parent's id in it (the child's only thread has a new id), so the cache is tagged
//! with a process token kept in one private page marked `MADV_WIPEONFORK`: the kernel
//! zeroes that page in every child, the tag no longer matches, and the child asks the
//! kernel again. No `pthread_atfork` (libc) is needed.
//!
//! Unsafe because the token page is made with `mmap` and read through a raw pointer.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::mm::{Advice, MapFlags, ProtFlags};

/// Size of the token page.
const PAGE: usize = 4096;

/// The token page: holds the pid of the process that last refreshed a cache (0 right
/// after a `fork`, thanks to `MADV_WIPEONFORK`). `None` where the kernel lacks
/// `MADV_WIPEONFORK` (before Linux 4.14): the cache is then not used.
static TOKEN: OnceLock<Option<&'static AtomicU32>> = OnceLock::new();

thread_local! {
    /// (thread id, token it was cached under).
    static CACHED: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

fn token() -> Option<&'static AtomicU32> {
    *TOKEN.get_or_init(|| {
        // SAFETY: a NULL hint lets the kernel choose fresh address space; the private page
        // is never unmapped, so the `'static` reference below stays valid.
        let page = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                PAGE,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }
        .ok()?;
        // SAFETY: `page` is the page just mapped; the advice only changes what a child sees.
        if unsafe { rustix::mm::madvise(page, PAGE, Advice::LinuxWipeOnFork) }.is_err() {
            // SAFETY: our own page, never handed out.
            let _ = unsafe { rustix::mm::munmap(page, PAGE) };
            return None;
        }
        // SAFETY: the page is mapped for the life of the process, page aligned, zeroed (a
        // valid AtomicU32), and only ever accessed atomically.
        Some(unsafe { AtomicU32::from_ptr(page.cast::<u32>()) })
    })
}

/// The calling thread's id as the kernel's futex code knows it (`gettid`).
#[inline]
pub(crate) fn current() -> u32 {
    let Some(token) = token() else {
        return gettid();
    };
    let (tid, tag) = CACHED.get();
    let now = token.load(Ordering::Relaxed);
    if now != 0 && now == tag {
        return tid;
    }
    refresh(token)
}

/// First call on this thread, or first call in this process since a fork: ask the kernel.
#[cold]
#[inline(never)]
fn refresh(token: &AtomicU32) -> u32 {
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    token.store(pid, Ordering::Relaxed);
    let tid = gettid();
    CACHED.set((tid, pid));
    tid
}

fn gettid() -> u32 {
    rustix::thread::gettid().as_raw_nonzero().get() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_id_is_the_kernels() {
        assert_eq!(current(), gettid());
        assert_eq!(current(), gettid());
        let other = std::thread::spawn(|| (current(), gettid())).join().unwrap();
        assert_eq!(other.0, other.1);
        assert_ne!(other.0, current());
    }
}
