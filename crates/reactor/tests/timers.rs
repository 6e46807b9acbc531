//! Timers: fire in deadline order, cancelled ones never fire, no busy loop.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use shoal_reactor::{TimerHandle, TimerHeap};

#[test]
fn timers_fire_in_order_and_cancelled_ones_never() {
    for (backend, mut reactor) in util::reactors() {
        let fired = Rc::new(RefCell::new(Vec::new()));
        let mut handles: Vec<(u64, TimerHandle)> = Vec::new();
        for ms in [30u64, 10, 20, 0, 25, 5, 15] {
            let fired = Rc::clone(&fired);
            handles.push((
                ms,
                reactor.add_timer(Duration::from_millis(ms), move |_| {
                    fired.borrow_mut().push(ms)
                }),
            ));
        }
        // Cancel 20 from outside and 25 from inside the 5 ms timer.
        let h20 = handles
            .iter()
            .find(|(ms, _)| *ms == 20)
            .map(|&(_, h)| h)
            .expect("20");
        let h25 = handles
            .iter()
            .find(|(ms, _)| *ms == 25)
            .map(|&(_, h)| h)
            .expect("25");
        assert!(h20.cancel(&mut reactor));
        assert!(!h20.cancel(&mut reactor), "a second cancel is a no-op");
        reactor.add_timer(Duration::from_millis(5), move |cx| assert!(h25.cancel(cx)));
        reactor.set_post_loop_callback(|cx| cx.pending_timers() > 0);
        reactor.run().expect("run");
        assert_eq!(*fired.borrow(), vec![0, 5, 10, 15, 30], "{backend:?}");
        assert!(!h25.is_pending(&reactor));
    }
}

#[test]
fn a_near_timer_does_not_spin_the_loop() {
    for (backend, mut reactor) in util::reactors() {
        let iterations = Rc::new(Cell::new(0u32));
        let counter = Rc::clone(&iterations);
        // 300 µs: truncated to a 0 ms epoll timeout it would spin until due (mio#1614).
        reactor.add_timer(Duration::from_micros(300), |_| {});
        reactor.add_timer(Duration::from_millis(20), |_| {});
        reactor.set_post_loop_callback(move |cx| {
            counter.set(counter.get() + 1);
            cx.pending_timers() > 0
        });
        reactor.run().expect("run");
        assert!(
            iterations.get() <= 8,
            "{backend:?}: {} iterations for two timers",
            iterations.get()
        );
    }
}

#[test]
fn a_timer_added_with_zero_delay_inside_a_timer_runs_next_iteration() {
    let (_, mut reactor) = util::reactors().remove(0);
    let count = Rc::new(Cell::new(0u32));
    fn rearm(cx: &mut shoal_reactor::Context, count: Rc<Cell<u32>>) {
        count.set(count.get() + 1);
        if count.get() < 100 {
            cx.add_timer(Duration::ZERO, move |cx| rearm(cx, count));
        }
    }
    let c = Rc::clone(&count);
    reactor.add_timer(Duration::ZERO, move |cx| rearm(cx, c));
    reactor.run_once(Some(Duration::ZERO)).expect("run_once");
    assert_eq!(
        count.get(),
        1,
        "a self-rearming timer ran more than once in one iteration"
    );
    reactor.set_post_loop_callback(|cx| cx.pending_timers() > 0);
    reactor.run().expect("run");
    assert_eq!(count.get(), 100);
}

#[test]
fn heap_stays_bounded_under_add_and_cancel_churn() {
    let mut heap = TimerHeap::new();
    let base = Instant::now();
    for round in 0..10_000u64 {
        let id = heap.insert(base + Duration::from_secs(round % 7), round);
        assert_eq!(heap.cancel(id), Some(round));
    }
    assert_eq!(heap.len(), 0);
    let ids: Vec<_> = (0..1000u64)
        .map(|i| heap.insert(base + Duration::from_millis(i % 13), i))
        .collect();
    for id in ids.iter().step_by(2) {
        heap.cancel(*id);
    }
    let mut last = (base, 0);
    let mut fired = 0;
    while let Some((_, v)) = heap.pop_expired(base + Duration::from_secs(1)) {
        assert_eq!(v % 2, 1, "a cancelled timer fired");
        let key = (base + Duration::from_millis(v % 13), v);
        assert!(key >= last, "out of order");
        last = key;
        fired += 1;
    }
    assert_eq!(fired, 500);
}
