//! Helpers for the multi-process tests: forked children reaped by PID, and a 64-byte
//! counter record.
#![allow(unsafe_code, dead_code)] // `fork` has no safe wrapper; each test file uses a subset.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};

/// Longest any child may take before the test gives up on it.
pub(crate) const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// The 64-byte value the counter tests store: a count, then filler that must stay equal
/// to it (a torn copy shows up as words that differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct Record {
    /// The counter.
    pub(crate) words: [u64; 8],
}

impl Record {
    /// All eight words set to `n`.
    pub(crate) fn filled(n: u64) -> Self {
        Self { words: [n; 8] }
    }

    /// True if no copy tore it.
    pub(crate) fn is_whole(&self) -> bool {
        self.words.iter().all(|&w| w == self.words[0])
    }
}

/// A forked child, killed and reaped by PID when dropped.
#[derive(Debug)]
pub(crate) struct Forked {
    pid: Pid,
    reaped: bool,
}

/// Forks; the child runs `body` and exits with its code (101 if it panicked), never
/// returning into the caller's code.
///
/// Call only from a single-threaded process (a `harness = false` test's `main`).
pub(crate) fn fork(body: impl FnOnce() -> i32) -> Forked {
    // SAFETY: the tests that call this are single-threaded (`harness = false` mains), so
    // the child inherits no lock held by another thread; it leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
        // SAFETY: ends the child without running the parent's atexit handlers twice.
        unsafe { libc::_exit(code) };
    }
    Forked {
        pid: Pid::from_raw(pid).expect("positive pid"),
        reaped: false,
    }
}

impl Forked {
    /// The child's process id.
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// SIGKILL.
    pub(crate) fn kill(&self) {
        rustix::process::kill_process(self.pid, Signal::KILL).expect("kill");
    }

    /// Waits (at most [`CHILD_LIMIT`]) for the child to end and returns its status.
    pub(crate) fn wait(mut self) -> WaitStatus {
        let end = Instant::now() + CHILD_LIMIT;
        loop {
            match rustix::process::waitpid(Some(self.pid), WaitOptions::NOHANG).expect("waitpid") {
                Some((_, status)) => {
                    self.reaped = true;
                    return status;
                }
                None if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
                None => panic!("child {:?} still running after {CHILD_LIMIT:?}", self.pid),
            }
        }
    }

    /// Waits and asserts a zero exit code.
    pub(crate) fn expect_success(self) {
        let pid = self.pid;
        let status = self.wait();
        assert_eq!(
            status.exit_status(),
            Some(0),
            "child {pid:?} ended with {status:?}"
        );
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = rustix::process::kill_process(self.pid, Signal::KILL);
            let _ = rustix::process::waitpid(Some(self.pid), WaitOptions::empty());
        }
    }
}

/// A one-way pipe for "I got there" messages between forked processes.
pub(crate) struct Notify {
    reader: std::io::PipeReader,
    writer: std::io::PipeWriter,
}

impl Notify {
    /// A new pipe.
    pub(crate) fn new() -> Self {
        let (reader, writer) = std::io::pipe().expect("pipe");
        Self { reader, writer }
    }

    /// Child side: send one byte.
    pub(crate) fn notify(&self) {
        (&self.writer).write_all(&[1]).expect("notify");
    }

    /// Parent side: wait for one byte (a child that dies first closes nothing here, so
    /// the read is bounded by the test's own time limit of the child).
    pub(crate) fn wait(&self) {
        let mut byte = [0];
        (&self.reader)
            .read_exact(&mut byte)
            .expect("wait for notify");
    }
}

/// Waits (bounded) until `pid` sleeps in the `futex` system call, so a kill that follows
/// lands while it is queued on the lock. False if it never got there.
pub(crate) fn sleeping_in_futex(pid: Pid) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    let path = format!("/proc/{}/syscall", pid.as_raw_nonzero());
    while Instant::now() < end {
        // 202 = SYS_futex on x86_64.
        if std::fs::read_to_string(&path).is_ok_and(|s| s.starts_with("202 ")) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Waits (bounded) until `pid` is a zombie (dead, not reaped).
pub(crate) fn is_zombie(pid: Pid) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    let path = format!("/proc/{}/stat", pid.as_raw_nonzero());
    while Instant::now() < end {
        let stat = std::fs::read_to_string(&path).unwrap_or_default();
        // The state follows the command name in parentheses (which may hold spaces).
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}
