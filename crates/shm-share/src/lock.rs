//! The lock word: a process-shared priority-inheritance futex that survives its holder.
//!
//! The word holds the owner's thread id (plus the kernel's `FUTEX_WAITERS` and
//! `FUTEX_OWNER_DIED` bits). Uncontended, locking is one compare-and-swap 0 → tid and
//! unlocking one compare-and-swap tid → 0; otherwise `FUTEX_LOCK_PI` / `FUTEX_UNLOCK_PI`
//! let the kernel queue the waiters. No `FUTEX_PRIVATE_FLAG`: the word lives in shared
//! memory and the waiters are other processes.
//!
//! What the kernel does when the owner is gone, with no robust list (measured on Linux
//! 6.18, and `kernel/futex/pi.c`):
//! - nobody waiting when it died: the next `FUTEX_LOCK_PI` finds no task for the id
//!   (or a task whose futex state is dead, such as a zombie) and fails with `ESRCH`,
//!   leaving the word as it was (with `FUTEX_WAITERS` added). We then take the word over
//!   with a compare-and-swap from exactly that dead id, so a live owner is never robbed.
//! - a waiter blocked in `FUTEX_LOCK_PI` when it died: the exit path hands the lock to
//!   the top waiter, whose `FUTEX_LOCK_PI` returns 0 with `FUTEX_OWNER_DIED` set in the
//!   word.
//!
//! - in between, while the kernel has cleared the dead owner from its PI state but the
//!   woken waiter has not yet written its id into the word, any other `FUTEX_LOCK_PI`
//!   fails with `EINVAL` (the kernel expects a robust list to have set
//!   `FUTEX_OWNER_DIED` first). That window lasts until the woken waiter runs, so
//!   `EINVAL` is retried with a short back-off, a bounded number of times
//!   ([`INVALID_RETRIES`]); a word that stays invalid (garbage written by a peer) then
//!   becomes an error.
//!
//! Both count as a recovery. Whether the data may be half-written is told by the
//! sequence counter (odd while a holder is changing the data; see `guard.rs`), not by
//! these kernel signals: a holder that dies holding the lock without having written
//! leaves consistent data.

use std::sync::atomic::{AtomicU32, Ordering};

use rustix::io::Errno;
use rustix::thread::futex;

use crate::error::Error;

/// Bits of the word holding the owner's thread id.
const TID_MASK: u32 = 0x3fff_ffff;

/// `EINVAL` answers retried before giving up (about a second of back-off in all).
const INVALID_RETRIES: u32 = 1_000;

/// How a lock was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// From a live owner or a free word.
    Normally,
    /// From an owner that had died holding it.
    FromTheDead,
}

/// Takes the lock for thread `tid`. With `block`, waits while a live thread holds it;
/// without, fails with [`Error::WouldBlock`].
#[inline]
pub(crate) fn lock(word: &AtomicU32, tid: u32, block: bool) -> Result<Taken, Error> {
    match word.compare_exchange(0, tid, Ordering::Acquire, Ordering::Relaxed) {
        Ok(_) => Ok(Taken::Normally),
        Err(_) => lock_contended(word, tid, block),
    }
}

/// [`lock`] when the word is not free: the kernel's part, kept out of line so that the
/// uncontended path stays small enough to inline.
#[cold]
#[inline(never)]
fn lock_contended(word: &AtomicU32, tid: u32, block: bool) -> Result<Taken, Error> {
    let mut invalid = 0;
    loop {
        let seen = match word.compare_exchange(0, tid, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return Ok(Taken::Normally),
            Err(seen) => seen,
        };
        if seen & TID_MASK == tid {
            return Err(Error::Deadlock);
        }
        let answer = if block {
            futex::lock_pi(word, futex::Flags::empty(), None)
        } else {
            futex::trylock_pi(word, futex::Flags::empty())
                .and_then(|taken| if taken { Ok(()) } else { Err(Errno::AGAIN) })
        };
        match answer {
            Ok(()) => return Ok(clear_owner_died(word)),
            Err(Errno::SRCH) => {
                if take_from_dead(word, seen & TID_MASK, tid) {
                    return Ok(Taken::FromTheDead);
                }
            }
            Err(Errno::AGAIN | Errno::BUSY) if !block => return Err(Error::WouldBlock),
            // Interrupted, or the word changed under the kernel: look again.
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(Errno::INVAL) if invalid < INVALID_RETRIES => {
                invalid += 1;
                back_off(invalid);
            }
            Err(Errno::DEADLK) => return Err(Error::Deadlock),
            Err(errno) => {
                let call = if block {
                    "futex(FUTEX_LOCK_PI)"
                } else {
                    "futex(FUTEX_TRYLOCK_PI)"
                };
                return Err(Error::Os { call, errno });
            }
        }
    }
}

/// Waits a little before asking the kernel again: yields first, then sleeps 1 ms.
fn back_off(attempt: u32) {
    if attempt < 16 {
        rustix::thread::sched_yield();
    } else {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// After the kernel gave us the lock: clears `FUTEX_OWNER_DIED` (so the next unlock can
/// take the fast path) and says whether it was set.
#[inline]
fn clear_owner_died(word: &AtomicU32) -> Taken {
    // The kernel only changes the word with compare-and-swap, so an atomic AND loses
    // none of its updates (of FUTEX_WAITERS).
    let before = word.fetch_and(!futex::OWNER_DIED, Ordering::Relaxed);
    if before & futex::OWNER_DIED != 0 {
        Taken::FromTheDead
    } else {
        Taken::Normally
    }
}

/// The kernel said the owner is gone (`ESRCH`): replace exactly that dead owner's id by
/// ours. Fails (returns false) if the word now names another owner or is free, so a
/// live owner is never robbed; the caller then starts over.
fn take_from_dead(word: &AtomicU32, dead: u32, tid: u32) -> bool {
    let mut now = word.load(Ordering::Relaxed);
    while dead != 0 && now & TID_MASK == dead {
        // Drop FUTEX_WAITERS too: no waiter can be queued on a dead owner (the kernel
        // refused to attach one, which is why we got ESRCH), and a waiter about to try
        // again re-reads the word under the kernel's hash-bucket lock.
        match word.compare_exchange(now, tid, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(changed) => now = changed,
        }
    }
    false
}

/// Releases the lock held by thread `tid`.
#[inline]
pub(crate) fn unlock(word: &AtomicU32, tid: u32) -> Result<(), Error> {
    if word
        .compare_exchange(tid, 0, Ordering::Release, Ordering::Relaxed)
        .is_ok()
    {
        return Ok(());
    }
    unlock_contended(word)
}

/// [`unlock`] when the word holds more than our id: `FUTEX_WAITERS` is set (or the word
/// no longer names us, and the kernel says `EPERM`).
#[cold]
#[inline(never)]
fn unlock_contended(word: &AtomicU32) -> Result<(), Error> {
    loop {
        match futex::unlock_pi(word, futex::Flags::empty()) {
            Ok(()) => return Ok(()),
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(errno) => {
                return Err(Error::Os {
                    call: "futex(FUTEX_UNLOCK_PI)",
                    errno,
                });
            }
        }
    }
}
