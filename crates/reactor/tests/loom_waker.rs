//! Loom model of the waker's coalescing protocol ([`shoal_reactor::WakeFlag`]), with the
//! eventfd modelled as an atomic counter and the handed-over data as a mutex-guarded
//! queue: no wake-up is ever lost — whenever data is left unconsumed, the eventfd is
//! readable (the loop will run again).
#![cfg(loom)]

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use shoal_reactor::WakeFlag;

/// One loop iteration: if the "eventfd" is readable, acknowledge (drain it, clear the
/// flag), then consume the queue as the wake closure would.
fn loop_iteration(flag: &WakeFlag, eventfd: &AtomicU64, queue: &Mutex<Vec<u32>>) {
    if eventfd.load(Ordering::SeqCst) > 0 {
        flag.acknowledge(|| {
            eventfd.swap(0, Ordering::SeqCst);
        });
        queue.lock().expect("lock").clear();
    }
}

#[test]
fn no_wake_up_is_lost() {
    loom::model(|| {
        let flag = Arc::new(WakeFlag::new());
        let eventfd = Arc::new(AtomicU64::new(0));
        // A first item already handed over and announced (flag set, eventfd readable), so
        // the interesting races fit in loom's preemption bound.
        let queue = Arc::new(Mutex::new(vec![0]));
        flag.request(|| {
            eventfd.fetch_add(1, Ordering::SeqCst);
        });
        let producer = {
            let (flag, eventfd, queue) =
                (Arc::clone(&flag), Arc::clone(&eventfd), Arc::clone(&queue));
            loom::thread::spawn(move || {
                for item in 1..3 {
                    queue.lock().expect("lock").push(item);
                    flag.request(|| {
                        eventfd.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
        };
        loop_iteration(&flag, &eventfd, &queue);
        loop_iteration(&flag, &eventfd, &queue);
        producer.join().expect("producer");
        if !queue.lock().expect("lock").is_empty() {
            assert!(
                eventfd.load(Ordering::SeqCst) > 0,
                "data left behind and no wake-up pending"
            );
        }
        // And the flag never stays set with nothing to wake the loop: a later wake must
        // still be able to signal.
        loop_iteration(&flag, &eventfd, &queue);
        let signalled = flag.request(|| {
            eventfd.fetch_add(1, Ordering::SeqCst);
        });
        assert!(
            signalled || eventfd.load(Ordering::SeqCst) > 0,
            "a later wake would be swallowed"
        );
    });
}
