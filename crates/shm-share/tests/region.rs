//! `SharedRegion` and `LockGuard` in one process: values, tables, bounds, threads.

mod util;

use std::sync::Barrier;

use shoal_shm_share::{Error, SharedRegion};
use util::Record;

#[test]
fn get_before_any_set_is_none() {
    let region = SharedRegion::new(128).unwrap();
    assert_eq!(region.get_bytes().unwrap(), None);
    assert_eq!(region.get::<u32>().unwrap(), None);
    assert_eq!(region.peek::<u32>().unwrap(), None);
    assert_eq!(region.lock().unwrap().value_len().unwrap(), None);
}

#[test]
fn bytes_round_trip_and_empty_value_is_not_none() {
    let region = SharedRegion::new(128).unwrap();
    region.set_bytes(b"hello").unwrap();
    assert_eq!(region.get_bytes().unwrap().as_deref(), Some(&b"hello"[..]));
    region.set_bytes(b"").unwrap();
    assert_eq!(region.get_bytes().unwrap(), Some(Vec::new()));
}

#[test]
fn too_large_is_an_error_with_both_sizes_and_changes_nothing() {
    let region = SharedRegion::new(16).unwrap();
    region.set_bytes(b"kept").unwrap();
    let err = region.set_bytes(&[0; 17]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                len: 17,
                capacity: 16
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("17") && err.to_string().contains("16"));
    assert!(matches!(
        region.set(&Record::filled(1)),
        Err(Error::TooLarge {
            len: 64,
            capacity: 16
        })
    ));
    assert_eq!(region.get_bytes().unwrap().as_deref(), Some(&b"kept"[..]));
    region.set_bytes(&[1; 16]).unwrap();
}

#[test]
fn typed_get_checks_the_stored_length() {
    let region = SharedRegion::new(64).unwrap();
    region.set(&7u32).unwrap();
    assert_eq!(region.get::<u32>().unwrap(), Some(7));
    assert!(matches!(
        region.get::<u64>(),
        Err(Error::LengthMismatch {
            stored: 4,
            expected: 8
        })
    ));
    assert!(matches!(
        region.peek::<u64>(),
        Err(Error::LengthMismatch {
            stored: 4,
            expected: 8
        })
    ));
}

#[test]
fn a_region_holds_a_table_of_slots() {
    let region = SharedRegion::new(10 * 64 + 3).unwrap();
    assert_eq!(region.slot_count::<Record>(), 10);
    let mut guard = region.lock().unwrap();
    assert_eq!(guard.slot_count::<Record>(), 10);
    for i in 0..10 {
        guard.set_slot(i, &Record::filled(i as u64 * 100)).unwrap();
    }
    assert!(matches!(
        guard.set_slot(10, &Record::filled(0)),
        Err(Error::OutOfBounds {
            offset: 640,
            len: 64,
            capacity: 643
        })
    ));
    assert!(guard.get_slot::<Record>(usize::MAX).is_err());
    assert_eq!(guard.get_slot::<Record>(3).unwrap(), Record::filled(300));
    // Unaligned typed access at any offset.
    guard.set_at(641, &0xABCDu16).unwrap();
    assert_eq!(guard.get_at::<u16>(641).unwrap(), 0xABCD);
    assert!(guard.set_at(642, &0u16).is_err());
    let mut buf = [0; 3];
    guard.read_at(640, &mut buf).unwrap();
    assert_eq!(buf, [0, 0xCD, 0xAB]);
    assert!(guard.write_at(usize::MAX, &[1]).is_err());
    drop(guard);
    assert_eq!(region.peek_at::<u64>(9 * 64).unwrap(), 900);
    assert!(region.peek_at::<u64>(640).is_err());
}

#[test]
fn relocking_on_the_same_thread_is_deadlock_not_a_hang() {
    let region = SharedRegion::new(8).unwrap();
    let guard = region.lock().unwrap();
    assert!(matches!(region.lock(), Err(Error::Deadlock)));
    assert!(matches!(region.try_lock(), Err(Error::Deadlock)));
    assert!(matches!(region.get_bytes(), Err(Error::Deadlock)));
    guard.unlock().unwrap();
    region.try_lock().unwrap().unlock().unwrap();
}

#[test]
fn try_lock_from_another_thread_would_block() {
    let region = SharedRegion::new(8).unwrap();
    let guard = region.lock().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| assert!(matches!(region.try_lock(), Err(Error::WouldBlock))));
    });
    drop(guard);
    std::thread::scope(|s| {
        s.spawn(|| region.try_lock().unwrap().unlock().unwrap());
    });
}

#[test]
fn threads_increment_exactly() {
    const THREADS: usize = 4;
    const ITERS: u64 = 5_000;
    let region = SharedRegion::new(64).unwrap();
    region.set(&Record::filled(0)).unwrap();
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                start.wait();
                for _ in 0..ITERS {
                    let mut guard = region.lock().unwrap();
                    let r: Record = guard.get().unwrap().unwrap();
                    assert!(r.is_whole());
                    guard.set(&Record::filled(r.words[0] + 1)).unwrap();
                }
            });
        }
    });
    assert_eq!(
        region.get::<Record>().unwrap(),
        Some(Record::filled(THREADS as u64 * ITERS))
    );
    assert_eq!(region.recoveries(), 0);
}

#[test]
fn errors_convert_to_io_errors() {
    let io: std::io::Error = Error::WouldBlock.into();
    assert_eq!(io.kind(), std::io::ErrorKind::WouldBlock);
    let io: std::io::Error = Error::TooLarge {
        len: 2,
        capacity: 1,
    }
    .into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
}

#[cfg(feature = "serde")]
#[test]
fn serde_values_round_trip_and_oversize_is_refused() {
    use std::collections::BTreeMap;
    let region = SharedRegion::new(64).unwrap();
    assert_eq!(region.get_serde::<Vec<String>>().unwrap(), None);
    let mut map = BTreeMap::new();
    map.insert("a".to_owned(), vec![1u32, 2, 3]);
    region.set_serde(&map).unwrap();
    assert_eq!(
        region.get_serde::<BTreeMap<String, Vec<u32>>>().unwrap(),
        Some(map)
    );
    assert!(matches!(
        region.set_serde(&"x".repeat(100)),
        Err(Error::TooLarge {
            len: 101,
            capacity: 64
        })
    ));
    region.set_bytes(&[0xFF; 4]).unwrap();
    assert!(matches!(region.get_serde::<String>(), Err(Error::Serde(_))));
}

#[test]
fn a_panic_during_a_change_marks_the_data_inconsistent() {
    let region = SharedRegion::new(64).unwrap();
    region.set(&Record::filled(1)).unwrap();
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut guard = region.lock().unwrap();
            guard.write_at(0, &[9; 8]).unwrap();
            panic!("half-way through the record");
        });
        assert!(writer.join().is_err());
    });
    assert!(matches!(region.get::<Record>(), Err(Error::Inconsistent)));
    // A panic after only reading changes nothing.
    region.lock().unwrap().mark_consistent();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let guard = region.lock().unwrap();
            let _: Option<Record> = guard.get().unwrap();
            panic!("after reading");
        });
        assert!(reader.join().is_err());
    });
    assert!(region.is_consistent());
}

#[test]
fn update_changes_a_slot_in_place_and_checks_bounds() {
    let region = SharedRegion::new(4 * 64).unwrap();
    let mut table = region.lock().unwrap();
    for i in 0..4 {
        table.set_slot(i, &Record::filled(i as u64)).unwrap();
    }
    let old = table
        .update_slot(2, |r: &mut Record| {
            let old = r.words[0];
            r.words = [old + 10; 8];
            old
        })
        .unwrap();
    assert_eq!(old, 2);
    assert_eq!(table.get_slot::<Record>(2).unwrap(), Record::filled(12));
    assert_eq!(table.get_slot::<Record>(3).unwrap(), Record::filled(3));
    let mut called = false;
    assert!(matches!(
        table.update_slot(4, |_: &mut Record| called = true),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(!called);
    table.update_at(1, |n: &mut u16| *n = 0xBEEF).unwrap();
    assert_eq!(table.get_at::<u16>(1).unwrap(), 0xBEEF);
}
