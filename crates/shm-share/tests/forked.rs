//! Multi-process tests: `fork` from this single-threaded `main` (no libtest harness, whose
//! worker threads could hold locks a child inherits).
//!
//! Each test prints `test NAME ... ok`; a failure panics, which fails the binary.

mod util;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use shoal_shm_share::{Error, SharedRegion};
use util::{Notify, Record, fork};

/// `[(name, fn)]` from the test functions' names.
macro_rules! tests {
    ($($test:ident),* $(,)?) => { &[$((stringify!($test), $test as fn())),*] };
}

fn main() -> ExitCode {
    let tests: &[(&str, fn())] = tests![
        counts_are_exact_across_forked_processes,
        holder_killed_then_reaped_is_recovered,
        holder_killed_left_zombie_is_recovered,
        holder_killed_with_a_waiter_queued_is_recovered,
        holder_killed_while_workers_contend_loses_no_increment,
        holder_killed_outside_its_critical_section_leaves_data_consistent,
        holder_killed_before_writing_leaves_data_consistent,
        writer_killed_mid_write_does_not_stall_peekers,
        peek_never_returns_a_torn_value,
        forked_child_locks_under_its_own_thread_id,
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut ran = 0;
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        eprint!("test {name} ... ");
        test();
        eprintln!("ok");
        ran += 1;
    }
    eprintln!("test result: ok. {ran} passed");
    ExitCode::SUCCESS
}

/// One read-modify-write of the counter under the lock.
fn increment(region: &SharedRegion) -> Result<(), Error> {
    let mut guard = region.lock()?;
    let record: Record = guard.get()?.unwrap_or(Record::filled(0));
    guard.set(&Record::filled(record.words[0] + 1))
}

fn counts_are_exact_across_forked_processes() {
    const PROCS: u64 = 4;
    const ITERS: u64 = 2_000;
    let region = SharedRegion::new(64).unwrap();
    let children: Vec<_> = (0..PROCS)
        .map(|_| {
            fork(|| {
                for _ in 0..ITERS {
                    increment(&region).unwrap();
                }
                0
            })
        })
        .collect();
    for _ in 0..ITERS {
        increment(&region).unwrap();
    }
    for child in children {
        child.expect_success();
    }
    let record: Record = region.get().unwrap().unwrap();
    assert!(record.is_whole());
    assert_eq!(record.words[0], (PROCS + 1) * ITERS);
    assert_eq!(region.recoveries(), 0);
    assert!(region.is_consistent());
}

/// A child takes the lock, writes inside its critical section, says so, and waits to be
/// killed.
fn holder_that_will_die(region: &SharedRegion, ready: &Notify) -> util::Forked {
    let child = fork(|| {
        let mut guard = region.lock().unwrap();
        guard.set(&Record::filled(7)).unwrap();
        ready.notify();
        std::thread::sleep(util::CHILD_LIMIT);
        1
    });
    ready.wait();
    child
}

/// After a holder died inside its critical section: this thread recovers the lock, sees
/// the flag, repairs, and the region works again.
fn assert_recovered_inconsistent(region: &SharedRegion) {
    assert!(matches!(region.get::<Record>(), Err(Error::Inconsistent)));
    assert!(!region.is_consistent());
    let mut guard = region.lock().unwrap();
    assert!(!guard.is_consistent());
    guard.mark_consistent();
    assert!(guard.is_consistent());
    drop(guard);
    assert_eq!(region.get::<Record>().unwrap(), Some(Record::filled(7)));
    increment(region).unwrap();
    assert_eq!(region.get::<Record>().unwrap(), Some(Record::filled(8)));
}

fn holder_killed_then_reaped_is_recovered() {
    let region = SharedRegion::new(64).unwrap();
    let ready = Notify::new();
    let holder = holder_that_will_die(&region, &ready);
    holder.kill();
    assert!(holder.wait().signaled());
    // Nobody was waiting: the kernel answers ESRCH for the dead thread id.
    let guard = region.lock().unwrap();
    assert!(guard.owner_died());
    assert!(!guard.is_consistent());
    drop(guard);
    assert_eq!(region.recoveries(), 1);
    assert_recovered_inconsistent(&region);
    assert_eq!(region.recoveries(), 1);
}

fn holder_killed_left_zombie_is_recovered() {
    let region = SharedRegion::new(64).unwrap();
    let ready = Notify::new();
    let holder = holder_that_will_die(&region, &ready);
    holder.kill();
    assert!(
        util::is_zombie(holder.pid()),
        "holder never became a zombie"
    );
    // Dead but not reaped: its task still exists; the kernel still says ESRCH.
    let guard = region.lock().unwrap();
    assert!(guard.owner_died());
    drop(guard);
    assert_recovered_inconsistent(&region);
    assert!(holder.wait().signaled());
}

fn holder_killed_with_a_waiter_queued_is_recovered() {
    let region = SharedRegion::new(64).unwrap();
    let ready = Notify::new();
    let holder = holder_that_will_die(&region, &ready);
    // The waiter blocks in FUTEX_LOCK_PI; the holder's exit hands it the lock with
    // FUTEX_OWNER_DIED set. It exits 0 only if it was told.
    let waiter = fork(|| {
        let guard = region.lock().unwrap();
        if guard.owner_died() && !guard.is_consistent() {
            0
        } else {
            2
        }
    });
    assert!(
        util::sleeping_in_futex(waiter.pid()),
        "waiter never blocked"
    );
    holder.kill();
    waiter.expect_success();
    assert!(holder.wait().signaled());
    assert_eq!(region.recoveries(), 1);
    assert_recovered_inconsistent(&region);
}

fn holder_killed_while_workers_contend_loses_no_increment() {
    // Lockers that arrive while the kernel hands the dead holder's lock to a queued
    // waiter see EINVAL for a moment; they must retry, not fail. The kill lands while the
    // workers are still arriving, several rounds over.
    const ROUNDS: u64 = 20;
    const WORKERS: u64 = 3;
    const ITERS: u64 = 500;
    for _ in 0..ROUNDS {
        let region = SharedRegion::new(64).unwrap();
        region.set(&Record::filled(7)).unwrap();
        let ready = Notify::new();
        let holder = holder_that_will_die(&region, &ready);
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                fork(|| {
                    for _ in 0..ITERS {
                        let mut guard = region.lock().unwrap();
                        guard.mark_consistent();
                        let r: Record = guard.get().unwrap().unwrap();
                        guard.set(&Record::filled(r.words[0] + 1)).unwrap();
                    }
                    0
                })
            })
            .collect();
        holder.kill();
        for worker in workers {
            worker.expect_success();
        }
        assert!(holder.wait().signaled());
        assert_eq!(region.recoveries(), 1);
        assert_eq!(
            region.get::<Record>().unwrap(),
            Some(Record::filled(7 + WORKERS * ITERS))
        );
    }
}

/// A child reads the record 3 under the lock, keeps holding it if `keep_lock`, says so,
/// and is killed.
fn kill_reader(region: &SharedRegion, keep_lock: bool) {
    let ready = Notify::new();
    let child = fork(|| {
        let guard = region.lock().unwrap();
        assert_eq!(guard.get::<Record>().unwrap(), Some(Record::filled(3)));
        let _held = keep_lock.then_some(guard);
        ready.notify();
        std::thread::sleep(util::CHILD_LIMIT);
        1
    });
    ready.wait();
    child.kill();
    assert!(child.wait().signaled());
}

fn holder_killed_outside_its_critical_section_leaves_data_consistent() {
    // A holder that read, then died after unlocking: nothing to recover.
    let region = SharedRegion::new(64).unwrap();
    region.set(&Record::filled(3)).unwrap();
    kill_reader(&region, false);
    let guard = region.lock().unwrap();
    assert!(!guard.owner_died());
    assert!(guard.is_consistent());
    drop(guard);
    assert_eq!(region.recoveries(), 0);
}

fn holder_killed_before_writing_leaves_data_consistent() {
    // It held the lock and only read: the lock is recovered, the data is not suspect.
    let region = SharedRegion::new(64).unwrap();
    region.set(&Record::filled(3)).unwrap();
    kill_reader(&region, true);
    let guard = region.lock().unwrap();
    assert!(guard.owner_died());
    assert!(guard.is_consistent());
    drop(guard);
    assert_eq!(region.recoveries(), 1);
    assert_eq!(region.get::<Record>().unwrap(), Some(Record::filled(3)));
}

fn writer_killed_mid_write_does_not_stall_peekers() {
    let region = SharedRegion::new(64).unwrap();
    region.set(&Record::filled(5)).unwrap();
    assert_eq!(region.peek::<Record>().unwrap(), Some(Record::filled(5)));
    let ready = Notify::new();
    let child = fork(|| {
        let mut guard = region.lock().unwrap();
        // Half a record: the sequence counter stays odd when we die.
        guard.write_at(0, &[9; 32]).unwrap();
        ready.notify();
        std::thread::sleep(util::CHILD_LIMIT);
        1
    });
    ready.wait();
    child.kill();
    assert!(child.wait().signaled());
    // The lock-free read gives up on the open window, takes the lock, recovers it, and
    // refuses the half-written data.
    assert!(matches!(region.peek::<Record>(), Err(Error::Inconsistent)));
    let mut guard = region.lock().unwrap();
    let torn: Record = guard.get().unwrap().unwrap();
    assert!(!torn.is_whole());
    guard.set(&Record::filled(6)).unwrap();
    guard.mark_consistent();
    drop(guard);
    assert_eq!(region.peek::<Record>().unwrap(), Some(Record::filled(6)));
    assert_eq!(region.peek_at::<u64>(8).unwrap(), 6);
}

fn peek_never_returns_a_torn_value() {
    const WRITES: u64 = 20_000;
    let region = SharedRegion::new(64).unwrap();
    region.set(&Record::filled(0)).unwrap();
    let writer = fork(|| {
        for n in 1..=WRITES {
            region.set(&Record::filled(n)).unwrap();
        }
        0
    });
    let end = Instant::now() + Duration::from_secs(30);
    let mut last = 0;
    let mut reads = 0u64;
    while last < WRITES && Instant::now() < end {
        let record: Record = region.peek().unwrap().unwrap();
        assert!(record.is_whole(), "torn read {record:?}");
        assert!(record.words[0] >= last, "went backwards");
        last = record.words[0];
        reads += 1;
    }
    writer.expect_success();
    assert_eq!(
        region.peek::<Record>().unwrap(),
        Some(Record::filled(WRITES))
    );
    assert!(reads > 0);
}

fn forked_child_locks_under_its_own_thread_id() {
    let region = SharedRegion::new(64).unwrap();
    // Cache this thread's id before forking.
    drop(region.lock().unwrap());
    let ready = Notify::new();
    let done = Notify::new();
    let child = fork(|| {
        let guard = region.lock().unwrap();
        ready.notify();
        done.wait();
        drop(guard);
        0
    });
    ready.wait();
    // Had the child locked under our (stale, cached) id, this would be Deadlock.
    assert!(matches!(region.try_lock(), Err(Error::WouldBlock)));
    done.notify();
    child.expect_success();
    drop(region.try_lock().unwrap());
}
