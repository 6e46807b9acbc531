//! `shoal-statsd` under load: a `sendmmsg` sender offers fixed rates of valid statsd
//! lines to the daemon (1 and 2 workers, 4 MiB receive buffer); we report the rate
//! received, the loss and the daemon's CPU time per packet (supervisor and workers,
//! from `/proc`). The sender shares the 2 cores with the daemon.
//!
//! The daemon binary is built (release) by this program with `cargo build` if needed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_bench::table;

/// Offered rates, packets per second.
const RATES: &[u64] = &[50_000, 100_000, 200_000, 300_000];
/// How long each rate is offered.
const SEND_FOR: Duration = Duration::from_secs(2);
/// Packets per `sendmmsg`.
const BATCH: usize = 32;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn daemon_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "-p", "shoal-statsd"])
        .current_dir(root())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building shoal-statsd failed");
    target.join("release/shoal-statsd")
}

struct Daemon {
    child: Child,
    udp: SocketAddr,
    admin: SocketAddr,
}

impl Daemon {
    fn start(binary: &PathBuf, workers: usize) -> Daemon {
        let out = std::env::temp_dir().join(format!("statsd-bench-{}.out", std::process::id()));
        let mut child = Command::new(binary)
            .args(["--udp", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .args([
                "--workers",
                &workers.to_string(),
                "--flush-interval",
                "1000",
            ])
            .args([
                "--rcvbuf",
                "4194304",
                "--flush",
                &format!("file:{}", out.display()),
            ])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shoal-statsd");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .expect("read the bound line");
        let word = |name: &str| -> SocketAddr {
            let mut words = line.split_whitespace();
            words.position(|w| w == name);
            words.next().expect("address").parse().expect("address")
        };
        Daemon {
            udp: word("udp"),
            admin: word("admin"),
            child,
        }
    }

    fn stat(&self, name: &str) -> u64 {
        let mut stream = TcpStream::connect(self.admin).expect("admin");
        stream.write_all(b"stats\n").unwrap();
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        while !reply.ends_with(b"END\n\n") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0);
            reply.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&reply)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// CPU seconds used by the supervisor and its (current) workers.
    fn cpu(&self) -> f64 {
        let pid = self.child.id();
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let ticks = 100.0; // USER_HZ
        std::iter::once(pid.to_string())
            .chain(children.split_whitespace().map(str::to_owned))
            .map(|p| {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
                let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                let fields: Vec<&str> = after.split_whitespace().collect();
                let utime: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
                let stime: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
                (utime + stime) / ticks
            })
            .sum()
    }

    /// Waits until the received count stops growing.
    fn settled_received(&self) -> u64 {
        let mut last = self.stat("messages.packets_received");
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = self.stat("messages.packets_received");
            if now == last || Instant::now() > end {
                return now;
            }
            last = now;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Sends at `rate` packets/s for [`SEND_FOR`] with `sendmmsg`; returns packets sent.
fn offer(to: SocketAddr, rate: u64) -> u64 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(to).expect("connect");
    let payloads: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| {
            format!(
                "bench.requests:1|c\nbench.latency:{}|ms|@0.1\nbench.users:u{i}|s",
                i % 50
            )
            .into_bytes()
        })
        .collect();
    let mut iovs: Vec<libc::iovec> = payloads
        .iter()
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut _,
            iov_len: p.len(),
        })
        .collect();
    // SAFETY: zeroed mmsghdr is a valid "no name, no control" header; the iovec pointers
    // set below stay valid (iovs and payloads outlive every sendmmsg call).
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
    for (msg, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
        msg.msg_hdr.msg_iov = iov;
        msg.msg_hdr.msg_iovlen = 1;
    }
    let start = Instant::now();
    let mut sent: u64 = 0;
    while start.elapsed() < SEND_FOR {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        if sent >= due {
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        let n = ((due - sent) as usize).min(BATCH);
        // SAFETY: msgs holds n valid headers pointing at live buffers; the socket is open.
        let r = unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), n as u32, 0) };
        if r > 0 {
            sent += r as u64;
        }
    }
    sent
}

fn main() {
    let binary = daemon_binary();
    let mut rows = Vec::new();
    let mut best = Vec::new();
    for workers in [1usize, 2] {
        let daemon = Daemon::start(&binary, workers);
        let mut sustained = 0;
        for &rate in RATES {
            let before = daemon.settled_received();
            let cpu_before = daemon.cpu();
            let sent = offer(daemon.udp, rate);
            let received = daemon.settled_received() - before;
            let cpu = daemon.cpu() - cpu_before;
            let loss = 100.0 * (sent.saturating_sub(received)) as f64 / sent.max(1) as f64;
            if loss < 0.1 {
                sustained = sustained.max(received / SEND_FOR.as_secs());
            }
            eprintln!(
                "workers {workers} rate {rate}: sent {sent} received {received} loss {loss:.3}% cpu {cpu:.2}s"
            );
            rows.push(vec![
                workers.to_string(),
                rate.to_string(),
                format!("{:.0}", sent as f64 / SEND_FOR.as_secs_f64()),
                format!("{:.0}", received as f64 / SEND_FOR.as_secs_f64()),
                format!("{loss:.3}"),
                format!("{:.2}", cpu * 1e6 / received.max(1) as f64),
            ]);
        }
        best.push((workers, sustained));
    }
    println!("## statsd_load: shoal-statsd under a fixed-rate sendmmsg sender\n");
    println!(
        "Each datagram carries 3 statsd lines (a counter, a sampled timer, a set). 4 MiB receive \
         buffer, flush every second to a file; CPU is the daemon's (supervisor + workers, \
         from /proc), the sender shares the 2 cores. Offered for {} s per rate.\n",
        SEND_FOR.as_secs()
    );
    print!(
        "{}",
        table(
            &[
                "workers",
                "offered pps",
                "sent pps",
                "received pps",
                "loss %",
                "daemon CPU µs/packet"
            ],
            &rows
        )
    );
    println!();
    for (workers, pps) in best {
        println!("- {workers} worker(s): highest rate sustained with loss < 0.1%: {pps} packets/s");
    }
}
