//! Shared memory for forked and unrelated processes, with a futex lock that survives the
//! death of its holder.
//!
//! `shoal-shm-share` descends from the Perl module IPC::Mmap::Share (documentation in
//! `shared/seeds/004_063647297cd27892.txt`); see `docs/shm-share.md` for the guide and
//! `docs/architecture.md` for where it fits in Shoal.
//!
//! A [`SharedRegion`] is a header and a data area in a `MAP_SHARED` mapping: anonymous
//! ([`SharedRegion::new`], shared with `fork`ed children) or a sealed memfd
//! ([`SharedRegion::memfd`], opened elsewhere with [`SharedRegion::from_fd`]). Data moves
//! by copy, under the region's lock: whole values ([`set_bytes`](SharedRegion::set_bytes),
//! [`get`](SharedRegion::get) for [`bytemuck::Pod`] types, `set_serde` with the `serde`
//! feature) or, through a [`LockGuard`], at offsets and in fixed-size slots, so one region
//! can hold a table. [`peek`](SharedRegion::peek) reads `Pod` values without the lock.
//!
//! The lock is a process-shared priority-inheritance futex holding its owner's thread id.
//! If the owner dies, even by `SIGKILL`, the next locker gets the lock at once and is told
//! ([`LockGuard::owner_died`], [`LockGuard::is_consistent`], like `EOWNERDEAD`).
//!
//! ```
//! use shoal_shm_share::SharedRegion;
//!
//! # fn main() -> Result<(), shoal_shm_share::Error> {
//! let region = SharedRegion::new(4096)?;
//! assert_eq!(region.get::<u64>()?, None); // nothing stored yet
//! region.set(&41u64)?;
//! {
//!     // Read-modify-write under one lock.
//!     let mut guard = region.lock()?;
//!     let n: u64 = guard.get()?.unwrap_or(0);
//!     guard.set(&(n + 1))?;
//! }
//! assert_eq!(region.get::<u64>()?, Some(42));
//! # Ok(())
//! # }
//! ```
//!
//! A table of fixed-size slots, as an aggregator keeps counters (any `Pod` slot type):
//!
//! ```
//! use shoal_shm_share::SharedRegion;
//!
//! # fn main() -> Result<(), shoal_shm_share::Error> {
//! let region = SharedRegion::memfd("counters", 1024 * size_of::<[u64; 2]>())?;
//! let mut table = region.lock()?;
//! assert_eq!(table.slot_count::<[u64; 2]>(), 1024);
//! table.update_slot(17, |slot: &mut [u64; 2]| slot[1] += 1)?;
//! assert_eq!(table.get_slot::<[u64; 2]>(17)?, [0, 1]);
//! assert!(table.get_slot::<[u64; 2]>(1024).is_err()); // bounds-checked
//! # Ok(())
//! # }
//! ```
//!
//! # Limits
//! - Every process using a region must be in the same pid namespace: the lock word holds
//!   a thread id as that namespace numbers it. [`SharedRegion::from_fd`] refuses a region
//!   made in another one (when `/proc` tells).
//! - Thread ids are reused once the kernel's pid counter wraps (`pid_max`). If a dead
//!   owner's id is given to a new, unrelated thread before anyone tries the lock, the
//!   kernel takes that thread for the owner and lockers wait for it.
//! - A process that writes garbage into the header can make lockers wait or fail; it
//!   cannot make this process read or write outside the mapping.

mod error;
mod guard;
mod header;
mod lock;
mod mapping;
mod region;
mod seqlock;
mod tid;

pub use error::{Error, HeaderError};
pub use guard::LockGuard;
pub use region::SharedRegion;
