//! Waker: from another thread, coalesced, invalid once its loop is gone.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use shoal_reactor::{Reactor, Waker};

/// A waker whose closure counts its calls.
fn counting_waker(reactor: &mut Reactor) -> (Waker, Rc<Cell<u32>>) {
    let wakes = Rc::new(Cell::new(0u32));
    let seen = Rc::clone(&wakes);
    let waker = reactor
        .waker(move |_| seen.set(seen.get() + 1))
        .expect("waker");
    (waker, wakes)
}

#[test]
fn a_waker_from_another_thread_runs_its_closure_on_the_loop() {
    for (backend, mut reactor) in util::reactors() {
        let (waker, wakes) = counting_waker(&mut reactor);
        let thread_done = Arc::new(AtomicBool::new(false));
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
        let (waker, wakes) = counting_waker(&mut reactor);
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

#[test]
fn a_removed_waker_runs_no_closure_even_with_a_wake_pending() {
    for (backend, mut reactor) in util::reactors() {
        let (waker, wakes) = counting_waker(&mut reactor);
        waker.wake().expect("wake");
        assert!(reactor.remove_waker(&waker), "{backend:?}");
        assert_eq!(Rc::strong_count(&wakes), 1, "{backend:?}: closure kept");
        reactor.run_once(Some(Duration::ZERO)).expect("run_once");
        assert_eq!(wakes.get(), 0, "{backend:?}");
        assert!(!reactor.remove_waker(&waker), "{backend:?}: removed twice");
    }
}

#[test]
fn a_waker_closure_can_remove_its_own_waker() {
    for (backend, mut reactor) in util::reactors() {
        let own = Rc::new(std::cell::OnceCell::<Waker>::new());
        let in_loop = Rc::clone(&own);
        let removed = Rc::new(Cell::new(false));
        let done = Rc::clone(&removed);
        let waker = reactor
            .waker(move |cx| {
                let waker = in_loop.get().expect("set before the first wake");
                done.set(cx.remove_waker(waker));
            })
            .expect("waker");
        own.set(waker.clone()).expect("empty cell");
        let watched = reactor.watched_count();
        waker.wake().expect("wake");
        util::run_until(&mut reactor, "self-removal", Duration::from_secs(5), |_| {
            removed.get()
        });
        assert_eq!(reactor.watched_count(), watched - 1, "{backend:?}");
        // The closure (and the cell it held) is dropped once it returned.
        assert_eq!(Rc::strong_count(&own), 1, "{backend:?}");
        assert_eq!(
            waker.wake().expect_err("removed").kind(),
            std::io::ErrorKind::NotConnected
        );
    }
}

#[test]
fn a_waker_of_another_loop_is_not_removed() {
    let (_, mut first) = util::reactors().remove(0);
    let (_, mut second) = util::reactors().remove(0);
    let waker = first.waker(|_| {}).expect("waker");
    // Same slot and generation in a fresh loop: the token alone would match.
    let _other = second.waker(|_| {}).expect("waker");
    assert!(!second.remove_waker(&waker));
    assert_eq!(second.watched_count(), 1);
    waker.wake().expect("still attached to its own loop");
    assert!(first.remove_waker(&waker));
}
