//! A `shoal-statsd` daemon run as a real process for the end-to-end tests.
#![allow(dead_code, unreachable_pub)] // Each test file uses its own subset; `pub` for them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shoal_test_util::Reaped;
pub use shoal_test_util::TempDir;

/// How long any wait in these tests may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A running daemon: its first generation is our child (reaped by PID); later
/// generations (after a reload) are stopped with SIGTERM by [`Drop`].
pub struct Daemon {
    pub child: Reaped,
    pub udp: SocketAddr,
    pub admin: SocketAddr,
    pub out: PathBuf,
    _dir: TempDir,
}

impl Daemon {
    /// Starts the daemon on loopback port 0, flushing every `flush_ms` to a file.
    pub fn start(tag: &str, workers: usize, flush_ms: u64, extra: &[&str]) -> Daemon {
        let dir = TempDir::new(&format!("statsd-{tag}"));
        Daemon::start_in(
            dir,
            env!("CARGO_BIN_EXE_shoal-statsd").into(),
            workers,
            flush_ms,
            extra,
        )
    }

    /// As [`Daemon::start`], with the binary at `binary`, in `dir`.
    pub fn start_in(
        dir: TempDir,
        binary: PathBuf,
        workers: usize,
        flush_ms: u64,
        extra: &[&str],
    ) -> Daemon {
        let out = dir.join("flush.out");
        let mut child = Command::new(binary)
            .args(["--udp", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .args(["--workers", &workers.to_string()])
            .args(["--flush-interval", &flush_ms.to_string()])
            .args(["--flush", &format!("file:{}", out.display())])
            .args(extra)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shoal-statsd");
        let stderr = child.stderr.take().expect("stderr");
        let child = Reaped(child);
        let mut lines = BufReader::new(stderr).lines();
        let first = lines.next().expect("a stderr line").expect("read stderr");
        // Keep draining stderr so the daemon never blocks on it.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let word = |name: &str| -> SocketAddr {
            let mut words = first.split_whitespace();
            words.position(|w| w == name);
            words
                .next()
                .unwrap_or_else(|| panic!("no {name} in {first:?}"))
                .parse()
                .expect("an address")
        };
        Daemon {
            udp: word("udp"),
            admin: word("admin"),
            child,
            out,
            _dir: dir,
        }
    }

    /// Sends one datagram.
    pub fn send(&self, data: &[u8]) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
        socket.send_to(data, self.udp).expect("send");
    }

    /// Runs one admin command and returns its reply, up to and including `END\n\n`.
    pub fn admin(&self, command: &str) -> String {
        let mut stream = TcpStream::connect(self.admin).expect("connect admin");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        stream
            .write_all(format!("{command}\n").as_bytes())
            .expect("write admin");
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        while !reply.ends_with(b"END\n\n") {
            let n = stream.read(&mut buf).expect("read admin reply");
            assert!(
                n > 0,
                "admin closed after {:?}",
                String::from_utf8_lossy(&reply)
            );
            reply.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(reply).expect("utf-8 reply")
    }

    /// The value of `name: value` in the admin `stats` reply.
    pub fn stat(&self, name: &str) -> u64 {
        let stats = self.admin("stats");
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {stats}"))
            .parse()
            .expect("a number")
    }

    /// Every flushed line so far.
    pub fn flushed(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// The sum over all flushes of the series `name` (exact name, tags included).
    pub fn flushed_sum(&self, name: &str) -> f64 {
        self.flushed()
            .lines()
            .filter_map(|l| {
                let mut fields = l.split(' ');
                (fields.next() == Some(name)).then(|| fields.next())?
            })
            .map(|v| v.parse::<f64>().expect("a number"))
            .sum()
    }

    /// The last flushed value of the series `name`.
    pub fn flushed_last(&self, name: &str) -> Option<f64> {
        self.flushed().lines().rev().find_map(|l| {
            let mut fields = l.split(' ');
            (fields.next() == Some(name)).then(|| fields.next()?.parse().ok())?
        })
    }

    /// Waits until `condition` holds (failing after [`PATIENCE`]).
    pub fn wait_for(&self, what: &str, mut condition: impl FnMut(&Daemon) -> bool) {
        let end = Instant::now() + PATIENCE;
        while !condition(self) {
            assert!(
                Instant::now() < end,
                "gave up waiting for {what}; flushed:\n{}",
                self.flushed()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pid of the current generation's supervisor.
    pub fn supervisor_pid(&self) -> u32 {
        self.stat("supervisor.pid") as u32
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A later generation is not our child: stop it by PID and wait for it to go.
        let Ok(stats) = TcpStream::connect(self.admin).map(|_| self.admin("stats")) else {
            return;
        };
        let pid: Option<i32> = stats
            .lines()
            .find_map(|l| l.strip_prefix("supervisor.pid: "))
            .and_then(|p| p.parse().ok());
        if let Some(pid) = pid.filter(|p| *p as u32 != self.child.pid())
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let end = Instant::now() + PATIENCE;
            while rustix::process::test_kill_process(pid).is_ok() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Runs a Python program with the `statsd` package (a real statsd client).
pub fn python_statsd(daemon: &Daemon, program: &str) {
    let script = format!(
        "import statsd\nc = statsd.StatsClient('127.0.0.1', {})\n{program}\n",
        daemon.udp.port()
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("run python3");
    assert!(status.success(), "python statsd client failed");
}

/// Sends `data` with `nc -u` (a real client).
pub fn nc_udp(daemon: &Daemon, data: &[u8]) {
    let mut nc = Command::new("nc")
        .args([
            "-u",
            "-w1",
            "-q0",
            "127.0.0.1",
            &daemon.udp.port().to_string(),
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run nc");
    nc.stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("write to nc");
    let status = Reaped(nc).wait_for(PATIENCE).expect("wait nc");
    assert!(status.is_some_and(|s| s.success()), "nc failed");
}
