//! Lock-free reads (sequence lock) for hot read paths; writers stay serialised by the lock.
//!
//! A writer makes the header's counter odd before its first change and even again when
//! it unlocks ([`LockGuard`](crate::LockGuard) does both). A reader notes an even counter,
//! copies through atomic word loads (a plain copy racing a writer would be undefined
//! behaviour, even if the result were thrown away), fences, and accepts the copy only if
//! the counter did not move.

use std::sync::atomic::{Ordering, fence};

use crate::error::Error;
use crate::mapping::Mapping;

/// Attempts before giving up and taking the lock: bounded, so a writer that died with
/// its window open (the counter stays odd until the lock is recovered) costs readers a
/// little spinning, not forever.
const ATTEMPTS: u32 = 128;

/// Runs `read` until one run saw no writer. `Ok(None)` asks the caller to take the lock
/// instead: writers kept interfering, or the data is marked inconsistent (the locked
/// path reports that). An error of `read` is returned only from an undisturbed run, so
/// it describes real data, not a torn copy.
#[inline]
pub(crate) fn read<T>(
    map: &Mapping,
    read: impl Fn(&Mapping) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    let header = map.header();
    for _ in 0..ATTEMPTS {
        let before = header.seq.load(Ordering::Acquire);
        if before & 1 == 0 {
            let consistent = header.inconsistent.load(Ordering::Relaxed) == 0;
            let result = read(map);
            // Orders the data loads before the second counter load: if any of them saw a
            // writer's store, this fence synchronises with the writer's release fence and
            // the load below sees the odd counter (or a later value).
            fence(Ordering::Acquire);
            if header.seq.load(Ordering::Relaxed) == before {
                if !consistent {
                    return Ok(None);
                }
                return result.map(Some);
            }
        }
        std::hint::spin_loop();
    }
    Ok(None)
}
