//! `shoal_mux::framing` against `tokio_util::codec` decoding the same bytes, and the
//! `line_echo` server on `shoal-mux` against the reactor's raw echo over loopback.
//!
//! Framing: the input is fed in 64 KiB pieces (what a socket read hands over), every
//! frame is taken out; MB/s of input and CPU ns per frame (this thread's CPU time), the
//! median of 5 runs. Echo: 50 connections, ping-pong with one 64-byte line in flight
//! per connection, for ~3 s per server; messages/s and the server thread's CPU µs per
//! message.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use shoal_bench::{median, table, thread_cpu_time};
use shoal_mux::framing::{Framer, LengthPrefix, Rule};
use tokio_util::codec::{Decoder, LengthDelimitedCodec, LinesCodec};

const INPUT_BYTES: usize = 32 << 20;
const PIECE: usize = 64 * 1024;
const RUNS: usize = 5;

/// A deterministic pseudo-random generator (xorshift), so every run sees the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

/// Lines of 8..120 printable bytes.
fn lines_input() -> (Vec<u8>, usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(INPUT_BYTES + 256);
    let mut frames = 0;
    while out.len() < INPUT_BYTES {
        let len = 8 + rng.below(112);
        out.extend((0..len).map(|i| b'a' + ((i + frames) % 26) as u8));
        out.push(b'\n');
        frames += 1;
    }
    (out, frames)
}

/// 4-byte big-endian length, then 16..512 bytes.
fn length_input() -> (Vec<u8>, usize) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut out = Vec::with_capacity(INPUT_BYTES + 1024);
    let mut frames = 0;
    while out.len() < INPUT_BYTES {
        let len = 16 + rng.below(496);
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend((0..len).map(|i| i as u8));
        frames += 1;
    }
    (out, frames)
}

/// Fixed 128-byte records.
fn fixed_input() -> (Vec<u8>, usize) {
    let frames = INPUT_BYTES / 128;
    ((0..frames * 128).map(|i| i as u8).collect(), frames)
}

/// HTTP requests with 0..300-byte bodies.
fn http_input() -> (Vec<u8>, usize) {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut out = Vec::with_capacity(INPUT_BYTES + 1024);
    let mut frames = 0;
    while out.len() < INPUT_BYTES {
        let body = rng.below(300);
        out.extend_from_slice(
            format!(
                "POST /metrics/{frames} HTTP/1.1\r\nHost: example\r\nUser-Agent: bench\r\n\
                 Content-Type: text/plain\r\nContent-Length: {body}\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend(std::iter::repeat_n(b'x', body));
        frames += 1;
    }
    (out, frames)
}

/// Runs `decode` over `input` RUNS times; returns (MB/s, ns CPU per frame) medians.
fn measure(input: &[u8], frames: usize, mut decode: impl FnMut(&[u8]) -> usize) -> (f64, f64) {
    let mut rates = Vec::new();
    let mut costs = Vec::new();
    for _ in 0..RUNS {
        let cpu = thread_cpu_time();
        let start = Instant::now();
        let got = decode(input);
        let wall = start.elapsed().as_secs_f64();
        let cpu = (thread_cpu_time() - cpu).as_secs_f64();
        assert_eq!(got, frames, "decoder found a different number of frames");
        rates.push(input.len() as f64 / wall / 1e6);
        costs.push(cpu * 1e9 / frames as f64);
    }
    (median(&mut rates), median(&mut costs))
}

fn shoal(rule: &Rule) -> impl FnMut(&[u8]) -> usize + '_ {
    move |input| {
        let mut framer = Framer::new(rule.clone());
        let mut frames = 0;
        for piece in input.chunks(PIECE) {
            framer.push(piece);
            while let Some(len) = framer.next_frame_with(<[u8]>::len).expect("valid input") {
                std::hint::black_box(len);
                frames += 1;
            }
        }
        frames
    }
}

fn tokio<D: Decoder>(mut make: impl FnMut() -> D) -> impl FnMut(&[u8]) -> usize
where
    D::Error: std::fmt::Debug,
{
    move |input| {
        let mut codec = make();
        let mut buf = BytesMut::new();
        let mut frames = 0;
        for piece in input.chunks(PIECE) {
            buf.extend_from_slice(piece);
            while let Some(frame) = codec.decode(&mut buf).expect("valid input") {
                std::hint::black_box(&frame);
                frames += 1;
            }
        }
        frames
    }
}

fn row(rule: &str, ours: (f64, f64), peer: Option<(&str, (f64, f64))>) -> Vec<String> {
    let (peer_name, peer_rate, peer_cost) = match peer {
        Some((name, (rate, cost))) => (name.to_owned(), format!("{rate:.0}"), format!("{cost:.0}")),
        None => ("—".to_owned(), "—".to_owned(), "—".to_owned()),
    };
    vec![
        rule.to_owned(),
        format!("{:.0}", ours.0),
        format!("{:.0}", ours.1),
        peer_name,
        peer_rate,
        peer_cost,
    ]
}

fn framing_table() -> String {
    let mut rows = Vec::new();
    let (input, frames) = lines_input();
    eprintln!("lines: {} frames", frames);
    let ours = measure(
        &input,
        frames,
        shoal(&Rule::delimiter(b"\n", 64 * 1024).unwrap()),
    );
    let peer = measure(
        &input,
        frames,
        tokio(|| LinesCodec::new_with_max_length(64 * 1024)),
    );
    rows.push(row(
        "delimiter `\\n`",
        ours,
        Some(("LinesCodec (max 64 KiB)", peer)),
    ));
    let ours = measure(
        &input,
        frames,
        shoal(&Rule::delimiter(b"\n", 64 * 1024).unwrap().strip_cr(true)),
    );
    rows.push(row("delimiter `\\n`, strip CR", ours, None));
    let regex = Rule::regex(r"(.*?)\n", 64 * 1024).unwrap();
    let ours = measure(&input, frames, shoal(&regex));
    rows.push(row("regex `(.*?)\\n`", ours, None));

    let (input, frames) = length_input();
    eprintln!("length: {} frames", frames);
    let rule = Rule::length_prefix(LengthPrefix::new(4, 8 << 20)).unwrap();
    let ours = measure(&input, frames, shoal(&rule));
    let peer = measure(&input, frames, tokio(LengthDelimitedCodec::new));
    rows.push(row(
        "length prefix (4 B, big endian)",
        ours,
        Some(("LengthDelimitedCodec", peer)),
    ));

    let (input, frames) = fixed_input();
    let ours = measure(&input, frames, shoal(&Rule::fixed(128).unwrap()));
    rows.push(row("fixed 128 B", ours, None));

    let (input, frames) = http_input();
    eprintln!("http: {} frames", frames);
    let ours = measure(&input, frames, shoal(&Rule::http(64 * 1024)));
    rows.push(row("HTTP/1.x, Content-Length", ours, None));

    table(
        &[
            "rule",
            "shoal MB/s",
            "shoal CPU ns/frame",
            "tokio-util peer",
            "peer MB/s",
            "peer CPU ns/frame",
        ],
        &rows,
    )
}

const CONNS: usize = 50;
const ECHO_SECS: u64 = 3;
const LINE: &[u8; 64] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";

/// Ping-pong over `CONNS` connections for `ECHO_SECS`; returns messages/s.
fn load(addr: SocketAddr) -> (usize, f64) {
    let mut conns: Vec<TcpStream> = (0..CONNS)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_nodelay(true).unwrap();
            s
        })
        .collect();
    let start = Instant::now();
    let mut msgs = 0;
    let mut buf = [0u8; 64];
    while start.elapsed() < Duration::from_secs(ECHO_SECS) && msgs < 50_000_000 {
        for c in &mut conns {
            c.write_all(LINE).unwrap();
        }
        for c in &mut conns {
            c.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, LINE);
        }
        msgs += CONNS;
    }
    (msgs, msgs as f64 / start.elapsed().as_secs_f64())
}

/// Runs `serve` on a thread (it reports its address, then serves until `stop`), drives
/// the load and returns (messages/s, server CPU µs per message).
fn echo_run(
    serve: impl FnOnce(std::sync::mpsc::Sender<SocketAddr>, Arc<AtomicBool>) -> Duration
    + Send
    + 'static,
) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || serve(tx, stop))
    };
    let addr = rx.recv().expect("server address");
    let (msgs, rate) = load(addr);
    stop.store(true, Ordering::Relaxed);
    // Wake the server so it sees the flag.
    drop(TcpStream::connect(addr));
    let cpu = server.join().expect("server thread");
    (rate, cpu.as_secs_f64() * 1e6 / msgs as f64)
}

fn mux_echo(tx: std::sync::mpsc::Sender<SocketAddr>, stop: Arc<AtomicBool>) -> Duration {
    use shoal_mux::{Event, Mux, Options};
    let mut mux: Mux = Mux::new().unwrap();
    let options = Options::default().framing(Rule::delimiter(b"\n", 64 * 1024).unwrap());
    let listener = mux.listen("tcp://127.0.0.1:0", options).unwrap();
    tx.send(SocketAddr::try_from(mux.local_addr(listener).unwrap()).unwrap())
        .unwrap();
    let cpu = thread_cpu_time();
    while !stop.load(Ordering::Relaxed) {
        match mux.next_event(Some(Duration::from_millis(100))).unwrap() {
            Event::Read {
                handle, mut data, ..
            } => {
                data.push(b'\n');
                let _ = mux.send(handle, &data);
            }
            Event::ReadLast { handle, data } => {
                let _ = mux.send(handle, &data);
            }
            _ => {}
        }
    }
    thread_cpu_time() - cpu
}

fn reactor_echo(tx: std::sync::mpsc::Sender<SocketAddr>, stop: Arc<AtomicBool>) -> Duration {
    use shoal_reactor::{Reactor, Read, Socket};
    let mut reactor = Reactor::new().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tx.send(listener.local_addr().unwrap()).unwrap();
    reactor
        .register_socket(listener, |sock: &mut Socket<'_>| {
            while let Ok(Some(fd)) = sock.accept() {
                let echo = |conn: &mut Socket<'_>| match conn.read(64 * 1024) {
                    Ok(Read::Data(bytes)) => {
                        let _ = conn.write_vec(bytes);
                    }
                    Ok(Read::WouldBlock) => {}
                    Ok(Read::Eof) | Err(_) => conn.close("peer done"),
                };
                let _ = sock.context().register_socket(fd, echo);
            }
        })
        .unwrap();
    let cpu = thread_cpu_time();
    while !stop.load(Ordering::Relaxed) {
        reactor.run_once(Some(Duration::from_millis(100))).unwrap();
    }
    thread_cpu_time() - cpu
}

fn main() {
    eprintln!("framing throughput ...");
    let framing = framing_table();
    eprintln!("echo: shoal-mux line_echo ...");
    let mux = echo_run(mux_echo);
    eprintln!("echo: shoal-reactor raw echo ...");
    let raw = echo_run(reactor_echo);
    let echo = table(
        &["server", "msgs/s", "server CPU µs/msg"],
        &[
            vec![
                "shoal-mux line echo (delimiter rule, next_event)".to_owned(),
                format!("{:.0}", mux.0),
                format!("{:.2}", mux.1),
            ],
            vec![
                "shoal-reactor raw echo (no framing, callbacks)".to_owned(),
                format!("{:.0}", raw.0),
                format!("{:.2}", raw.1),
            ],
        ],
    );
    println!(
        "## mux: framing vs tokio-util, line echo vs the reactor's raw echo\n\n\
         Framing: {} MiB of input fed in 64 KiB pieces, every frame taken out; median of \
         {RUNS} runs; CPU is this thread's. `LinesCodec` also validates UTF-8 and yields \
         `String`s; `shoal` frames are handed out as borrowed slices here \
         (`next_frame_with`), as `BytesMut::split_to` hands out views.\n\n{framing}\n\
         Echo: {CONNS} loopback connections, one 64-byte line in flight each, {ECHO_SECS} s \
         per server; the load generator runs in the same process and shares the 2 cores.\n\n\
         {echo}",
        INPUT_BYTES >> 20
    );
}
