//! [`UdpPump`]: the receive thread, its configuration and its owner's handle.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use rustix::io::Errno;
use rustix::net::{RecvFlags, Shutdown, recvfrom, shutdown, sockopt};

use crate::handoff::{Consumer, CounterSnapshot, Item, Notify, Policy, Producer, Run, Shared};
use crate::kernel_drops::{kernel_drops, socket_inode};
use crate::packet::{BATCH_BYTES, BatchBuf, BatchPool, Packet, PeerAddr};
use crate::socket::request_recv_buffer_size;

/// How a pump's socket is shared, which decides how [`UdpPump::stop`] wakes the thread
/// blocked in `recvfrom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    /// The pump is the socket's only reader: stop calls `shutdown(SHUT_RD)`, which wakes
    /// the blocked `recvfrom` at once. The socket must not be open in another process
    /// (shutdown acts on the socket, not on this descriptor).
    #[default]
    Exclusive,
    /// Other processes read the same socket (forked workers): stop must not disturb
    /// them, so the pump sets `SO_RCVTIMEO` to `backstop` and notices a stop at the
    /// latest that long after it was asked. Traffic wakes it sooner.
    Shared {
        /// The receive timeout, the bound on how long a stop takes on an idle socket.
        backstop: Duration,
    },
}

impl Sharing {
    /// Shared with other processes, with a 100 ms backstop.
    pub const SHARED: Sharing = Sharing::Shared {
        backstop: Duration::from_millis(100),
    };
}

/// Configuration of a [`UdpPump`]; [`spawn`](Self::spawn) starts it.
#[derive(Debug, Clone)]
pub struct PumpBuilder {
    capacity: usize,
    batch: usize,
    linger: Option<Duration>,
    max_datagram: usize,
    policy: Policy,
    sharing: Sharing,
    recv_buffer: Option<usize>,
    thread_name: String,
}

impl Default for PumpBuilder {
    fn default() -> Self {
        PumpBuilder {
            capacity: 1024,
            batch: 64,
            linger: None,
            max_datagram: 65536,
            policy: Policy::Block,
            sharing: Sharing::Exclusive,
            recv_buffer: None,
            thread_name: "udp-pump".into(),
        }
    }
}

impl PumpBuilder {
    /// The defaults: 1024 packets queued at most, batches of up to 64 handed over as soon
    /// as the socket has no more (no linger), datagrams up to 64 KiB (no UDP datagram is
    /// larger), [`Policy::Block`], [`Sharing::Exclusive`], the socket's receive buffer
    /// left as it is.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `packets` queued between the thread and the owner (at least 1).
    pub fn capacity(mut self, packets: usize) -> Self {
        self.capacity = packets.max(1);
        self
    }

    /// At most `packets` read without blocking after each blocking receive, handed over
    /// with one wake-up (at least 1). A batch also ends once its datagrams take 256 KiB.
    pub fn batch(mut self, packets: usize) -> Self {
        self.batch = packets.max(1);
        self
    }

    /// Holds each batch for `delay` after its first datagram, to hand it over fuller:
    /// the thread sleeps, then reads at once what queued up in the kernel meanwhile (up
    /// to [`batch`](Self::batch) packets; a batch that fills is handed over without
    /// waiting, and the next is read without lingering while a backlog lasts). A packet
    /// thus waits about `delay` at most, and the owner is woken about once per `delay`
    /// rather than once per burst. A failed receive and a stop are handed over at once.
    ///
    /// Without it (the default) each batch is handed over as soon as a non-blocking read
    /// finds the socket empty: the lowest latency, but a thread woken for every few
    /// packets when they arrive paced. Lingering trades latency for CPU: the pump thread
    /// sleeps once per batch instead of once per datagram or two, and the owner once per
    /// `delay`; `docs/udp-pump.md` gives the measured effect.
    ///
    /// The socket's receive buffer must absorb `delay` of traffic (`kernel_drops` shows
    /// when it does not): at 150k datagrams per second, 2 ms is 300 datagrams, about
    /// 250 KiB of receive buffer for 64-byte ones.
    pub fn linger(mut self, delay: Duration) -> Self {
        self.linger = Some(delay.max(MIN_LINGER));
        self
    }

    /// The receive buffer size: longer datagrams are delivered cut to this length and
    /// flagged [`truncated`](Packet::truncated).
    pub fn max_datagram(mut self, bytes: usize) -> Self {
        self.max_datagram = bytes;
        self
    }

    /// What to do with packets when the queue is full.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Whether other processes read the socket too.
    pub fn sharing(mut self, sharing: Sharing) -> Self {
        self.sharing = sharing;
        self
    }

    /// Asks for a kernel receive buffer of `bytes` (forced past `rmem_max` when
    /// privileged); [`UdpPump::recv_buffer_size`] reports what was granted.
    pub fn recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = Some(bytes);
        self
    }

    /// The receive thread's name (default `udp-pump`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Starts a pump on `socket` (any datagram socket, bound; it is switched to blocking
    /// mode), waking its owner through `notify`.
    ///
    /// In a forked worker, call this after the fork: threads do not survive `fork`.
    ///
    /// # Errors
    /// What configuring the socket or spawning the thread fails with.
    pub fn spawn<N: Notify>(self, socket: OwnedFd, notify: N) -> io::Result<UdpPump<N>> {
        rustix::io::ioctl_fionbio(&socket, false)?;
        if let Some(bytes) = self.recv_buffer {
            request_recv_buffer_size(&socket, bytes)?;
        }
        if let Sharing::Shared { backstop } = self.sharing {
            sockopt::set_socket_timeout(
                &socket,
                sockopt::Timeout::Recv,
                Some(backstop.max(Duration::from_millis(1))),
            )?;
        }
        let inode = socket_inode(&socket)?;
        let socket = Arc::new(socket);
        let (tx, rx) = bounded(self.capacity);
        let shared = Arc::new(Shared::new(notify));
        // Enough idle buffers for a full queue of full batches, and the one being read.
        let pool = BatchPool::new(self.capacity.div_ceil(self.batch) + 2);
        let receiver = ReceiveThread {
            socket: Arc::clone(&socket),
            producer: Producer::new(tx, rx.clone(), self.policy, self.capacity),
            shared: Arc::clone(&shared),
            pool: Arc::clone(&pool),
            scratch: vec![0; self.max_datagram],
            batch: self.batch,
            linger: self.linger,
            buf: pool.take(),
            order: Vec::with_capacity(self.batch),
        };
        let thread = std::thread::Builder::new()
            .name(self.thread_name)
            .spawn(move || receiver.run())?;
        Ok(UdpPump {
            shared,
            consumer: Consumer::new(rx),
            socket,
            sharing: self.sharing,
            inode,
            thread: Mutex::new(Some(thread)),
        })
    }
}

/// Counters of a pump, kernel drops included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PumpStats {
    /// The pump's own counters (`received = delivered + dropped + in_flight`).
    pub counters: CounterSnapshot,
    /// Datagrams the kernel dropped on this socket (receive buffer full), from
    /// `/proc/net/udp{,6}`; `None` for a socket no table lists (unix datagram). For a
    /// socket shared by several processes this is the socket's total, not this pump's.
    pub kernel_drops: Option<u64>,
}

/// A thread blocked in `recvfrom` on a datagram socket, handing packets to its owner in
/// batches with one wake-up each (Event::Lib::UDPPump, removable).
///
/// Take packets with [`drain`](Self::drain) after a wake-up, or block in
/// [`recv`](Self::recv) / [`recv_timeout`](Self::recv_timeout) / iteration. Dropping the
/// pump stops and joins its thread.
#[derive(Debug)]
pub struct UdpPump<N: Notify = ()> {
    shared: Arc<Shared<N>>,
    consumer: Consumer<Receiver<Run<Packet>>, Packet>,
    socket: Arc<OwnedFd>,
    sharing: Sharing,
    inode: u64,
    /// Taken by the first `stop` (a mutex so that `stop` works through `&self`, from a
    /// reactor callback or another thread).
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl UdpPump<()> {
    /// The configuration builder ([`PumpBuilder::spawn`] picks the wake-up).
    pub fn builder() -> PumpBuilder {
        PumpBuilder::new()
    }

    /// A pump with the default configuration and no wake-up: the owner blocks in
    /// [`recv`](Self::recv) or iterates.
    ///
    /// # Errors
    /// As [`PumpBuilder::spawn`].
    pub fn spawn(socket: OwnedFd) -> io::Result<Self> {
        PumpBuilder::new().spawn(socket, ())
    }
}

impl<N: Notify> UdpPump<N> {
    /// The wake-up the pump signals (register a [`ReadinessFd`](crate::ReadinessFd) with
    /// a poller through it).
    pub fn notifier(&self) -> &N {
        self.shared.notify()
    }

    /// The socket (to send replies from, or to read its options).
    pub fn socket(&self) -> &OwnedFd {
        &self.socket
    }

    /// `getsockopt(SO_RCVBUF)`—The receive buffer size the kernel granted.
    ///
    /// # Errors
    /// What `getsockopt` fails with.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        Ok(sockopt::socket_recv_buffer_size(self.socket.as_fd())?)
    }

    /// The packets queued now, after a wake-up: clears the wake-up and the pending flag
    /// first (so a batch queued meanwhile wakes the owner again), then yields until the
    /// queue is empty. Each packet is counted delivered as it is yielded.
    pub fn drain(&self) -> Drain<'_, N> {
        self.consumer.begin_drain(&self.shared);
        Drain { pump: self }
    }

    /// The oldest queued packet, if any, without waiting (and without clearing the
    /// wake-up: after a wake-up use [`drain`](Self::drain)).
    pub fn try_recv(&self) -> Option<Item<Packet>> {
        self.consumer.pop(&self.shared)
    }

    /// Waits for the next packet; `None` once the thread has ended and the queue is
    /// empty.
    pub fn recv(&self) -> Option<Item<Packet>> {
        self.recv_waiting(Receiver::recv).ok()
    }

    /// Waits up to `timeout` for the next packet.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] when nothing came, [`RecvTimeoutError::Disconnected`]
    /// once the thread has ended and the queue is empty.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Item<Packet>, RecvTimeoutError> {
        let deadline = Instant::now() + timeout;
        self.recv_waiting(|rx| rx.recv_deadline(deadline))
    }

    /// The next packet: from the runs already taken or queued, else from the run `wait`
    /// takes off the queue.
    fn recv_waiting<E>(
        &self,
        wait: impl Fn(&Receiver<Run<Packet>>) -> Result<Run<Packet>, E>,
    ) -> Result<Item<Packet>, E> {
        loop {
            if let Some(item) = self.try_recv() {
                return Ok(item);
            }
            let run = wait(self.consumer.rx())?;
            if let Some(item) = self.consumer.deliver(&self.shared, run) {
                return Ok(item);
            }
        }
    }

    /// Blocking iteration: [`recv`](Self::recv) until the thread has ended.
    pub fn iter(&self) -> impl Iterator<Item = Item<Packet>> + '_ {
        std::iter::from_fn(|| self.recv())
    }

    /// The counters (no syscall).
    pub fn counters(&self) -> CounterSnapshot {
        self.shared.counters().snapshot()
    }

    /// The counters and the socket's kernel drops (reads `/proc/net/udp{,6}`).
    ///
    /// # Errors
    /// When the `/proc` tables cannot be read.
    pub fn stats(&self) -> io::Result<PumpStats> {
        let counters = self.counters();
        Ok(PumpStats {
            counters,
            kernel_drops: kernel_drops(self.inode)?,
        })
    }

    /// Whether the receive thread has ended (stopped, or a fatal socket error).
    pub fn is_finished(&self) -> bool {
        self.thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
    }

    /// Stops the receive thread and joins it. Packets already queued stay available to
    /// [`try_recv`](Self::try_recv) / [`drain`](Self::drain); datagrams still in the
    /// kernel's buffer stay there (for a shared socket, a sibling reads them).
    ///
    /// An [`Exclusive`](Sharing::Exclusive) socket is shut down for reading (which wakes
    /// the blocked `recvfrom` at once); a [`Shared`](Sharing::Shared) one is left alone
    /// and the thread notices within the backstop. Stopping twice does nothing.
    ///
    /// # Errors
    /// `Other` if the thread panicked.
    pub fn stop(&self) -> io::Result<()> {
        let mut slot = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(thread) = slot.take() else {
            return Ok(());
        };
        self.shared.request_stop();
        if self.sharing == Sharing::Exclusive {
            // ENOTCONN on an unconnected socket, yet the readers are woken (they read 0).
            let _ = shutdown(self.socket.as_fd(), Shutdown::Read);
        }
        thread
            .join()
            .map_err(|_| io::Error::other("the udp-pump thread panicked"))
    }
}

impl<N: Notify> Drop for UdpPump<N> {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The packets queued when [`UdpPump::drain`] was called (and any queued meanwhile).
#[derive(Debug)]
pub struct Drain<'a, N: Notify> {
    pump: &'a UdpPump<N>,
}

impl<N: Notify> Iterator for Drain<'_, N> {
    type Item = Item<Packet>;

    fn next(&mut self) -> Option<Self::Item> {
        self.pump.try_recv()
    }
}

/// The shortest [`PumpBuilder::linger`] delay.
const MIN_LINGER: Duration = Duration::from_micros(100);

/// The longest pause after a run of receive errors (it doubles from 1 ms per error).
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The receive thread's state.
struct ReceiveThread<N> {
    socket: Arc<OwnedFd>,
    producer: Producer<Sender<Run<Packet>>, Receiver<Run<Packet>>>,
    shared: Arc<Shared<N>>,
    pool: Arc<BatchPool>,
    scratch: Vec<u8>,
    batch: usize,
    /// How long a batch waits after its first datagram for more to queue up.
    linger: Option<Duration>,
    /// The batch being read: its datagrams' bytes and senders.
    buf: BatchBuf,
    /// The batch's items in receive order: an index into `buf`, or a failed receive.
    order: Vec<Result<usize, io::Error>>,
}

/// What one `recvfrom` gave.
enum Received {
    /// A datagram, appended to the batch.
    Datagram,
    /// A failed receive, appended to the batch as an error.
    Failed,
    /// EAGAIN (queue empty, or `SO_RCVTIMEO` expired) or EINTR.
    Nothing,
    /// The zero-length read of a socket shut down by `stop`.
    ShutDown,
    /// An error that will not go away (the descriptor is not a usable socket), appended
    /// to the batch.
    Fatal,
}

impl<N: Notify> ReceiveThread<N> {
    fn run(mut self) {
        let mut error_pause = Duration::ZERO;
        // Whether the last batch ended full, before the socket was empty: the next is
        // read at once, without lingering, so that a backlog drains at full speed.
        let mut backlog = false;
        while !self.shared.stop_requested() {
            let got = self.receive(RecvFlags::TRUNC);
            match got {
                Received::ShutDown | Received::Fatal => break,
                Received::Nothing => continue,
                Received::Datagram | Received::Failed => {}
            }
            if let (Some(delay), Received::Datagram, false) = (self.linger, &got, backlog) {
                self.pause(delay);
            }
            let fatal = self.read_queued();
            backlog = self.is_full();
            let failed = self.order.last().is_some_and(Result::is_err);
            self.publish();
            if fatal {
                break;
            }
            // A persistent error must not spin (the seed did): pause, doubling.
            error_pause = if failed {
                let pause = error_pause.clamp(Duration::from_millis(1), MAX_ERROR_PAUSE);
                self.pause(pause);
                pause * 2
            } else {
                Duration::ZERO
            };
        }
        self.publish();
        // The owner learns that the thread ended (`is_finished`) at its next wake-up.
        self.producer.wake(&self.shared);
    }

    /// After a blocking receive: reads what is already queued, without blocking, until
    /// the batch is full. Returns whether a fatal error ended it.
    fn read_queued(&mut self) -> bool {
        while !self.is_full() && !self.shared.stop_requested() {
            match self.receive(RecvFlags::TRUNC | RecvFlags::DONTWAIT) {
                Received::Datagram | Received::Failed => {}
                Received::Nothing | Received::ShutDown => break,
                Received::Fatal => return true,
            }
        }
        false
    }

    fn is_full(&self) -> bool {
        self.order.len() >= self.batch || self.buf.bytes_len() >= BATCH_BYTES
    }

    /// Hands the batch over, its packets sharing one buffer, and starts the next.
    fn publish(&mut self) {
        if self.order.is_empty() {
            return;
        }
        let batch = self
            .pool
            .share(std::mem::replace(&mut self.buf, self.pool.take()));
        let run = self
            .order
            .drain(..)
            .map(|item| item.map(|index| batch.packet(index)))
            .collect();
        self.producer.publish(&self.shared, run);
    }

    /// One `recvfrom` into the scratch buffer; a datagram is appended to the batch.
    fn receive(&mut self, flags: RecvFlags) -> Received {
        match recvfrom(self.socket.as_fd(), &mut self.scratch[..], flags) {
            // After `shutdown(SHUT_RD)` an empty queue reads as zero bytes (no address for
            // UDP, an unnamed one for unix sockets): only the stop flag tells it from an
            // empty datagram.
            Ok((_, 0, _)) if self.shared.stop_requested() => Received::ShutDown,
            Ok((copied, len, from)) => {
                if len > copied {
                    self.shared.counters().count_truncated();
                }
                let from = from.map(PeerAddr::from_any);
                let index = self.buf.push(&self.scratch[..copied], len, from);
                self.order.push(Ok(index));
                Received::Datagram
            }
            Err(Errno::INTR | Errno::AGAIN) => Received::Nothing,
            Err(err @ (Errno::BADF | Errno::NOTSOCK | Errno::INVAL | Errno::FAULT)) => {
                self.order.push(Err(err.into()));
                Received::Fatal
            }
            Err(err) => {
                self.order.push(Err(err.into()));
                Received::Failed
            }
        }
    }

    /// Sleeps `pause`, in slices, so that a stop is not held up.
    fn pause(&self, pause: Duration) {
        let slice = Duration::from_millis(10);
        let mut left = pause;
        while !left.is_zero() && !self.shared.stop_requested() {
            let step = left.min(slice);
            std::thread::sleep(step);
            left -= step;
        }
    }
}
