//! The handoff protocol between the pump thread (producer) and its owner (consumer),
//! written once and generic over the queue and the wake-up.
//!
//! Production runs it over a bounded `crossbeam-channel` ([`crate::channel`]) and a
//! [`Notify`] such as [`ReadinessFd`](crate::ReadinessFd); the loom models in
//! `tests/loom_*.rs` run the same code over a `loom::sync::Mutex<VecDeque>` and a modelled
//! waker (the crate's `sync` module switches the atomics and the consumer's mutex under
//! `--cfg loom`).
//!
//! A batch crosses the queue as one [`Run`]: one queue operation per batch, not per
//! packet, so that the two threads exchange a cache line per batch rather than per
//! packet. The capacity still counts items (packets and error reports) exactly: the
//! `queued` count says how many are in the queue, the producer splits a run that does not
//! fit, and the consumer takes a run out whole and hands its items over one by one.
//!
//! The protocol:
//! - the producer counts the batch's packets as received, queues them according to the
//!   [`Policy`], and after the whole batch, if it queued anything, sets the `pending`
//!   flag with a `swap`; only the call that turned the flag on signals the consumer (one
//!   coalesced wake-up per batch, none while the consumer has not yet reacted). Under
//!   [`Policy::Block`] it also wakes the consumer before it waits for room: the end of
//!   the batch cannot come before the consumer has made room (the loom model
//!   `block_wakes_before_waiting` in `tests/loom_handoff.rs` deadlocks without this);
//! - the consumer, once woken, first clears the signal ([`Notify::clear`]), then the
//!   `pending` flag (with `swap`, **before** draining — clearing after would lose a
//!   wake-up, tokio#6133), then pops until the queue is empty.
//!
//! Counters add up at every instant a [`Counters::snapshot`] can observe:
//! `received = delivered + dropped + in_flight`, with `in_flight ≥ 0`.

use std::collections::VecDeque;
use std::io;
use std::sync::PoisonError;

use crate::sync::Mutex;
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};

/// The producer's end of a bounded queue.
pub trait QueueTx<T>: Send {
    /// Pushes `item` if there is room, or gives it back.
    ///
    /// # Errors
    /// The item itself when the queue is full (or has no consumer end any more).
    fn try_push(&self, item: T) -> Result<(), T>;

    /// Waits a little before the producer looks again at a full queue under
    /// [`Policy::Block`]; `round` counts the looks so far (production backs off from
    /// tens of microseconds to a few milliseconds, the loom models yield).
    fn wait_for_room(&self, round: u32);
}

/// The consumer's end of a bounded queue (the producer holds one too, to take queued runs
/// back under [`Policy::DropOldest`]).
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

/// What the owner is handed: a packet, or a failed receive.
pub type Item<P> = Result<P, io::Error>;

/// What one queue slot carries: some of a batch's items, in receive order (never empty).
pub type Run<P> = Vec<Item<P>>;

/// State shared by both ends: the wake-up, its pending flag, the stop flag, counters.
#[derive(Debug)]
pub struct Shared<N> {
    counters: Counters,
    pending: CacheLine<AtomicBool>,
    /// Items in the queue, which the capacity bounds: added by the producer before it
    /// pushes a run, taken off by whoever pops it.
    queued: CacheLine<AtomicUsize>,
    notify: N,
    stop: AtomicBool,
}

impl<N: Notify> Shared<N> {
    /// Shared state around the owner's wake-up.
    pub fn new(notify: N) -> Self {
        Shared {
            counters: Counters::default(),
            pending: CacheLine(AtomicBool::new(false)),
            queued: CacheLine(AtomicUsize::new(0)),
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

impl<N> Shared<N> {
    /// Counts the packets among `items` as dropped (error reports are only counted in
    /// `errors`).
    fn count_dropped<P>(&self, items: &[Item<P>]) {
        let packets = items.iter().filter(|item| item.is_ok()).count();
        if packets > 0 {
            self.counters.dropped.fetch_add(packets as u64, SeqCst);
        }
    }

    /// Takes a popped run's items off the queued count.
    fn unqueue<P>(&self, run: &Run<P>) {
        self.queued.fetch_sub(run.len(), SeqCst);
    }
}

/// The pump thread's end of the handoff.
#[derive(Debug)]
pub struct Producer<Tx, Rx> {
    tx: Tx,
    rx: Rx,
    policy: Policy,
    capacity: usize,
}

impl<Tx, Rx> Producer<Tx, Rx> {
    /// A producer pushing through `tx` at most `capacity` items (at least 1) into the
    /// queue, taking runs back through `rx` when the policy drops the oldest.
    pub fn new(tx: Tx, rx: Rx, policy: Policy, capacity: usize) -> Self {
        Producer {
            tx,
            rx,
            policy,
            capacity: capacity.max(1),
        }
    }

    /// Hands a batch over: counts it, queues it by policy, then wakes the owner once if it
    /// is not already pending. Returns how many items were queued.
    ///
    /// The whole batch is counted received (and its failed receives in `errors`) before
    /// its first item is queued: one atomic add per batch, not per packet.
    pub fn publish<P, N>(&self, shared: &Shared<N>, mut batch: Run<P>) -> usize
    where
        N: Notify,
        Tx: QueueTx<Run<P>>,
        Rx: QueueRx<Run<P>>,
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
        let queued = match self.policy {
            Policy::Block => self.push_or_wait(shared, batch),
            Policy::DropNewest => {
                let surplus = batch.split_off(self.room(shared).min(batch.len()));
                shared.count_dropped(&surplus);
                self.push(shared, batch)
            }
            Policy::DropOldest => self.push_dropping_oldest(shared, batch),
        };
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

    /// How many more items the queue takes now.
    fn room<N>(&self, shared: &Shared<N>) -> usize {
        self.capacity.saturating_sub(shared.queued.load(SeqCst))
    }

    /// Queues `run` (which fits), counting it queued first so that a pop never takes off
    /// more than was added. Returns how many items were queued.
    fn push<P, N>(&self, shared: &Shared<N>, run: Run<P>) -> usize
    where
        Tx: QueueTx<Run<P>>,
    {
        if run.is_empty() {
            return 0;
        }
        let len = run.len();
        shared.queued.fetch_add(len, SeqCst);
        match self.tx.try_push(run) {
            Ok(()) => len,
            // The slots outnumber the items the capacity allows, so this is a queue
            // without a consumer end: what could not be queued is dropped.
            Err(run) => {
                shared.unqueue(&run);
                shared.count_dropped(&run);
                0
            }
        }
    }

    /// Queues what fits and, the queue being full, wakes the owner (who may be waiting
    /// for the end of this batch, which cannot come before there is room) and waits for
    /// room, until all is queued or a stop is requested (the rest is then dropped).
    fn push_or_wait<P, N: Notify>(&self, shared: &Shared<N>, mut run: Run<P>) -> usize
    where
        Tx: QueueTx<Run<P>>,
    {
        let mut queued = 0;
        let mut round = 0;
        loop {
            let rest = run.split_off(self.room(shared).min(run.len()));
            queued += self.push(shared, run);
            if rest.is_empty() {
                return queued;
            }
            run = rest;
            self.wake(shared);
            if shared.stop_requested() {
                shared.count_dropped(&run);
                return queued;
            }
            self.tx.wait_for_room(round);
            round = round.saturating_add(1);
        }
    }

    /// Makes room by dropping the oldest items: those of queued runs, taken back and
    /// queued again as one run with this one, then the oldest of this run itself.
    fn push_dropping_oldest<P, N>(&self, shared: &Shared<N>, mut run: Run<P>) -> usize
    where
        Tx: QueueTx<Run<P>>,
        Rx: QueueRx<Run<P>>,
    {
        if run.len() > self.room(shared) {
            let mut merged = Vec::new();
            // Runs the owner pops meanwhile are older than the rest: it hands them over
            // first, so the order holds.
            while let Some(queued) = self.rx.pop() {
                shared.unqueue(&queued);
                merged.extend(queued);
            }
            merged.append(&mut run);
            // Against the capacity, not the room: items the owner is taking out may
            // still be counted queued, and must not cost the newest their place.
            let surplus = merged.len().saturating_sub(self.capacity);
            shared.count_dropped(&merged[..surplus]);
            merged.drain(..surplus);
            run = merged;
        }
        self.push(shared, run)
    }
}

/// The owner's end of the handoff.
#[derive(Debug)]
pub struct Consumer<Rx, P> {
    rx: Rx,
    /// Items taken out of the queue (whole runs) but not handed over yet.
    taken: Mutex<VecDeque<std::vec::IntoIter<Item<P>>>>,
}

impl<Rx, P> Consumer<Rx, P> {
    /// The owner's end over `rx`.
    pub fn new(rx: Rx) -> Self {
        Consumer {
            rx,
            taken: Mutex::new(VecDeque::new()),
        }
    }

    /// The queue end, for waits the generic protocol does not model (blocking and timed
    /// receives); pass the run they return to [`deliver`](Self::deliver).
    pub fn rx(&self) -> &Rx {
        &self.rx
    }

    /// Starts a drain after a wake-up: clears the signal, then the pending flag (before
    /// any pop, so a batch queued from now on signals again).
    pub fn begin_drain<N: Notify>(&self, shared: &Shared<N>) {
        shared.notify.clear();
        shared.pending.swap(false, SeqCst);
    }

    /// Hands over the oldest item without waiting, counted delivered.
    pub fn pop<N>(&self, shared: &Shared<N>) -> Option<Item<P>>
    where
        Rx: QueueRx<Run<P>>,
    {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(item) = Self::next_taken(shared, &mut taken) {
                return Some(item);
            }
            let run = self.rx.pop()?;
            shared.unqueue(&run);
            taken.push_back(run.into_iter());
        }
    }

    /// Hands over the oldest item of `run`, popped by other means (a blocking receive),
    /// or of the items taken before it, counted delivered.
    pub fn deliver<N>(&self, shared: &Shared<N>, run: Run<P>) -> Option<Item<P>> {
        shared.unqueue(&run);
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        taken.push_back(run.into_iter());
        Self::next_taken(shared, &mut taken)
    }

    fn next_taken<N>(
        shared: &Shared<N>,
        taken: &mut VecDeque<std::vec::IntoIter<Item<P>>>,
    ) -> Option<Item<P>> {
        while let Some(run) = taken.front_mut() {
            if let Some(item) = run.next() {
                if item.is_ok() {
                    shared.counters.delivered.fetch_add(1, SeqCst);
                }
                return Some(item);
            }
            taken.pop_front();
        }
        None
    }
}
