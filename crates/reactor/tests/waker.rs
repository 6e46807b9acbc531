//! Waker: from another thread, coalesced, invalid once its loop is gone.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn a_waker_from_another_thread_runs_its_closure_on_the_loop() {
    for (backend, mut reactor) in util::reactors() {
        let wakes = Rc::new(Cell::new(0u32));
        let seen = Rc::clone(&wakes);
        let thread_done = Arc::new(AtomicBool::new(false));
        let waker = reactor
            .waker(move |_| seen.set(seen.get() + 1))
            .expect("waker");
        let done = Arc::clone(&thread_done);
        let thread = std::thread::spawn(move || {
            for _ in 0..1000 {
                waker.wake().expect("wake");
            }
            done.store(true, Ordering::Release);
        });
        util::run_until(&mut reactor, "wake-ups", Duration::from_secs(10), |_| {
            thread_done.load(Ordering::Acquire) && wakes.get() > 0
        });
        thread.join().expect("thread");
        // The last wake after the last drain is delivered too (no lost wake-up): one more
        // iteration without blocking sees nothing new or one call.
        assert!(
            wakes.get() >= 1 && wakes.get() <= 1000,
            "{backend:?}: {}",
            wakes.get()
        );
    }
}

#[test]
fn wakes_before_the_loop_runs_coalesce_into_one_call() {
    for (backend, mut reactor) in util::reactors() {
        let wakes = Rc::new(Cell::new(0u32));
        let seen = Rc::clone(&wakes);
        let waker = reactor
            .waker(move |_| seen.set(seen.get() + 1))
            .expect("waker");
        let clone = waker.clone();
        for _ in 0..100 {
            waker.wake().expect("wake");
            clone.wake().expect("wake");
        }
        util::run_until(&mut reactor, "one wake", Duration::from_secs(5), |_| {
            wakes.get() > 0
        });
        reactor
            .run_once(Some(Duration::from_millis(20)))
            .expect("run_once");
        assert_eq!(wakes.get(), 1, "{backend:?}");
        // A wake after the acknowledgement is delivered again.
        waker.wake().expect("wake");
        util::run_until(&mut reactor, "second wake", Duration::from_secs(5), |_| {
            wakes.get() == 2
        });
    }
}

#[test]
fn a_waker_reports_an_error_once_its_loop_is_dropped() {
    let (_, mut reactor) = util::reactors().remove(0);
    let waker = reactor.waker(|_| {}).expect("waker");
    waker.wake().expect("wake while the loop lives");
    drop(reactor);
    assert_eq!(
        waker.wake().expect_err("loop gone").kind(),
        std::io::ErrorKind::NotConnected
    );
}
