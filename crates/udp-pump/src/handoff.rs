//! The handoff protocol between the pump thread (producer) and its owner (consumer),
//! written once and generic over the queue and the wake-up.
//!
//! Production runs it over a bounded `crossbeam-channel` ([`crate::channel`]) and a
//! [`Notify`] such as [`ReadinessFd`](crate::ReadinessFd); the loom models in
//! `tests/loom_*.rs` run the same code over a `loom::sync::Mutex<VecDeque>` and a modelled
//! waker (the crate's `sync` module switches the atomics under `--cfg loom`).
//!
//! The protocol:
//! - the producer counts the batch's packets as received, pushes them according to the
//!   [`Policy`], and after the whole batch, if it queued anything, sets the `pending` flag with a
//!   `swap`; only the call that turned the flag on signals the consumer (one coalesced
//!   wake-up per batch, none while the consumer has not yet reacted). Under
//!   [`Policy::Block`] it also wakes the consumer before it waits for room: the end of
//!   the batch cannot come before the consumer has made room (the loom model
//!   `block_wakes_before_waiting` in `tests/loom_handoff.rs` deadlocks without this);
//! - the consumer, once woken, first clears the signal ([`Notify::clear`]), then the
//!   `pending` flag (with `swap`, **before** draining — clearing after would lose a
//!   wake-up, tokio#6133), then pops until the queue is empty.
//!
//! Counters add up at every instant a [`Counters::snapshot`] can observe:
//! `received = delivered + dropped + in_flight`, with `in_flight ≥ 0`.

use std::io;

use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

/// The producer's end of a bounded queue.
pub trait QueueTx<T>: Send {
    /// Pushes `item` if there is room, or gives it back.
    ///
    /// # Errors
    /// The item itself when the queue is full (or has no consumer end any more).
    fn try_push(&self, item: T) -> Result<(), T>;

    /// Pushes `item`, waiting for room, unless `stop` is set while it waits.
    ///
    /// # Errors
    /// The item itself when `stop` was observed before there was room.
    fn push_unless_stopped(&self, item: T, stop: &AtomicBool) -> Result<(), T>;
}

/// The consumer's end of a bounded queue (the producer holds one too, to drop the oldest
/// item under [`Policy::DropOldest`]).
pub trait QueueRx<T>: Send {
    /// Pops the oldest item, if any, without waiting.
    fn pop(&self) -> Option<T>;
}

/// Wakes the pump's owner when a batch has been queued.
///
/// The pump calls [`notify`](Notify::notify) at most once per batch, and not again until
/// the owner has started draining (the pump keeps a pending flag). Implemented by
/// [`ReadinessFd`](crate::ReadinessFd) (an eventfd any poller can watch), by `()` (no
/// wake-up: the owner blocks in [`UdpPump::recv`](crate::UdpPump::recv)), by
/// `shoal_reactor::Waker` behind the `reactor` feature, and by the loom models' waker.
pub trait Notify: Send + Sync + 'static {
    /// Signals the owner that packets are queued. Called on the pump thread; must not
    /// block for long.
    fn notify(&self);

    /// Consumes the signal on the owner's side, before the pending flag is cleared and
    /// the queue drained (an eventfd is read here). The default does nothing, for
    /// wake-ups that clear themselves before running the owner's code.
    fn clear(&self) {}
}

impl Notify for () {
    fn notify(&self) {}
}

/// What the pump does with a packet when the queue to its owner is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Wait for room (the kernel's receive buffer absorbs bursts, as in the seed; what
    /// overflows it shows up in `kernel_drops`). Stopping the pump ends the wait; the
    /// packet it was holding is then counted as dropped.
    #[default]
    Block,
    /// Discard the packet that does not fit (counted in `dropped`).
    DropNewest,
    /// Discard the oldest queued packet to make room (counted in `dropped`).
    DropOldest,
}

/// Counters shared by the pump thread and its owner. What the owner writes
/// (`delivered`) is on a cache line of its own, away from what the pump thread writes
/// for every packet: sharing one line made each packet bounce it between the cores.
#[derive(Debug, Default)]
pub struct Counters {
    received: AtomicU64,
    dropped: AtomicU64,
    truncated: AtomicU64,
    errors: AtomicU64,
    delivered: CacheLine<AtomicU64>,
}

/// A value alone on its cache line (128 bytes: adjacent-line prefetch pairs lines).
#[derive(Debug, Default)]
#[repr(align(128))]
struct CacheLine<T>(T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A consistent reading of a pump's counters: `received = delivered + dropped + in_flight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterSnapshot {
    /// Datagrams read from the socket.
    pub received: u64,
    /// Packets handed to the owner (popped from the queue).
    pub delivered: u64,
    /// Packets discarded by the backpressure policy (or abandoned by a stop).
    pub dropped: u64,
    /// Packets received but neither delivered nor dropped yet.
    pub in_flight: u64,
    /// Datagrams longer than the receive buffer (delivered cut, flagged truncated).
    pub truncated: u64,
    /// Failed receives (each reported to the owner while the queue has room).
    pub errors: u64,
}

impl Counters {
    /// Reads the counters so that `received = delivered + dropped + in_flight` holds:
    /// `delivered` and `dropped` are read before `received`, and every packet is counted
    /// received before it can be delivered or dropped.
    pub fn snapshot(&self) -> CounterSnapshot {
        let delivered = self.delivered.load(SeqCst);
        let dropped = self.dropped.load(SeqCst);
        let truncated = self.truncated.load(SeqCst);
        let errors = self.errors.load(SeqCst);
        let received = self.received.load(SeqCst);
        CounterSnapshot {
            received,
            delivered,
            dropped,
            in_flight: received - delivered - dropped,
            truncated,
            errors,
        }
    }

    /// Counts one truncated datagram.
    pub fn count_truncated(&self) {
        self.truncated.fetch_add(1, SeqCst);
    }
}

/// What one queue slot carries: a packet, or a failed receive.
pub type Item<P> = Result<P, io::Error>;

/// State shared by both ends: the wake-up, its pending flag, the stop flag, counters.
#[derive(Debug)]
pub struct Shared<N> {
    counters: Counters,
    pending: CacheLine<AtomicBool>,
    notify: N,
    stop: AtomicBool,
}

impl<N: Notify> Shared<N> {
    /// Shared state around the owner's wake-up.
    pub fn new(notify: N) -> Self {
        Shared {
            counters: Counters::default(),
            pending: CacheLine(AtomicBool::new(false)),
            notify,
            stop: AtomicBool::new(false),
        }
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The owner's wake-up.
    pub fn notify(&self) -> &N {
        &self.notify
    }

    /// Asks the producer to stop (it checks between receives and while it waits for
    /// room).
    pub fn request_stop(&self) {
        self.stop.store(true, SeqCst);
    }

    /// Whether a stop was requested.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(SeqCst)
    }
}

/// The pump thread's end of the handoff.
#[derive(Debug)]
pub struct Producer<Tx, Rx> {
    tx: Tx,
    rx: Rx,
    policy: Policy,
}

impl<Tx, Rx> Producer<Tx, Rx> {
    /// A producer pushing through `tx`, dropping the oldest through `rx` when the policy
    /// says so.
    pub fn new(tx: Tx, rx: Rx, policy: Policy) -> Self {
        Producer { tx, rx, policy }
    }

    /// Hands a batch over (emptying `batch`, which keeps its allocation): counts it, queues
    /// it by policy, then wakes the owner once if it is not already pending. Returns how
    /// many items were queued.
    ///
    /// The whole batch is counted received (and its failed receives in `errors`) before
    /// its first item is queued: one atomic add per batch, not per packet.
    pub fn publish<P, N>(&self, shared: &Shared<N>, batch: &mut Vec<Item<P>>) -> usize
    where
        N: Notify,
        Tx: QueueTx<Item<P>>,
        Rx: QueueRx<Item<P>>,
    {
        let counters = &shared.counters;
        let packets = batch.iter().filter(|item| item.is_ok()).count();
        let failures = batch.len() - packets;
        if packets > 0 {
            counters.received.fetch_add(packets as u64, SeqCst);
        }
        if failures > 0 {
            counters.errors.fetch_add(failures as u64, SeqCst);
        }
        let mut queued = 0;
        let mut dropped = 0;
        for item in batch.drain(..) {
            let is_packet = item.is_ok();
            let outcome = match self.policy {
                Policy::Block => self.push_or_wait(shared, item),
                Policy::DropNewest => self.tx.try_push(item).map_err(drop),
                Policy::DropOldest => self.push_dropping_oldest(counters, item),
            };
            match outcome {
                Ok(()) => queued += 1,
                // Error reports that find no room are only counted in `errors`.
                Err(()) if is_packet => dropped += 1,
                Err(()) => {}
            }
        }
        if dropped > 0 {
            counters.dropped.fetch_add(dropped, SeqCst);
        }
        if queued > 0 {
            self.wake(shared);
        }
        queued
    }

    /// Signals the owner unless a signal is already pending.
    pub fn wake<N: Notify>(&self, shared: &Shared<N>) {
        if !shared.pending.swap(true, SeqCst) {
            shared.notify.notify();
        }
    }

    /// Pushes, or — the queue being full — wakes the owner (who may be waiting for the
    /// end of this batch, which cannot come before there is room) and waits for room.
    fn push_or_wait<P, N: Notify>(&self, shared: &Shared<N>, item: Item<P>) -> Result<(), ()>
    where
        Tx: QueueTx<Item<P>>,
    {
        let item = match self.tx.try_push(item) {
            Ok(()) => return Ok(()),
            Err(back) => back,
        };
        self.wake(shared);
        self.tx
            .push_unless_stopped(item, &shared.stop)
            .map_err(drop)
    }

    fn push_dropping_oldest<P>(&self, counters: &Counters, mut item: Item<P>) -> Result<(), ()>
    where
        Tx: QueueTx<Item<P>>,
        Rx: QueueRx<Item<P>>,
    {
        loop {
            match self.tx.try_push(item) {
                Ok(()) => return Ok(()),
                Err(back) => item = back,
            }
            match self.rx.pop() {
                Some(Ok(_)) => {
                    counters.dropped.fetch_add(1, SeqCst);
                }
                Some(Err(_)) => {}
                // The owner emptied the queue meanwhile: room now. A queue that stays
                // full with nothing to pop has no consumer end: drop the newest.
                None => return self.tx.try_push(item).map_err(drop),
            }
        }
    }
}

/// The owner's end of the handoff.
#[derive(Debug)]
pub struct Consumer<Rx> {
    rx: Rx,
}

impl<Rx> Consumer<Rx> {
    /// The owner's end over `rx`.
    pub fn new(rx: Rx) -> Self {
        Consumer { rx }
    }

    /// The queue end, for waits the generic protocol does not model (blocking and timed
    /// receives); pass what they return to [`account`](Self::account).
    pub fn rx(&self) -> &Rx {
        &self.rx
    }

    /// Starts a drain after a wake-up: clears the signal, then the pending flag (before
    /// any pop, so a batch queued from now on signals again).
    pub fn begin_drain<N: Notify>(&self, shared: &Shared<N>) {
        shared.notify.clear();
        shared.pending.swap(false, SeqCst);
    }

    /// Pops one item without waiting and counts it delivered.
    pub fn pop<P, N>(&self, shared: &Shared<N>) -> Option<Item<P>>
    where
        Rx: QueueRx<Item<P>>,
    {
        let item = self.rx.pop()?;
        Self::account(shared, &item);
        Some(item)
    }

    /// Counts an item taken from the queue by other means as delivered.
    pub fn account<P, N>(shared: &Shared<N>, item: &Item<P>) {
        if item.is_ok() {
            shared.counters.delivered.fetch_add(1, SeqCst);
        }
    }
}
