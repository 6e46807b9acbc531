//! loom models of the handoff protocol (`src/handoff.rs`), the very code the pump runs,
//! over a `loom::sync::Mutex<VecDeque>` queue and a modelled waker (a flag under a mutex
//! with a condition variable: `notify` = eventfd write, `clear` = eventfd read, `wait` =
//! poll). A lost wake-up leaves the consumer waiting on the condition variable forever,
//! which loom reports as a deadlock; counters are checked in every interleaving.
//!
//! Run with `cargo xtask loom` (release, `--cfg loom`, `LOOM_MAX_PREEMPTIONS=2`).
#![cfg(loom)]

use std::collections::VecDeque;

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex};
use shoal_udp_pump::handoff::{
    Consumer, CounterSnapshot, Item, Notify, Policy, Producer, QueueRx, QueueTx, Run, Shared,
};

/// A bounded FIFO of runs under a mutex: what loom can see into, unlike
/// crossbeam-channel. Its bound counts runs, like the channel's; the items are bounded by
/// the protocol's own count.
struct LoomQueue {
    runs: Mutex<VecDeque<Run<u32>>>,
    capacity: usize,
}

#[derive(Clone)]
struct End(Arc<LoomQueue>);

fn queue(capacity: usize) -> End {
    End(Arc::new(LoomQueue {
        runs: Mutex::new(VecDeque::new()),
        capacity,
    }))
}

impl QueueTx<Run<u32>> for End {
    fn try_push(&self, run: Run<u32>) -> Result<(), Run<u32>> {
        let mut runs = self.0.runs.lock().unwrap();
        if runs.len() < self.0.capacity {
            runs.push_back(run);
            Ok(())
        } else {
            Err(run)
        }
    }

    /// The production queue sleeps between looks at a full queue; here each pause is a
    /// `yield_now`.
    fn wait_for_room(&self, _round: u32) {
        loom::thread::yield_now();
    }
}

impl QueueRx<Run<u32>> for End {
    fn pop(&self) -> Option<Run<u32>> {
        self.0.runs.lock().unwrap().pop_front()
    }
}

/// The modelled readiness fd.
#[derive(Default)]
struct LoomWaker {
    signalled: Mutex<bool>,
    changed: Condvar,
}

impl LoomWaker {
    /// Blocks until signalled (poll on the fd); does not consume the signal.
    fn wait(&self) {
        let mut signalled = self.signalled.lock().unwrap();
        while !*signalled {
            signalled = self.changed.wait(signalled).unwrap();
        }
    }
}

impl Notify for LoomWaker {
    fn notify(&self) {
        *self.signalled.lock().unwrap() = true;
        self.changed.notify_all();
    }

    fn clear(&self) {
        *self.signalled.lock().unwrap() = false;
    }
}

type Pump = (
    Arc<Shared<LoomWaker>>,
    Producer<End, End>,
    Consumer<End, u32>,
);

fn pump(capacity: usize, policy: Policy) -> Pump {
    let q = queue(capacity);
    let shared = Arc::new(Shared::new(LoomWaker::default()));
    (
        shared,
        Producer::new(q.clone(), q.clone(), policy, capacity),
        Consumer::new(q),
    )
}

fn packets(range: std::ops::Range<u32>) -> Vec<Item<u32>> {
    range.map(Ok).collect()
}

/// One wake-up's worth of draining, as an event loop does it.
fn drain_once(shared: &Shared<LoomWaker>, consumer: &Consumer<End, u32>, got: &mut Vec<u32>) {
    shared.notify().wait();
    consumer.begin_drain(shared);
    while let Some(item) = consumer.pop(shared) {
        got.push(item.unwrap());
    }
}

fn assert_consistent(c: &CounterSnapshot, sent: u64) {
    assert!(c.received <= sent, "{c:?}");
    assert_eq!(c.received, c.delivered + c.dropped + c.in_flight, "{c:?}");
}

/// Three batches, room for all: every packet is delivered, in order, and the consumer —
/// which only drains when woken and has no final wake-up to rescue it — is always woken
/// for the last one (no lost wake-up).
///
/// A wrong drain (pending flag cleared before the signal) loses the wake-up only when
/// the consumer is preempted inside `begin_drain` and the producer between batches: more
/// preemptions than `cargo xtask loom`'s bound of 2, so this two-thread model runs
/// unbounded (exhaustive, still well under a second).
#[test]
fn no_lost_packet_no_lost_wakeup() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = None;
    builder.check(|| {
        let (shared, producer, consumer) = pump(4, Policy::Block);
        let producer_shared = Arc::clone(&shared);
        let thread = loom::thread::spawn(move || {
            for seq in 0..3 {
                producer.publish(&producer_shared, packets(seq..seq + 1));
            }
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            drain_once(&shared, &consumer, &mut got);
        }
        thread.join().unwrap();
        assert_eq!(got, [0, 1, 2]);
        let c = shared.counters().snapshot();
        assert_eq!(
            (c.received, c.delivered, c.dropped, c.in_flight),
            (3, 3, 0, 0)
        );
    });
}

/// A batch longer than the queue under `Block`: the producer must wake the consumer
/// before it waits for room, or both wait for each other.
#[test]
fn block_wakes_before_waiting() {
    loom::model(|| {
        let (shared, producer, consumer) = pump(1, Policy::Block);
        let producer_shared = Arc::clone(&shared);
        let thread = loom::thread::spawn(move || {
            producer.publish(&producer_shared, packets(0..3));
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            drain_once(&shared, &consumer, &mut got);
        }
        thread.join().unwrap();
        assert_eq!(got, [0, 1, 2]);
    });
}

/// Stop while the producer waits for room: it gives up, counts the packet it held as
/// dropped, and the join returns (no deadlock on stop); the counters add up before and
/// after the owner drains what is left.
#[test]
fn stop_ends_a_blocked_producer() {
    loom::model(|| {
        let (shared, producer, consumer) = pump(1, Policy::Block);
        let producer_shared = Arc::clone(&shared);
        let thread = loom::thread::spawn(move || {
            producer.publish(&producer_shared, packets(0..3));
        });
        let mut got = Vec::new();
        drain_once(&shared, &consumer, &mut got);
        shared.request_stop();
        thread.join().unwrap();
        let stopped = shared.counters().snapshot();
        assert_consistent(&stopped, 3);
        assert_eq!(stopped.received, 3);
        while let Some(item) = consumer.pop(&shared) {
            got.push(item.unwrap());
        }
        let c = shared.counters().snapshot();
        assert_eq!((c.in_flight, c.delivered), (0, got.len() as u64));
        assert_eq!(c.delivered + c.dropped, 3);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "order kept: {got:?}");
    });
}

/// The drop policies with a consumer draining concurrently and a third thread reading
/// the counters: every snapshot adds up, each packet is delivered or dropped exactly
/// once, and under `DropOldest` the newest packet always survives.
fn dropping(policy: Policy) {
    loom::model(move || {
        let (shared, producer, consumer) = pump(1, policy);
        let producer_shared = Arc::clone(&shared);
        let done = Arc::new(AtomicBool::new(false));
        let producer_done = Arc::clone(&done);
        let thread = loom::thread::spawn(move || {
            producer.publish(&producer_shared, packets(0..2));
            producer_done.store(true, SeqCst);
            // The pump thread's last act: a wake-up so the owner sees it has ended.
            producer.wake(&producer_shared);
        });
        let observer_shared = Arc::clone(&shared);
        let observer = loom::thread::spawn(move || {
            assert_consistent(&observer_shared.counters().snapshot(), 2);
        });
        let mut got = Vec::new();
        // As an event loop does: drain on each wake-up, then look whether the pump
        // ended (its final wake-up may have been coalesced into this drain).
        loop {
            drain_once(&shared, &consumer, &mut got);
            if done.load(SeqCst) {
                break;
            }
        }
        thread.join().unwrap();
        observer.join().unwrap();
        while let Some(item) = consumer.pop(&shared) {
            got.push(item.unwrap());
        }
        let c = shared.counters().snapshot();
        assert_eq!((c.received, c.in_flight), (2, 0));
        assert_eq!(c.delivered, got.len() as u64);
        assert_eq!(c.delivered + c.dropped, 2);
        match policy {
            Policy::DropOldest => assert_eq!(got.last(), Some(&1)),
            Policy::DropNewest => assert_eq!(got.first(), Some(&0)),
            Policy::Block => unreachable!(),
        }
    });
}

#[test]
fn drop_newest_counts_add_up() {
    dropping(Policy::DropNewest);
}

#[test]
fn drop_oldest_counts_add_up() {
    dropping(Policy::DropOldest);
}

/// `DropOldest` across batches: the second batch finds the queue full and takes the first
/// one's run back, while the consumer may be popping it. Each packet is delivered or
/// dropped exactly once, in order, the newest always survives and the counters add up.
#[test]
fn drop_oldest_takes_queued_runs_back() {
    loom::model(|| {
        let (shared, producer, consumer) = pump(1, Policy::DropOldest);
        let producer_shared = Arc::clone(&shared);
        let thread = loom::thread::spawn(move || {
            producer.publish(&producer_shared, packets(0..1));
            producer.publish(&producer_shared, packets(1..2));
        });
        let mut got = Vec::new();
        while got.last() != Some(&1) {
            drain_once(&shared, &consumer, &mut got);
        }
        thread.join().unwrap();
        assert!(got == [1] || got == [0, 1], "{got:?}");
        let c = shared.counters().snapshot();
        assert_eq!((c.received, c.in_flight), (2, 0));
        assert_eq!(
            (c.delivered, c.dropped),
            (got.len() as u64, 2 - got.len() as u64)
        );
    });
}
