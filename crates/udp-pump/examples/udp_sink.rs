//! A UDP sink: binds, forks `--workers` processes that each run a `UdpPump` on the one
//! shared socket (the seed's model), counts what arrives, and once traffic has started and
//! then stopped for `--idle-exit` seconds (or after `--max-secs` in any case) prints the
//! totals of all workers as one JSON line and exits 0.
//!
//! ```text
//! cargo run --release -p shoal-udp-pump --example udp_sink -- \
//!     --addr 127.0.0.1:0 [--rcvbuf BYTES] [--idle-exit SECS] [--max-secs SECS] [--workers N]
//! ```
//!
//! stdout: `listening on ADDR` (flushed at once), then the JSON line. Logs go to stderr.
//! The counts are integers: `received` (datagrams read from the socket), `delivered`,
//! `dropped`, `truncated`, `errors`, `kernel_drops` (of the shared socket), `in_flight`
//! (always 0: each worker stops its pump and drains the queue before it reports), and
//! `workers`.
#![allow(unsafe_code)] // fork, waitpid: rustix has no fork; examples may use libc.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use shoal_udp_pump::{
    Sharing, UdpPump, bind_shared, kernel_drops, local_addr, request_recv_buffer_size, socket_inode,
};

struct Options {
    addr: SocketAddr,
    rcvbuf: Option<usize>,
    idle_exit: Duration,
    max_secs: Duration,
    workers: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        addr: "127.0.0.1:0".parse().unwrap(),
        rcvbuf: None,
        idle_exit: Duration::from_secs(1),
        max_secs: Duration::from_secs(60),
        workers: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => options.addr = value.parse().map_err(|e| bad(&e))?,
            "--rcvbuf" => options.rcvbuf = Some(value.parse().map_err(|e| bad(&e))?),
            "--idle-exit" => {
                options.idle_exit = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?)
            }
            "--max-secs" => {
                options.max_secs = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?)
            }
            "--workers" => options.workers = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if options.workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    Ok(options)
}

/// The counters every worker reports, in JSON order.
const FIELDS: [&str; 5] = ["received", "delivered", "dropped", "truncated", "errors"];

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("udp_sink: {err}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("udp_sink: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> std::io::Result<()> {
    let socket = bind_shared(options.addr)?;
    if let Some(bytes) = options.rcvbuf {
        let granted = request_recv_buffer_size(&socket, bytes)?;
        eprintln!("udp_sink: receive buffer {bytes} requested, {granted} granted");
    }
    let inode = socket_inode(&socket)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", local_addr(&socket)?)?;
    stdout.flush()?;

    // Single-threaded until here: forking is safe. Pumps start in the children.
    let sharing = if options.workers == 1 {
        Sharing::Exclusive
    } else {
        Sharing::SHARED
    };
    let mut workers: Vec<Worker> = Vec::with_capacity(options.workers);
    for _ in 0..options.workers {
        let worker = Worker::fork(&socket, sharing, &workers)?;
        workers.push(worker);
    }

    let start = Instant::now();
    let mut last_total = 0;
    let mut last_change = start;
    loop {
        let now = Instant::now();
        let total: u64 = workers.iter_mut().map(|w| w.poll_received()).sum();
        if total != last_total {
            (last_total, last_change) = (total, now);
        }
        let idle = total > 0 && now - last_change >= options.idle_exit;
        if idle || now - start >= options.max_secs {
            break;
        }
    }

    let mut sums = [0u64; FIELDS.len()];
    for worker in &mut workers {
        for (sum, value) in sums.iter_mut().zip(worker.finish()?) {
            *sum += value;
        }
    }
    let mut json: Vec<String> = FIELDS
        .iter()
        .zip(sums)
        .map(|(name, value)| format!("\"{name}\":{value}"))
        .collect();
    let [received, delivered, dropped, ..] = sums;
    json.push(format!("\"in_flight\":{}", received - delivered - dropped));
    json.push(format!(
        "\"kernel_drops\":{}",
        kernel_drops(inode)?.unwrap_or(0)
    ));
    json.push(format!("\"workers\":{}", options.workers));
    writeln!(stdout, "{{{}}}", json.join(","))?;
    stdout.flush()
}

/// A worker process seen from the parent: its control pipe (closed to stop it) and its
/// report pipe (`received N` lines while it runs, then `done` with its counters).
struct Worker {
    pid: libc::pid_t,
    control: Option<OwnedFd>,
    reports: std::fs::File,
    pending: String,
    received: u64,
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded: both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Worker {
    fn fork(socket: &OwnedFd, sharing: Sharing, earlier: &[Worker]) -> std::io::Result<Self> {
        let (control_rx, control_tx) = pipe()?;
        let (reports_rx, reports_tx) = pipe()?;
        // SAFETY: the process is single-threaded (no pump runs in the parent).
        match unsafe { libc::fork() } {
            -1 => Err(std::io::Error::last_os_error()),
            0 => {
                drop((control_tx, reports_rx));
                for sibling in earlier {
                    let control = sibling.control.as_ref().map(AsRawFd::as_raw_fd);
                    let fds = control.into_iter().chain([sibling.reports.as_raw_fd()]);
                    for fd in fds {
                        // SAFETY: the child leaves through `_exit`: the parent's owners
                        // of these descriptors never close them a second time here.
                        unsafe { libc::close(fd) };
                    }
                }
                let code = match work(socket, sharing, control_rx, reports_tx) {
                    Ok(()) => 0,
                    Err(err) => {
                        eprintln!("udp_sink worker {}: {err}", std::process::id());
                        1
                    }
                };
                // SAFETY: ends the child without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            pid => Ok(Worker {
                pid,
                control: Some(control_tx),
                reports: std::fs::File::from(reports_rx),
                pending: String::new(),
                received: 0,
            }),
        }
    }

    /// Reads the reports available within 20 ms; returns the latest `received`.
    fn poll_received(&mut self) -> u64 {
        for line in self.read_lines(Duration::from_millis(20)) {
            if let Some(n) = line.strip_prefix("received ") {
                self.received = n.parse().unwrap_or(self.received);
            }
        }
        self.received
    }

    fn read_lines(&mut self, limit: Duration) -> Vec<String> {
        let mut fds = [PollFd::new(&self.reports, PollFlags::IN)];
        let timeout = Timespec::try_from(limit).unwrap_or_default();
        if poll(&mut fds, Some(&timeout)).unwrap_or(0) > 0 {
            let mut buf = [0u8; 4096];
            if let Ok(n) = self.reports.read(&mut buf) {
                self.pending.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
        let mut lines = Vec::new();
        while let Some(end) = self.pending.find('\n') {
            lines.push(self.pending[..end].to_owned());
            self.pending.drain(..=end);
        }
        lines
    }

    /// Stops the worker, reads its final counters and reaps it.
    fn finish(&mut self) -> std::io::Result<Vec<u64>> {
        self.control = None;
        let end = Instant::now() + Duration::from_secs(10);
        let counters = loop {
            let lines = self.read_lines(Duration::from_millis(100));
            if let Some(done) = lines.iter().find_map(|l| l.strip_prefix("done ")) {
                break done.split(' ').filter_map(|n| n.parse().ok()).collect();
            }
            if Instant::now() >= end {
                return Err(std::io::Error::other(format!(
                    "worker {} sent no final report",
                    self.pid
                )));
            }
        };
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer and the pid is our child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
        Ok(counters)
    }
}

/// The worker process: a pump on the shared socket, counting until told to stop.
fn work(
    socket: &OwnedFd,
    sharing: Sharing,
    control: OwnedFd,
    reports: OwnedFd,
) -> std::io::Result<()> {
    let mut out = std::fs::File::from(reports);
    let pump = UdpPump::builder()
        .sharing(sharing)
        .spawn(socket.try_clone()?, ())?;
    let mut reported = 0;
    loop {
        // Packets are only counted here; a real server would parse them.
        let got = pump.recv_timeout(Duration::from_millis(50)).is_ok();
        let received = pump.counters().received;
        if received != reported && (!got || received - reported >= 1000) {
            writeln!(out, "received {received}")?;
            reported = received;
        }
        if !got {
            let mut fds = [PollFd::new(&control, PollFlags::IN)];
            if poll(&mut fds, Some(&Timespec::default()))? > 0 {
                break;
            }
        }
    }
    pump.stop()?;
    pump.drain().for_each(drop);
    let c = pump.counters();
    let values = [c.received, c.delivered, c.dropped, c.truncated, c.errors];
    let values: Vec<String> = values.iter().map(u64::to_string).collect();
    writeln!(out, "done {}", values.join(" "))
}
