//! One worker's hand-over area: a `shoal-shm-share` memfd region that a worker appends
//! its aggregate to and the flusher empties.
//!
//! Layout of the region's data: a `u64` of bytes used, then [`wire`]
//! records. Only the worker appends (it is the only writer of the used length besides
//! the flusher, which only sets it back to 0), so the worker encodes outside the lock
//! with the room it saw and writes under the lock at the length it finds then, which
//! can only have shrunk. The lock is held for a copy, never per packet.
//!
//! The used length is written after the records it covers: a worker killed while
//! writing leaves complete records below it, so after recovering the lock (its owner
//! dead, the region flagged inconsistent) the flusher still reads them; a damaged record
//! ends the read there.

use std::os::fd::{BorrowedFd, OwnedFd};

use shoal_shm_share::{Error, SharedRegion};

use crate::metrics::Metrics;
use crate::wire;

/// Bytes before the records: the used length.
const USED: usize = 8;

/// A hand-over area (see the module docs).
#[derive(Debug)]
pub struct Area {
    region: SharedRegion,
}

/// What [`Area::collect`] found besides the records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Bytes of records read.
    pub bytes: usize,
    /// The writer had died holding the lock (the area was recovered).
    pub recovered: bool,
    /// A damaged record or used length was found and skipped.
    pub damaged: bool,
}

impl Area {
    /// `memfd_create`: a new area of `capacity` bytes (sealed against resizing).
    ///
    /// # Errors
    /// What [`SharedRegion::memfd`] fails with.
    pub fn create(name: &str, capacity: usize) -> Result<Area, Error> {
        let region = SharedRegion::memfd(name, capacity.max(USED + 64))?;
        region.lock()?.set_at(0, &0u64)?;
        Ok(Area { region })
    }

    /// Opens an area from its memfd (from another process), validated by
    /// [`SharedRegion::from_fd`].
    ///
    /// # Errors
    /// What [`SharedRegion::from_fd`] fails with.
    pub fn from_fd(fd: OwnedFd) -> Result<Area, Error> {
        Ok(Area {
            region: SharedRegion::from_fd(fd)?,
        })
    }

    /// The memfd, to hand to another process.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.region.fd()
    }

    /// Moves as much of `metrics` as fits into the area; the rest stays in `metrics`
    /// (call again after the flusher has emptied the area). Returns the bytes written.
    ///
    /// # Errors
    /// What taking the lock or writing fails with.
    pub fn hand_over(&self, metrics: &mut Metrics) -> Result<usize, Error> {
        let capacity = self.region.capacity();
        let used = {
            let guard = self.region.lock()?;
            guard.get_at::<u64>(0)?
        };
        let Some(room) = usize::try_from(used)
            .ok()
            .and_then(|u| capacity.checked_sub(USED + u))
        else {
            // A damaged length: the flusher resets it at its next collect.
            return Ok(0);
        };
        let mut records = Vec::new();
        wire::encode_some(metrics, room, &mut records);
        if records.is_empty() {
            return Ok(0);
        }
        let mut guard = self.region.lock()?;
        // Only the flusher changed it meanwhile, and only to 0.
        let used = guard.get_at::<u64>(0)?.min(used) as usize;
        guard.write_at(USED + used, &records)?;
        guard.set_at(0, &((used + records.len()) as u64))?;
        Ok(records.len())
    }

    /// Empties the area into `into` (merged within its bounds).
    ///
    /// # Errors
    /// What taking the lock or reading fails with.
    pub fn collect(&self, into: &mut Metrics) -> Result<Collected, Error> {
        let capacity = self.region.capacity();
        let mut collected = Collected::default();
        let records = {
            let mut guard = self.region.lock()?;
            collected.recovered = guard.owner_died() || !guard.is_consistent();
            let used = guard.get_at::<u64>(0)?;
            let used = match usize::try_from(used) {
                Ok(u) if u <= capacity - USED => u,
                _ => {
                    collected.damaged = true;
                    0
                }
            };
            let mut records = vec![0; used];
            guard.read_at(USED, &mut records)?;
            guard.set_at(0, &0u64)?;
            guard.mark_consistent();
            records
        };
        collected.bytes = records.len();
        let (metrics, result) = wire::decode(&records);
        collected.damaged |= result.is_err();
        into.merge(metrics);
        Ok(collected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Limits;

    #[test]
    fn hand_over_in_turns_until_everything_is_collected() {
        let area = Area::create("statsd-test", 200).unwrap();
        let mut worker = Metrics::new(Limits::default());
        for i in 0..50 {
            worker.ingest_packet(format!("k{i}:1|c\nt:{i}|ms").as_bytes());
        }
        let mut flusher = Metrics::new(Limits::default());
        let mut turns = 0;
        while !worker.is_empty() {
            area.hand_over(&mut worker).unwrap();
            let collected = area.collect(&mut flusher).unwrap();
            assert!(!collected.damaged && !collected.recovered);
            turns += 1;
            assert!(turns < 100);
        }
        assert!(turns > 1, "the area is small: several turns");
        assert_eq!(flusher.counters.len(), 50);
        assert_eq!(flusher.timers["t"].values.len(), 50);
        assert_eq!(flusher.counts.packets_received, 50);
    }
}
