//! TCP echo, 50 connections × 64-byte messages, ping-pong and 16 in flight: the reactor
//! (epoll and `polling` backends) against a minimal mio echo server under the same load.
//! The load generator is a mio client thread in this process; the server's CPU is its
//! own thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`). Prints a Markdown section.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use shoal_bench::{spawn_reactor_echo, table, thread_cpu_time};
use shoal_reactor::Backend;

const CONNS: usize = 50;
const MSG: usize = 64;
const RUN: Duration = Duration::from_secs(3);

/// Starts one of the servers under test.
type StartServer = fn() -> Server;

/// A running server: its address, a stop function, and its thread (returning CPU time).
struct Server {
    addr: SocketAddr,
    stop: Box<dyn Fn()>,
    thread: thread::JoinHandle<(Duration, usize)>,
}

fn reactor_server(backend: Backend) -> Server {
    let (addr, waker, thread) = spawn_reactor_echo(backend);
    Server {
        addr,
        stop: Box::new(move || waker.wake().expect("wake")),
        thread,
    }
}

fn mio_server() -> Server {
    let (tx, rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        let mut poll = Poll::new().expect("poll");
        let std_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let mut listener = mio::net::TcpListener::from_std(std_listener);
        const LISTENER: Token = Token(0);
        const WAKER: Token = Token(1);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .expect("register");
        let waker = mio::Waker::new(poll.registry(), WAKER).expect("waker");
        tx.send((addr, waker)).expect("send");
        let start = thread_cpu_time();
        let mut conns: Vec<Option<(TcpStream, Vec<u8>)>> = Vec::new();
        let mut events = Events::with_capacity(1024);
        let mut buf = [0u8; 16 * 1024];
        'outer: loop {
            poll.poll(&mut events, None).expect("poll");
            for event in &events {
                match event.token() {
                    WAKER => break 'outer,
                    LISTENER => {
                        while let Ok((mut stream, _)) = listener.accept() {
                            let token = Token(conns.len() + 2);
                            poll.registry()
                                .register(
                                    &mut stream,
                                    token,
                                    Interest::READABLE | Interest::WRITABLE,
                                )
                                .expect("register");
                            conns.push(Some((stream, Vec::new())));
                        }
                    }
                    Token(i) => {
                        let Some((stream, pending)) = conns[i - 2].as_mut() else {
                            continue;
                        };
                        let mut closed = false;
                        loop {
                            match stream.read(&mut buf) {
                                Ok(0) => {
                                    closed = true;
                                    break;
                                }
                                Ok(n) => pending.extend_from_slice(&buf[..n]),
                                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                                Err(_) => {
                                    closed = true;
                                    break;
                                }
                            }
                        }
                        while !pending.is_empty() {
                            match stream.write(pending) {
                                Ok(n) => {
                                    pending.drain(..n);
                                }
                                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                                Err(_) => {
                                    closed = true;
                                    break;
                                }
                            }
                        }
                        if closed {
                            conns[i - 2] = None;
                        }
                    }
                }
            }
        }
        (thread_cpu_time() - start, 0)
    });
    let (addr, waker) = rx.recv().expect("server start");
    Server {
        addr,
        stop: Box::new(move || waker.wake().expect("wake")),
        thread,
    }
}

/// Keeps `inflight` messages outstanding on each of `CONNS` connections for `RUN`;
/// returns the messages echoed back.
fn load(addr: SocketAddr, inflight: usize) -> u64 {
    let mut poll = Poll::new().expect("poll");
    let mut streams: Vec<(TcpStream, usize)> = (0..CONNS)
        .map(|i| {
            let std = std::net::TcpStream::connect(addr).expect("connect");
            std.set_nodelay(true).expect("nodelay");
            std.set_nonblocking(true).expect("nonblocking");
            let mut s = TcpStream::from_std(std);
            poll.registry()
                .register(&mut s, Token(i), Interest::READABLE)
                .expect("register");
            (s, 0)
        })
        .collect();
    let msg = [0x5au8; MSG];
    for (s, _) in &mut streams {
        for _ in 0..inflight {
            s.write_all(&msg).expect("write");
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 16 * 1024];
    let burst = vec![0x5au8; buf.len() + MSG];
    let mut done = 0u64;
    let end = Instant::now() + RUN;
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .expect("poll");
        for event in &events {
            let (s, partial) = &mut streams[event.token().0];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => panic!("server closed"),
                    Ok(n) => {
                        *partial += n;
                        let complete = *partial / MSG;
                        *partial %= MSG;
                        done += complete as u64;
                        // One write for every message completed by this read.
                        s.write_all(&burst[..complete * MSG]).expect("write");
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
        }
    }
    done
}

fn main() {
    let mut rows = Vec::new();
    for inflight in [1usize, 16] {
        let servers: [(&str, StartServer); 3] = [
            ("shoal-reactor (epoll)", || reactor_server(Backend::Epoll)),
            ("shoal-reactor (polling)", || {
                reactor_server(Backend::Polling)
            }),
            ("mio 1.x", mio_server),
        ];
        for (name, start) in servers {
            let server = start();
            let msgs = load(server.addr, inflight);
            // `stop` (and the waker it holds) lives until the join: a mio `Waker` dropped
            // right after `wake` closes its eventfd and the pending event is lost.
            (server.stop)();
            let (cpu, _) = server.thread.join().expect("server thread");
            drop(server.stop);
            let rate = msgs as f64 / RUN.as_secs_f64();
            let cpu_per_msg = cpu.as_secs_f64() * 1e6 / msgs.max(1) as f64;
            eprintln!("{name} inflight {inflight}: {rate:.0} msg/s, {cpu_per_msg:.2} µs CPU/msg");
            let mode = if inflight == 1 {
                "ping-pong".to_owned()
            } else {
                format!("{inflight} in flight")
            };
            rows.push(vec![
                mode,
                name.to_owned(),
                format!("{rate:.0}"),
                format!("{cpu_per_msg:.2}"),
            ]);
        }
    }
    println!("## reactor_vs_mio: TCP echo, {CONNS} connections × {MSG} B\n");
    println!(
        "Load generator: a mio client thread in the same process ({} s per row). Server CPU is the \
         server thread's `CLOCK_THREAD_CPUTIME_ID` over the run, divided by messages echoed.\n",
        RUN.as_secs()
    );
    print!(
        "{}",
        table(&["load", "server", "msg/s", "server CPU µs/msg"], &rows)
    );
}
