//! fds per second through `shoal-fdpass` against a raw `sendmsg`/`recvmsg` loop (libc),
//! over SOCK_SEQPACKET and SOCK_STREAM socket pairs, one descriptor plus one byte per
//! message, a sender thread and a receiver thread in this process.
//!
//! Every variant does the same per-descriptor work: the sender `dup`s a descriptor,
//! sends it and closes its copy; the receiver receives it (`MSG_CMSG_CLOEXEC`) and closes
//! it. "raw" uses blocking sockets; "shoal blocking" is `FdPasser::send_fd`/`recv_fd`
//! (non-blocking socket + `poll` when full/empty); "shoal queued" is the event-loop path:
//! `push_send` / `push_recv` callbacks driven by `poll` + `on_writable`/`on_readable`.

#![allow(unsafe_code)] // the raw peer is libc sendmsg/recvmsg

use std::mem::{size_of, zeroed};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use shoal_bench::{median, process_cpu_time, table};
use shoal_fdpass::{FdPasser, Mode, Options, Outgoing};

const FDS: usize = 50_000;
const RUNS: usize = 5;
/// Each run must finish within this (bounded in count and time).
const RUN_LIMIT: Duration = Duration::from_secs(20);

fn source() -> OwnedFd {
    std::fs::File::open("/dev/null")
        .expect("open /dev/null")
        .into()
}

fn dup(fd: &OwnedFd) -> OwnedFd {
    rustix::io::fcntl_dupfd_cloexec(fd, 0).expect("dup")
}

// ---------- raw peer ----------

fn raw_pair(mode: Mode) -> (OwnedFd, OwnedFd) {
    let kind = match mode {
        Mode::SeqPacket => libc::SOCK_SEQPACKET,
        Mode::Stream => libc::SOCK_STREAM,
    };
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "socketpair");
    // SAFETY: socketpair just returned these two descriptors, owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

const CMSG_BUF: usize = 64;

/// A one-byte payload and a control buffer with room for one descriptor, as one raw
/// message; `header` points into `self`, so it is built where the message is used.
#[repr(C, align(8))]
struct RawMessage {
    control: [u8; CMSG_BUF],
    byte: [u8; 1],
    iov: libc::iovec,
}

impl RawMessage {
    fn new() -> Self {
        RawMessage {
            control: [0; CMSG_BUF],
            byte: [0],
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 1,
            },
        }
    }

    /// The `msghdr` over this message's buffers, with `controllen` bytes of control room.
    fn header(&mut self, controllen: usize) -> libc::msghdr {
        self.iov.iov_base = self.byte.as_mut_ptr().cast();
        // SAFETY: msghdr is plain data, all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = &mut self.iov;
        msg.msg_iovlen = 1;
        msg.msg_control = self.control.as_mut_ptr().cast();
        msg.msg_controllen = controllen;
        msg
    }
}

fn raw_send(sock: RawFd, fd: RawFd) {
    let mut buffers = RawMessage::new();
    // SAFETY: CMSG_SPACE of one int fits in CMSG_BUF.
    let msg = buffers.header(unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize);
    // SAFETY: the header points into `buffers`, which outlives the call; the CMSG_*
    // macros stay inside the control buffer (room for one int).
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        loop {
            let n = libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL);
            if n == 1 {
                return;
            }
            assert_eq!(
                std::io::Error::last_os_error().kind(),
                std::io::ErrorKind::Interrupted
            );
        }
    }
}

fn raw_recv(sock: RawFd) -> OwnedFd {
    let mut buffers = RawMessage::new();
    let mut msg = buffers.header(CMSG_BUF);
    // SAFETY: as in `raw_send`; the kernel writes at most `msg_controllen` bytes.
    unsafe {
        let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
        assert_eq!(n, 1, "recvmsg: {}", std::io::Error::last_os_error());
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        assert!(!cmsg.is_null() && (*cmsg).cmsg_type == libc::SCM_RIGHTS);
        OwnedFd::from_raw_fd(std::ptr::read_unaligned(
            libc::CMSG_DATA(cmsg).cast::<RawFd>(),
        ))
    }
}

fn run_raw(mode: Mode) {
    let (tx, rx) = raw_pair(mode);
    let sender = std::thread::spawn(move || {
        let src = source();
        for _ in 0..FDS {
            let copy = dup(&src);
            raw_send(tx.as_raw_fd(), copy.as_raw_fd());
            drop(copy);
        }
    });
    let end = Instant::now() + RUN_LIMIT;
    for i in 0..FDS {
        drop(raw_recv(rx.as_raw_fd()));
        if i % 4096 == 0 {
            assert!(Instant::now() < end, "raw run over time");
        }
    }
    sender.join().unwrap();
}

// ---------- shoal-fdpass ----------

fn run_blocking(mode: Mode) {
    blocking(Options::new().mode(mode));
}

fn run_blocking_without_reserve(mode: Mode) {
    blocking(Options::new().mode(mode).reserve_fd(false));
}

fn blocking(options: Options) {
    let (mut tx, mut rx) = FdPasser::socketpair_with(&options).unwrap();
    let sender = std::thread::spawn(move || {
        let src = source();
        for _ in 0..FDS {
            tx.send_fd(dup(&src)).unwrap();
        }
    });
    let end = Instant::now() + RUN_LIMIT;
    for i in 0..FDS {
        drop(rx.recv_fd().unwrap());
        if i % 4096 == 0 {
            assert!(Instant::now() < end, "blocking run over time");
        }
    }
    sender.join().unwrap();
}

fn poll_one(passer: &FdPasser, flags: PollFlags) {
    let mut fds = [PollFd::from_borrowed_fd(passer.as_fd(), flags)];
    let timeout = Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    let _ = rustix::event::poll(&mut fds, Some(&timeout));
}

/// Callbacks in flight per side (what an event loop would keep queued).
const WINDOW: usize = 256;

fn run_queued(mode: Mode) {
    let (mut tx, mut rx) = FdPasser::socketpair_with(&Options::new().mode(mode)).unwrap();
    let end = Instant::now() + RUN_LIMIT;
    let sender = std::thread::spawn(move || {
        let src = source();
        let mut pushed = 0;
        while pushed < FDS {
            assert!(Instant::now() < end, "queued sender over time");
            while pushed < FDS && tx.queued_sends() < WINDOW {
                tx.push_send(Outgoing::fd(dup(&src)), || {}).unwrap();
                pushed += 1;
            }
            // push_send already sent what the socket took; wait only when it is full.
            if tx.queued_sends() >= WINDOW {
                poll_one(&tx, PollFlags::OUT);
                tx.on_writable();
            }
        }
        while tx.queued_sends() > 0 {
            assert!(Instant::now() < end, "queued sender over time");
            poll_one(&tx, PollFlags::OUT);
            tx.on_writable();
        }
    });
    let received = Arc::new(AtomicUsize::new(0));
    let mut asked = 0;
    while received.load(Ordering::Relaxed) < FDS {
        assert!(Instant::now() < end, "queued receiver over time");
        while asked < FDS && rx.queued_recvs() < WINDOW {
            let received = Arc::clone(&received);
            rx.push_recv(move |msg| {
                drop(msg.expect("message"));
                received.fetch_add(1, Ordering::Relaxed);
            });
            asked += 1;
        }
        let before = received.load(Ordering::Relaxed);
        rx.on_readable();
        if received.load(Ordering::Relaxed) == before {
            poll_one(&rx, PollFlags::IN);
        }
    }
    sender.join().unwrap();
}

/// Runs every variant once per round, `RUNS` rounds interleaved (the machine is shared,
/// so load drifts between rounds, not within one), and returns the median fds/s and CPU
/// ns per descriptor of each.
/// A named way of passing `FDS` descriptors over a socket pair of the given mode.
type Variant = (&'static str, fn(Mode));

fn measure(variants: &[Variant], mode: Mode) -> Vec<(f64, f64)> {
    let mut rates = vec![Vec::new(); variants.len()];
    let mut cpus = vec![Vec::new(); variants.len()];
    for _ in 0..RUNS {
        for (i, (_, run)) in variants.iter().enumerate() {
            let cpu0 = process_cpu_time();
            let t0 = Instant::now();
            run(mode);
            let wall = t0.elapsed().as_secs_f64();
            let cpu = (process_cpu_time() - cpu0).as_secs_f64();
            rates[i].push(FDS as f64 / wall);
            cpus[i].push(cpu / FDS as f64 * 1e9);
        }
    }
    rates
        .iter_mut()
        .zip(cpus.iter_mut())
        .map(|(r, c)| (median(r), median(c)))
        .collect()
}

fn main() {
    let variants: [Variant; 4] = [
        ("raw sendmsg/recvmsg (libc, blocking)", run_raw),
        ("shoal blocking send_fd/recv_fd", run_blocking),
        (
            "shoal blocking, `reserve_fd(false)`",
            run_blocking_without_reserve,
        ),
        ("shoal queued push_send/push_recv + poll", run_queued),
    ];
    let mut rows = Vec::new();
    for (mode, name) in [(Mode::SeqPacket, "SEQPACKET"), (Mode::Stream, "STREAM")] {
        let results = measure(&variants, mode);
        let (raw_rate, raw_cpu) = results[0];
        for ((label, _), (rate, cpu)) in variants.iter().zip(&results) {
            eprintln!("{name} {label}: {rate:.0} fds/s, {cpu:.0} ns CPU/fd");
            rows.push(vec![
                name.to_owned(),
                (*label).to_owned(),
                format!("{:.0}k", rate / 1e3),
                format!("{cpu:.0}"),
                format!("{:.2}×", rate / raw_rate),
                format!("{:.2}×", raw_cpu / cpu),
            ]);
        }
    }
    println!("## fdpass_vs_raw: descriptors per second\n");
    println!(
        "One descriptor + one byte per message over a socket pair, sender and receiver \
         threads in one process, {FDS} descriptors per run, median of {RUNS} interleaved rounds (the 2-core machine is shared: read the CPU columns first). The \
         sender dups and closes each descriptor, the receiver closes it. CPU is both \
         threads' (process CPU time) per descriptor. Goal: shoal ≥ 0.8× raw. The reserve \
         descriptor (on by default; EMFILE protection) costs a `close` and an `fcntl(F_DUPFD)` \
         per received message, hence the row without it.\n"
    );
    print!(
        "{}",
        table(
            &[
                "socket",
                "implementation",
                "fds/s",
                "CPU ns/fd",
                "rate vs raw",
                "CPU efficiency vs raw",
            ],
            &rows
        )
    );
}
