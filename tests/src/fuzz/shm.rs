//! `shoal-shm-share`'s [`SharedRegion::from_fd`] on a memfd holding arbitrary bytes: the
//! untrusted-descriptor path (seals, size, header, lengths read from shared memory).

use rustix::fs::MemfdFlags;
use shoal_shm_share::{Error, SharedRegion};

/// Offset of the lock word in the header (layout version 1).
const LOCK_WORD: std::ops::Range<usize> = 32..36;

/// Input layout: the whole memfd content (so byte 0..8 should be `SHOALSHM` to get past
/// the magic).
///
/// Invariants: `from_fd` either refuses the file or returns a region whose data area
/// fits in the file; every access on it then stays in bounds and reports bad lengths
/// as errors, never a panic or a fault. Locking is only tried when the input's lock word
/// is 0: a garbage word may name a live thread (the kernel then makes lockers wait, by
/// design) or earn bounded `EINVAL` retries that would make the fuzzer crawl.
pub fn shm_from_fd(data: &[u8]) {
    let fd = rustix::fs::memfd_create("fuzz", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
        .expect("memfd_create");
    let mut written = 0;
    while written < data.len() {
        written += rustix::io::pwrite(&fd, &data[written..], written as u64).expect("pwrite");
    }
    let region = match SharedRegion::from_fd(fd) {
        Ok(region) => region,
        Err(Error::InvalidHeader(_) | Error::NotSealed { .. } | Error::Os { .. }) => return,
        Err(err) => panic!("from_fd: unexpected {err:?}"),
    };
    assert!(
        region.capacity() + 64 <= data.len(),
        "capacity beyond the file"
    );
    if data.get(LOCK_WORD) != Some(&[0; 4]) {
        return;
    }
    match region.get_bytes() {
        Ok(Some(value)) => assert!(value.len() <= region.capacity()),
        Ok(None) | Err(Error::CorruptLength { .. } | Error::Inconsistent) => {}
        Err(err) => panic!("get_bytes: unexpected {err:?}"),
    }
    match region.peek::<u64>() {
        Ok(_)
        | Err(Error::CorruptLength { .. } | Error::LengthMismatch { .. } | Error::Inconsistent) => {
        }
        Err(err) => panic!("peek: unexpected {err:?}"),
    }
    let mut guard = region.lock().expect("lock on a zero lock word");
    let capacity = guard.capacity();
    let last = capacity.saturating_sub(8);
    let probe = 0x5eed_u64;
    match guard.set_at(last, &probe) {
        Ok(()) => assert_eq!(guard.get_at::<u64>(last).expect("read back"), probe),
        Err(Error::OutOfBounds { .. }) => assert!(capacity < 8),
        Err(err) => panic!("set_at: unexpected {err:?}"),
    }
    assert!(guard.get_at::<u8>(capacity).is_err());
    guard.mark_consistent();
    drop(guard);
    region
        .set_bytes(&data[..data.len().min(capacity)])
        .expect("set what fits");
    assert!(region.is_consistent());
}
