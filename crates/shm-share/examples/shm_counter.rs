//! `shm_counter --procs N --iters M [--kill-holder]`: N forked processes each increment a
//! shared counter M times (one `get` and one `set` of a 64-byte `Pod` value under the
//! region's lock per iteration). With `--kill-holder`, one extra child takes the lock,
//! says so through a pipe and is killed with SIGKILL while holding it; the workers recover
//! the lock and finish. With N = 1 and no `--kill-holder` it forks nothing.
//!
//! Prints `{"expected":N*M,"got":…,"recovered":…}` on stdout, logs on stderr; exits 1 if
//! the count is wrong.
#![allow(unsafe_code)] // `fork` and `_exit` from libc: rustix has no `fork`.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use shoal_shm_share::{Error, SharedRegion};

/// The shared value: a counter, then words derived from it so that a reader can tell a
/// whole record from a half-written one.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Counter {
    count: u64,
    check: [u64; 7],
}

impl Counter {
    fn new(count: u64) -> Self {
        Self {
            count,
            check: [!count; 7],
        }
    }

    fn is_whole(&self) -> bool {
        self.check.iter().all(|&c| c == !self.count)
    }
}

struct Args {
    procs: u64,
    iters: u64,
    kill_holder: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        procs: 1,
        iters: 1000,
        kill_holder: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--procs" => args.procs = number("--procs")?,
            "--iters" => args.iters = number("--iters")?,
            "--kill-holder" => args.kill_holder = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.procs == 0 {
        return Err("--procs must be at least 1".into());
    }
    Ok(args)
}

/// One iteration: get, increment, set, under one lock. After a holder died, the record
/// is checked, and marked consistent again if it is whole.
fn increment(region: &SharedRegion) -> Result<(), Error> {
    let mut guard = region.lock()?;
    let counter: Counter = guard.get()?.unwrap_or(Counter::new(0));
    if guard.owner_died() {
        eprintln!(
            "pid {}: recovered the lock from a dead holder (data {}); record whole at {}",
            std::process::id(),
            if guard.is_consistent() {
                "consistent"
            } else {
                "suspect"
            },
            counter.count
        );
    }
    if !guard.is_consistent() {
        if !counter.is_whole() {
            return Err(Error::Inconsistent);
        }
        guard.mark_consistent();
    }
    guard.set(&Counter::new(counter.count + 1))
}

fn work(region: &SharedRegion, iters: u64) -> Result<(), Error> {
    for _ in 0..iters {
        increment(region)?;
    }
    Ok(())
}

/// Forks a child that runs `body` and exits with its code.
fn fork(body: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: this program is single-threaded when it forks, so the child inherits no
    // lock held by another thread; the child leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = body();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    assert!(pid > 0, "fork: {}", std::io::Error::last_os_error());
    pid
}

/// Waits for `pid` and returns its raw wait status.
fn reap(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; `pid` is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    status
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("shm_counter: {err}\nusage: shm_counter --procs N --iters M [--kill-holder]");
            return ExitCode::from(2);
        }
    };
    let region = match SharedRegion::new(size_of::<Counter>()) {
        Ok(region) => region,
        Err(err) => {
            eprintln!("shm_counter: {err}");
            return ExitCode::FAILURE;
        }
    };

    let mut holder = None;
    if args.kill_holder {
        let (mut ready_rx, mut ready_tx) = std::io::pipe().expect("pipe");
        holder = Some(fork(|| {
            let _guard = region.lock().expect("holder: lock");
            let _ = ready_tx.write_all(b"!");
            // Killed long before this ends.
            std::thread::sleep(Duration::from_secs(60));
            1
        }));
        let mut byte = [0];
        ready_rx
            .read_exact(&mut byte)
            .expect("holder never took the lock");
        eprintln!("holder {:?} holds the lock", holder);
    }

    let mut failed = false;
    if args.procs == 1 && !args.kill_holder {
        if let Err(err) = work(&region, args.iters) {
            eprintln!("shm_counter: {err}");
            failed = true;
        }
    } else {
        let iters = args.iters;
        let workers: Vec<_> = (0..args.procs)
            .map(|_| {
                fork(|| match work(&region, iters) {
                    Ok(()) => 0,
                    Err(err) => {
                        eprintln!("worker {}: {err}", std::process::id());
                        1
                    }
                })
            })
            .collect();
        if let Some(pid) = holder {
            eprintln!("killing holder {pid} with SIGKILL");
            // SAFETY: plain system call on our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            reap(pid);
        }
        for pid in workers {
            let status = reap(pid);
            if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
                eprintln!("worker {pid} failed: status {status:#x}");
                failed = true;
            }
        }
    }

    let expected = args.procs * args.iters;
    let got = match region.get::<Counter>() {
        Ok(counter) => counter.map_or(0, |c| c.count),
        Err(err) => {
            eprintln!("shm_counter: final get: {err}");
            failed = true;
            0
        }
    };
    let recovered = region.recoveries() > 0;
    println!("{{\"expected\":{expected},\"got\":{got},\"recovered\":{recovered}}}");
    if failed || got != expected {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
