//! Forked worker processes that each run a pump, for the `harness = false` fork tests
//! (their `main` is single-threaded when it forks).
//!
//! Each worker reports on its own pipe: `ready` once its pump runs, `received N` each
//! time it goes idle, and at the end `done RECEIVED DELIVERED DROPPED SEQ,SEQ,…`. The
//! parent closes the worker's control pipe to ask it to stop.
#![allow(unsafe_code)] // fork, pipe2, waitpid, kill: what rustix lacks, test-only libc.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use shoal_udp_pump::{Sharing, UdpPump};

use super::{PATIENCE, seq_of};

/// What a worker reported at the end.
#[derive(Debug, Default)]
pub struct Report {
    pub received: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub seqs: Vec<u64>,
}

/// A forked worker, seen from the parent.
pub struct Worker {
    pid: libc::pid_t,
    control: Option<OwnedFd>,
    results: OwnedFd,
    pending: String,
    /// The latest `received` it reported.
    pub received: u64,
    reaped: bool,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded: both descriptors are open and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Forks a worker that runs a pump on `socket` (the parent's copy stays open in the
/// parent); the child closes `drop_in_child` and the pipes of the `earlier` workers (a
/// control pipe still open in a sibling would never signal its end). Call only while
/// the process is single-threaded.
fn fork_worker(
    socket: &OwnedFd,
    sharing: Sharing,
    drop_in_child: &[&OwnedFd],
    earlier: &[Worker],
) -> Worker {
    let (control_rx, control_tx) = pipe();
    let (results_rx, results_tx) = pipe();
    // SAFETY: the fork tests call this from their single-threaded `main`, so the child
    // inherits no lock held by another thread.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            drop((control_tx, results_rx));
            let siblings = earlier
                .iter()
                .flat_map(|w| w.control.iter().chain([&w.results]));
            for other in drop_in_child.iter().copied().chain(siblings) {
                // SAFETY: the child exits through `_exit`, so the parent's `OwnedFd`
                // copies in this address space are never closed a second time.
                unsafe { libc::close(other.as_raw_fd()) };
            }
            let code = match run_worker(socket, sharing, control_rx, results_tx) {
                Ok(()) => 0,
                Err(err) => {
                    eprintln!("worker {}: {err}", std::process::id());
                    1
                }
            };
            // SAFETY: leaves the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        pid => {
            drop((control_rx, results_tx));
            Worker {
                pid,
                control: Some(control_tx),
                results: results_rx,
                pending: String::new(),
                received: 0,
                reaped: false,
            }
        }
    }
}

fn run_worker(
    socket: &OwnedFd,
    sharing: Sharing,
    control: OwnedFd,
    results: OwnedFd,
) -> std::io::Result<()> {
    let mut out = std::fs::File::from(results);
    let pump = UdpPump::builder()
        .sharing(sharing)
        .spawn(socket.try_clone()?, ())?;
    out.write_all(b"ready\n")?;
    let mut seqs = Vec::new();
    let mut reported = u64::MAX;
    loop {
        match pump.recv_timeout(Duration::from_millis(20)) {
            Ok(item) => seqs.push(seq_of(item?.data())),
            Err(_) => {
                let received = pump.counters().received;
                if received != reported {
                    writeln!(out, "received {received}")?;
                    reported = received;
                }
                let mut fds = [PollFd::new(&control, PollFlags::IN)];
                if poll(&mut fds, Some(&Timespec::default()))? > 0 {
                    break;
                }
            }
        }
    }
    pump.stop()?;
    while let Some(item) = pump.try_recv() {
        seqs.push(seq_of(item?.data()));
    }
    let c = pump.counters();
    let list: Vec<String> = seqs.iter().map(u64::to_string).collect();
    writeln!(
        out,
        "done {} {} {} {}",
        c.received,
        c.delivered,
        c.dropped,
        list.join(",")
    )?;
    Ok(())
}

impl Worker {
    fn wait_readable(&self, limit: Duration) -> bool {
        let mut fds = [PollFd::new(&self.results, PollFlags::IN)];
        let timeout = Timespec::try_from(limit).unwrap();
        poll(&mut fds, Some(&timeout)).unwrap() > 0
    }

    /// Reads what is available (waiting up to `limit`), returning complete lines.
    fn read_lines(&mut self, limit: Duration) -> (Vec<String>, bool) {
        let mut eof = false;
        if self.wait_readable(limit) {
            let mut buf = [0u8; 65536];
            let n = std::fs::File::from(self.results.try_clone().unwrap())
                .read(&mut buf)
                .unwrap();
            eof = n == 0;
            self.pending
                .push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        let mut lines = Vec::new();
        while let Some(end) = self.pending.find('\n') {
            lines.push(self.pending[..end].to_owned());
            self.pending.drain(..=end);
        }
        (lines, eof)
    }

    /// Waits for `ready`.
    pub fn await_ready(&mut self) {
        let end = Instant::now() + PATIENCE;
        while Instant::now() < end {
            let (lines, eof) = self.read_lines(Duration::from_millis(100));
            assert!(!eof, "worker {} died before it was ready", self.pid);
            if lines.iter().any(|l| l == "ready") {
                return;
            }
        }
        panic!("worker {} not ready after {PATIENCE:?}", self.pid);
    }

    /// Takes in `received N` reports without waiting long.
    pub fn poll_received(&mut self) {
        let (lines, _) = self.read_lines(Duration::from_millis(5));
        for line in lines {
            if let Some(n) = line.strip_prefix("received ") {
                self.received = n.parse().unwrap();
            }
        }
    }

    /// Asks the worker to stop and returns its final report; reaps it.
    pub fn finish(&mut self) -> Report {
        self.control = None;
        let end = Instant::now() + PATIENCE;
        let report = loop {
            assert!(Instant::now() < end, "worker {} did not report", self.pid);
            let (lines, eof) = self.read_lines(Duration::from_millis(100));
            if let Some(done) = lines.iter().find_map(|l| l.strip_prefix("done ")) {
                break parse_done(done);
            }
            assert!(!eof, "worker {} exited without a report", self.pid);
        };
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; the pid is our child.
        let rc = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        self.reaped = true;
        assert_eq!(rc, self.pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "worker {} status {status:#x}",
            self.pid
        );
        report
    }
}

fn parse_done(line: &str) -> Report {
    let mut parts = line.splitn(4, ' ');
    let mut next = || parts.next().unwrap_or("");
    Report {
        received: next().parse().unwrap(),
        delivered: next().parse().unwrap(),
        dropped: next().parse().unwrap(),
        seqs: next()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect(),
    }
}

impl Drop for Worker {
    /// A failing test never leaves a worker running: killed and reaped by PID.
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: the pid is our own unreaped child, so it names no other process.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// Waits (bounded) until the workers' reported receives plus the kernel drops of
/// `inodes` reach `sent`; returns the kernel drops.
pub fn await_all_accounted(workers: &mut [Worker], inodes: &[u64], sent: u64) -> u64 {
    let end = Instant::now() + PATIENCE;
    loop {
        for w in workers.iter_mut() {
            w.poll_received();
        }
        let received: u64 = workers.iter().map(|w| w.received).sum();
        let kernel: u64 = inodes
            .iter()
            .map(|&i| shoal_udp_pump::kernel_drops(i).unwrap().unwrap())
            .sum();
        if received + kernel == sent {
            return kernel;
        }
        assert!(
            Instant::now() < end,
            "sent {sent}, workers received {received}, kernel dropped {kernel}"
        );
    }
}

/// The checks both sharing models must pass: per worker the counters add up, no
/// datagram went to two workers, and the totals match what was sent.
pub fn check_reports(reports: &[Report], kernel: u64, sent: u64) {
    let mut all = Vec::new();
    for r in reports {
        assert_eq!(r.received, r.delivered + r.dropped, "{r:?}");
        assert_eq!(r.delivered, r.seqs.len() as u64);
        all.extend_from_slice(&r.seqs);
    }
    let received: u64 = reports.iter().map(|r| r.received).sum();
    assert_eq!(
        received + kernel,
        sent,
        "received {received} + kernel {kernel}"
    );
    let delivered = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), delivered, "a datagram reached two workers");
}

/// Forks `count` workers, the `i`th on `socket(i)`, closing `others(i)` in its child.
pub fn fork_workers<'a>(
    count: usize,
    sharing: Sharing,
    socket: impl Fn(usize) -> &'a OwnedFd,
    others: impl Fn(usize) -> Vec<&'a OwnedFd>,
) -> Vec<Worker> {
    let mut workers = Vec::with_capacity(count);
    for i in 0..count {
        let worker = fork_worker(socket(i), sharing, &others(i), &workers);
        workers.push(worker);
    }
    for w in &mut workers {
        w.await_ready();
    }
    workers
}

/// `socket_inode` of each fd.
pub fn inodes(fds: &[impl AsFd]) -> Vec<u64> {
    fds.iter()
        .map(|fd| shoal_udp_pump::socket_inode(fd).unwrap())
        .collect()
}
