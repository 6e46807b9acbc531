//! `UdpPump` against a plain blocking `recvfrom` loop and a `recvmmsg` loop (libc): CPU
//! per packet and loss at fixed offered rates, 64-byte datagrams, 4 MB receive buffer.
//!
//! A sender thread paces `sendmmsg` batches to the rate; the receiver's CPU is the
//! process's CPU time less the sender thread's own. Prints a Markdown section on stdout.
#![allow(unsafe_code)] // libc recvfrom/recvmmsg/sendmmsg: the peers and the load generator.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::event::epoll;
use shoal_bench::{median, process_cpu_time, table, thread_cpu_time};
use shoal_udp_pump::{
    PumpBuilder, ReadinessFd, UdpPump, bind_udp, kernel_drops, local_addr, socket_inode,
};

const PAYLOAD: usize = 64;
const RCVBUF: usize = 4 << 20;
const SECONDS: f64 = 1.5;
/// Runs per configuration (the median CPU is reported, and every run's loss).
const RUNS: usize = 3;
const SEND_BATCH: usize = 32;
/// How long a receiver waits for stragglers once the sender is done.
const IDLE: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, PartialEq)]
enum Receiver {
    PlainRecvfrom,
    Recvmmsg,
    PumpRecv,
    PumpEpoll,
    PumpRecvLinger,
    PumpEpollLinger,
}

impl Receiver {
    fn name(self) -> &'static str {
        match self {
            Receiver::PlainRecvfrom => "plain `recvfrom` loop (libc)",
            Receiver::Recvmmsg => "`recvmmsg` loop, 64 per call (libc)",
            Receiver::PumpRecv => "`UdpPump`, owner blocks in `recv`",
            Receiver::PumpEpoll => "`UdpPump` + `ReadinessFd`, owner in `epoll_wait` + `drain`",
            Receiver::PumpRecvLinger => "`UdpPump`, `linger(2 ms)`, `batch(256)`, owner in `recv`",
            Receiver::PumpEpollLinger => {
                "`UdpPump`, `linger(2 ms)`, `batch(256)`, `ReadinessFd` + `epoll_wait` + `drain`"
            }
        }
    }
}

struct Outcome {
    offered_pps: f64,
    sent: u64,
    received: u64,
    kernel_drops: u64,
    cpu_per_packet: Duration,
}

/// Sends `count` datagrams at `rate` per second with `sendmmsg`; returns the sender
/// thread's CPU time and the rate achieved.
fn send_paced(to: SocketAddr, rate: f64, count: u64) -> (Duration, f64) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(to).unwrap();
    let cpu0 = thread_cpu_time();
    let payload = [0x5Au8; PAYLOAD];
    let mut iovs: Vec<libc::iovec> = (0..SEND_BATCH)
        .map(|_| libc::iovec {
            iov_base: payload.as_ptr() as *mut _,
            iov_len: PAYLOAD,
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: an all-zero mmsghdr is valid (no name, no control data).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < count {
        let due = start + Duration::from_secs_f64(sent as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let n = SEND_BATCH.min((count - sent) as usize);
        // SAFETY: `msgs[..n]` point at live iovecs over `payload`.
        let rc = unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), n as u32, 0) };
        if rc > 0 {
            sent += rc as u64;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    (thread_cpu_time() - cpu0, count as f64 / elapsed)
}

fn set_rcvtimeo(fd: &OwnedFd) {
    rustix::net::sockopt::set_socket_timeout(
        fd,
        rustix::net::sockopt::Timeout::Recv,
        Some(Duration::from_millis(20)),
    )
    .unwrap();
}

/// A plain blocking loop: one `recvfrom` per datagram.
fn plain(fd: &OwnedFd, sent: u64, done: &AtomicBool) -> u64 {
    set_rcvtimeo(fd);
    let mut buf = [0u8; 65536];
    let mut received = 0;
    let mut idle_since: Option<Instant> = None;
    while received < sent {
        let mut from: libc::sockaddr_storage =
            // SAFETY: plain old data.
            unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of_val(&from) as libc::socklen_t;
        // SAFETY: buffers and lengths are valid for the call.
        let rc = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&raw mut from).cast(),
                &mut len,
            )
        };
        if rc >= 0 {
            received += 1;
            idle_since = None;
        } else if idle(done, &mut idle_since) {
            break;
        }
    }
    received
}

/// `recvmmsg` with `MSG_WAITFORONE`: up to 64 datagrams per call.
fn mmsg(fd: &OwnedFd, sent: u64, done: &AtomicBool) -> u64 {
    const N: usize = 64;
    set_rcvtimeo(fd);
    let mut bufs = vec![[0u8; 2048]; N];
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: plain old data.
    let mut names: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; N];
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(names.iter_mut())
        .map(|(iov, name)| {
            // SAFETY: an all-zero mmsghdr is valid.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            m
        })
        .collect();
    let mut received = 0;
    let mut idle_since = None;
    while received < sent {
        for m in &mut msgs {
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let rc = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                N as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if rc > 0 {
            received += rc as u64;
            idle_since = None;
        } else if idle(done, &mut idle_since) {
            break;
        }
    }
    received
}

/// Whether the receiver should give up: the sender is done and nothing came for `IDLE`.
fn idle(done: &AtomicBool, since: &mut Option<Instant>) -> bool {
    if !done.load(Ordering::Acquire) {
        return false;
    }
    let since = since.get_or_insert_with(Instant::now);
    since.elapsed() >= IDLE
}

/// `UdpPump` built by `builder`, its owner blocking in `recv_timeout`.
fn pump_recv(builder: PumpBuilder, fd: OwnedFd, sent: u64, done: &AtomicBool) -> u64 {
    let pump = builder.spawn(fd, ()).unwrap();
    let mut idle_since = None;
    let mut delivered = 0;
    while delivered < sent {
        match pump.recv_timeout(Duration::from_millis(20)) {
            Ok(packet) => {
                std::hint::black_box(packet.unwrap().data());
                delivered += 1;
                idle_since = None;
            }
            Err(_) if idle(done, &mut idle_since) => break,
            Err(_) => {}
        }
    }
    pump.counters().received
}

/// `UdpPump` with a `ReadinessFd` in an epoll loop, built by `builder`.
fn pump_epoll(builder: PumpBuilder, fd: OwnedFd, sent: u64, done: &AtomicBool) -> u64 {
    let wake = ReadinessFd::new().unwrap();
    let pump = builder.spawn(fd, wake.clone()).unwrap();
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    epoll::add(
        &ep,
        &wake,
        epoll::EventData::new_u64(1),
        epoll::EventFlags::IN,
    )
    .unwrap();
    let mut events: Vec<epoll::Event> = Vec::with_capacity(8);
    let timeout = rustix::event::Timespec::try_from(Duration::from_millis(20)).unwrap();
    let mut idle_since = None;
    let mut delivered = 0;
    while delivered < sent {
        events.clear();
        let spare = rustix::buffer::spare_capacity(&mut events);
        epoll::wait(&ep, spare, Some(&timeout)).unwrap();
        if events.is_empty() {
            if idle(done, &mut idle_since) {
                break;
            }
            continue;
        }
        idle_since = None;
        for packet in pump.drain() {
            std::hint::black_box(packet.unwrap().data());
            delivered += 1;
        }
    }
    pump.counters().received
}

/// The lingering configuration measured: batches held 2 ms, up to 256 packets.
fn lingering() -> PumpBuilder {
    UdpPump::builder()
        .linger(Duration::from_millis(2))
        .batch(256)
}

fn run(receiver: Receiver, rate: f64) -> Outcome {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    shoal_udp_pump::request_recv_buffer_size(&socket, RCVBUF).unwrap();
    let addr = local_addr(&socket).unwrap();
    let inode = socket_inode(&socket).unwrap();
    let sent = (rate * SECONDS) as u64;
    let done = AtomicBool::new(false);
    let cpu0 = process_cpu_time();
    let (received, (sender_cpu, offered_pps)) = std::thread::scope(|scope| {
        let receiving = scope.spawn(|| match receiver {
            Receiver::PlainRecvfrom => plain(&socket, sent, &done),
            Receiver::Recvmmsg => mmsg(&socket, sent, &done),
            Receiver::PumpRecv => {
                pump_recv(UdpPump::builder(), socket.try_clone().unwrap(), sent, &done)
            }
            Receiver::PumpRecvLinger => {
                pump_recv(lingering(), socket.try_clone().unwrap(), sent, &done)
            }
            Receiver::PumpEpoll => {
                pump_epoll(UdpPump::builder(), socket.try_clone().unwrap(), sent, &done)
            }
            Receiver::PumpEpollLinger => {
                pump_epoll(lingering(), socket.try_clone().unwrap(), sent, &done)
            }
        });
        // Let the receiver block in its first receive before traffic starts.
        std::thread::sleep(Duration::from_millis(50));
        let sending = send_paced(addr, rate, sent);
        done.store(true, Ordering::Release);
        (receiving.join().unwrap(), sending)
    });
    let receiver_cpu = process_cpu_time() - cpu0 - sender_cpu;
    Outcome {
        offered_pps,
        sent,
        received,
        kernel_drops: kernel_drops(inode).unwrap().unwrap_or(0),
        cpu_per_packet: receiver_cpu / received.max(1) as u32,
    }
}

fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split(' ').next().unwrap_or("?").to_owned();
    let receivers = [
        Receiver::PlainRecvfrom,
        Receiver::Recvmmsg,
        Receiver::PumpRecv,
        Receiver::PumpEpoll,
        Receiver::PumpRecvLinger,
        Receiver::PumpEpollLinger,
    ];
    let mut rows = Vec::new();
    for rate in [50_000.0, 150_000.0] {
        let mut plain_cpu = None;
        for receiver in receivers {
            let mut cpu_ns = Vec::with_capacity(RUNS);
            let mut lost = Vec::with_capacity(RUNS);
            let mut offered = Vec::with_capacity(RUNS);
            for _ in 0..RUNS {
                let o = run(receiver, rate);
                eprintln!(
                    "{:>7} pps {:<60} received {}/{} kernel drops {} cpu/packet {:?}",
                    rate,
                    receiver.name(),
                    o.received,
                    o.sent,
                    o.kernel_drops,
                    o.cpu_per_packet
                );
                cpu_ns.push(o.cpu_per_packet.as_nanos() as f64);
                lost.push(100.0 * (o.sent - o.received) as f64 / o.sent as f64);
                offered.push(o.offered_pps);
            }
            let cpu = median(&mut cpu_ns);
            let base = *plain_cpu.get_or_insert(cpu);
            lost.sort_by(f64::total_cmp);
            rows.push(vec![
                format!("{}k", rate as u64 / 1000),
                receiver.name().to_owned(),
                format!("{:.0}k", median(&mut offered) / 1000.0),
                lost.iter()
                    .map(|l| format!("{l:.2}%"))
                    .collect::<Vec<_>>()
                    .join(" "),
                format!("{:.2}", cpu / 1000.0),
                format!("{:.2}×", cpu / base),
            ]);
        }
    }
    println!("## udp-pump: `UdpPump` vs `recvfrom` and `recvmmsg` loops\n");
    println!(
        "64-byte datagrams over loopback, 4 MB receive buffer, {SECONDS} s per run; the \
         sender (`sendmmsg`, {SEND_BATCH} per call, paced) is a thread of the same process \
         and its own CPU time is subtracted. CPU per packet is the receiving side's: for \
         the pump, its receive thread plus the owner's thread. {RUNS} runs each. Lost = \
         (sent − received) / sent; all of it shows up in the socket's kernel drops, and \
         on a loaded machine it measures scheduling stalls more than the receiver. \
         Load average when this run started: {load}.\n"
    );
    println!(
        "{}",
        table(
            &[
                "rate",
                "receiver",
                "offered",
                "lost, each run",
                "CPU µs/packet (median)",
                "vs plain"
            ],
            &rows
        )
    );
}
