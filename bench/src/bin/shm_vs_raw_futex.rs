//! `shoal-shm-share` against a raw futex-locked `MAP_SHARED` mapping (libc): uncontended
//! get+set of 64 bytes in one process, contended read-modify-write from 2 processes, and
//! the lock-free `peek` against locked reads.
//!
//! The raw peer is the classic three-state futex mutex (0 free, 1 locked, 2 locked with
//! waiters; Drepper, "Futexes Are Tricky") with `memcpy` in and out: what the region would
//! cost without the header checks, owner tracking, death recovery and atomic copies.
//!
//! Prints a Markdown section on stdout; logs on stderr.
#![allow(unsafe_code)] // fork, mmap and the raw futex peer.

use std::io::{Read, Write};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shoal_bench::{median, process_cpu_time, table};
use shoal_shm_share::SharedRegion;

/// The 64-byte value moved in every operation.
type Value = [u64; 8];

const ROUNDS: usize = 5;
const UNCONTENDED_OPS: u64 = 2_000_000;
const CONTENDED_OPS: u64 = 400_000;
const PEEK_OPS: u64 = 4_000_000;

/// A raw futex mutex and 64 bytes of data in one shared anonymous mapping.
struct RawShared {
    base: *mut u8,
}

impl RawShared {
    fn new() -> Self {
        // SAFETY: fresh shared anonymous page, never unmapped (the process exits).
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        Self { base: base.cast() }
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: page aligned, mapped for the life of the process, zero-initialised.
        unsafe { AtomicU32::from_ptr(self.base.cast()) }
    }

    fn futex(&self, op: i32, val: u32) {
        // SAFETY: a futex call on our own mapped word; no PRIVATE flag (shared mapping).
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.base,
                op,
                val,
                ptr::null::<libc::timespec>(),
            )
        };
    }

    fn lock(&self) {
        let word = self.word();
        let mut c = match word.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return,
            Err(c) => c,
        };
        if c != 2 {
            c = word.swap(2, Ordering::Acquire);
        }
        while c != 0 {
            self.futex(libc::FUTEX_WAIT, 2);
            c = word.swap(2, Ordering::Acquire);
        }
    }

    fn unlock(&self) {
        if self.word().fetch_sub(1, Ordering::Release) != 1 {
            self.word().store(0, Ordering::Release);
            self.futex(libc::FUTEX_WAKE, 1);
        }
    }

    fn get(&self) -> Value {
        let mut v = [0; 8];
        self.lock();
        // SAFETY: 64 bytes at offset 64 of our page; the lock serialises writers.
        unsafe { ptr::copy_nonoverlapping(self.base.add(64), v.as_mut_ptr().cast(), 64) };
        self.unlock();
        v
    }

    fn set(&self, v: &Value) {
        self.lock();
        // SAFETY: as in `get`.
        unsafe { ptr::copy_nonoverlapping(v.as_ptr().cast(), self.base.add(64), 64) };
        self.unlock();
    }

    /// Copies the value out, changes its first word and copies it back, under one lock.
    fn get_set_locked(&self) {
        let mut v: Value = [0; 8];
        self.lock();
        // SAFETY: as in `get`; the lock is held across both copies.
        unsafe {
            ptr::copy_nonoverlapping(self.base.add(64), v.as_mut_ptr().cast(), 64);
            v[0] += 1;
            ptr::copy_nonoverlapping(v.as_ptr().cast(), self.base.add(64), 64);
        }
        self.unlock();
    }

    fn increment(&self) {
        self.lock();
        // SAFETY: as in `get`; the lock is held across the read-modify-write.
        unsafe {
            let p = self.base.add(64).cast::<u64>();
            p.write_volatile(p.read_volatile() + 1);
        }
        self.unlock();
    }
}

fn ours_increment(region: &SharedRegion) {
    let mut guard = region.lock().expect("lock");
    let mut v: Value = guard.get().expect("get").unwrap_or_default();
    v[0] += 1;
    guard.set(&v).expect("set");
}

/// Runs `op` `ops` times; (ns per op wall, ns per op CPU).
fn measure(ops: u64, mut op: impl FnMut()) -> (f64, f64) {
    let cpu0 = process_cpu_time();
    let t0 = Instant::now();
    for _ in 0..ops {
        op();
    }
    let wall = t0.elapsed();
    let cpu = process_cpu_time() - cpu0;
    (
        wall.as_nanos() as f64 / ops as f64,
        cpu.as_nanos() as f64 / ops as f64,
    )
}

fn fork(body: impl FnOnce()) -> libc::pid_t {
    // SAFETY: single-threaded when forking; the child leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        body();
        // SAFETY: ends the child without the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    pid
}

fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
}

/// Two processes each run `op` `ops` times, starting together. Returns (operations per
/// second, CPU ns per operation over both processes).
fn contended(ops: u64, op: impl Fn()) -> (f64, f64) {
    let (mut go_rx, mut go_tx) = std::io::pipe().expect("pipe");
    let (mut cpu_rx, mut cpu_tx) = std::io::pipe().expect("pipe");
    let child = fork(|| {
        let mut byte = [0];
        go_rx.read_exact(&mut byte).expect("go");
        let cpu0 = process_cpu_time();
        for _ in 0..ops {
            op();
        }
        let cpu = (process_cpu_time() - cpu0).as_nanos() as u64;
        cpu_tx.write_all(&cpu.to_ne_bytes()).expect("report");
    });
    let cpu0 = process_cpu_time();
    let t0 = Instant::now();
    go_tx.write_all(b"!").expect("go");
    for _ in 0..ops {
        op();
    }
    let mut child_cpu = [0; 8];
    cpu_rx.read_exact(&mut child_cpu).expect("child cpu");
    let wall = t0.elapsed();
    let cpu = (process_cpu_time() - cpu0).as_nanos() as u64 + u64::from_ne_bytes(child_cpu);
    reap(child);
    let total = 2 * ops;
    (total as f64 / wall.as_secs_f64(), cpu as f64 / total as f64)
}

/// A writer process sets the value `writes` times while this one reads with `read` for
/// as long; returns reads per second.
fn reads_against_writer(region: &SharedRegion, read: impl Fn() -> Value) -> f64 {
    let (mut done_rx, mut done_tx) = std::io::pipe().expect("pipe");
    let writer = fork(|| {
        let end = Instant::now() + Duration::from_millis(500);
        let mut n = 0u64;
        while Instant::now() < end {
            n += 1;
            region.set(&[n; 8]).expect("set");
        }
        done_tx.write_all(b"!").expect("done");
    });
    drop(done_tx);
    let t0 = Instant::now();
    let mut reads = 0u64;
    let mut torn = 0u64;
    let limit = Instant::now() + Duration::from_millis(450);
    while Instant::now() < limit && reads < PEEK_OPS {
        let v = read();
        if v.iter().any(|&w| w != v[0]) {
            torn += 1;
        }
        reads += 1;
    }
    let wall = t0.elapsed();
    let mut byte = [0];
    done_rx.read_exact(&mut byte).expect("writer done");
    reap(writer);
    assert_eq!(torn, 0, "torn reads");
    reads as f64 / wall.as_secs_f64()
}

fn fmt_rate(per_second: f64) -> String {
    format!("{:.1} M", per_second / 1e6)
}

fn fmt_ns(ns: f64) -> String {
    format!("{ns:.1} ns")
}

fn main() {
    let region = SharedRegion::new(64).expect("region");
    region.set(&[0u64; 8]).expect("set");
    let raw = RawShared::new();
    let value: Value = [7; 8];

    eprintln!("uncontended get+set, {ROUNDS} rounds of {UNCONTENDED_OPS}");
    let (mut ours_wall, mut ours_cpu, mut raw_wall, mut raw_cpu) = (vec![], vec![], vec![], vec![]);
    let (mut rmw_wall, mut raw_rmw_wall, mut update_wall) = (vec![], vec![], vec![]);
    let (mut peek_wall, mut raw_get_wall) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        let (w, c) = measure(UNCONTENDED_OPS, || {
            let v: Value = region.get().expect("get").expect("value");
            std::hint::black_box(v);
            region.set(&value).expect("set");
        });
        ours_wall.push(w);
        ours_cpu.push(c);
        let (w, c) = measure(UNCONTENDED_OPS, || {
            std::hint::black_box(raw.get());
            raw.set(&value);
        });
        raw_wall.push(w);
        raw_cpu.push(c);
        rmw_wall.push(measure(UNCONTENDED_OPS, || ours_increment(&region)).0);
        raw_rmw_wall.push(measure(UNCONTENDED_OPS, || raw.get_set_locked()).0);
        update_wall.push(
            measure(UNCONTENDED_OPS, || {
                let mut guard = region.lock().expect("lock");
                guard
                    .update_at(0, |v: &mut Value| v[0] += 1)
                    .expect("update");
            })
            .0,
        );
        peek_wall.push(
            measure(UNCONTENDED_OPS, || {
                std::hint::black_box(region.peek::<Value>().expect("peek"));
            })
            .0,
        );
        raw_get_wall.push(
            measure(UNCONTENDED_OPS, || {
                std::hint::black_box(raw.get());
            })
            .0,
        );
    }
    let (ours_w, raw_w) = (median(&mut ours_wall), median(&mut raw_wall));
    let (ours_c, raw_c) = (median(&mut ours_cpu), median(&mut raw_cpu));
    let (rmw_w, raw_rmw_w) = (median(&mut rmw_wall), median(&mut raw_rmw_wall));
    let update_w = median(&mut update_wall);

    eprintln!("contended, 2 processes × {CONTENDED_OPS} increments, {ROUNDS} rounds");
    let (mut ours_rate, mut ours_ccpu, mut raw_rate, mut raw_ccpu) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let (r, c) = contended(CONTENDED_OPS, || ours_increment(&region));
        ours_rate.push(r);
        ours_ccpu.push(c);
        let (r, c) = contended(CONTENDED_OPS, || raw.increment());
        raw_rate.push(r);
        raw_ccpu.push(c);
    }
    assert_eq!(region.recoveries(), 0);

    eprintln!("reads while another process writes, {ROUNDS} rounds");
    // The increments left words that differ; readers check that all eight agree.
    region.set(&[0u64; 8]).expect("set");
    let (mut peek_rate, mut get_rate) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        peek_rate.push(reads_against_writer(&region, || {
            region.peek().expect("peek").expect("value")
        }));
        get_rate.push(reads_against_writer(&region, || {
            region.get().expect("get").expect("value")
        }));
    }

    println!("## shm_vs_raw_futex: shoal-shm-share vs a raw futex-locked mapping\n");
    println!(
        "64-byte values in a `MAP_SHARED` mapping. Peer: a three-state futex mutex + `memcpy` \
         (libc), no death recovery. Medians of {ROUNDS} rounds; CPU is user+system of all \
         processes involved, per operation.\n"
    );
    println!("### Uncontended, one process\n");
    println!(
        "{}",
        table(
            &["operation", "shoal-shm-share", "raw futex", "ratio"],
            &[
                vec![
                    "get + set (2 lock cycles), wall".into(),
                    fmt_ns(ours_w),
                    fmt_ns(raw_w),
                    format!("{:.2}×", ours_w / raw_w),
                ],
                vec![
                    "get + set, CPU".into(),
                    fmt_ns(ours_c),
                    fmt_ns(raw_c),
                    format!("{:.2}×", ours_c / raw_c),
                ],
                vec![
                    "get + set under one lock (guard), wall".into(),
                    fmt_ns(rmw_w),
                    fmt_ns(raw_rmw_w),
                    format!("{:.2}×", rmw_w / raw_rmw_w),
                ],
                vec![
                    "read-modify-write with `update_at` (guard), wall".into(),
                    fmt_ns(update_w),
                    fmt_ns(raw_rmw_w),
                    format!("{:.2}×", update_w / raw_rmw_w),
                ],
                vec![
                    "read only: `peek` (seqlock) vs raw locked get".into(),
                    fmt_ns(median(&mut peek_wall)),
                    fmt_ns(median(&mut raw_get_wall)),
                    String::new(),
                ],
            ],
        )
    );
    println!("### Contended: 2 processes incrementing one counter\n");
    println!(
        "{}",
        table(
            &["", "shoal-shm-share (PI futex)", "raw futex"],
            &[
                vec![
                    "increments/s".into(),
                    fmt_rate(median(&mut ours_rate)),
                    fmt_rate(median(&mut raw_rate)),
                ],
                vec![
                    "CPU per increment".into(),
                    fmt_ns(median(&mut ours_ccpu)),
                    fmt_ns(median(&mut raw_ccpu)),
                ],
            ],
        )
    );
    println!("### Reads while another process writes continuously\n");
    println!(
        "{}",
        table(
            &["reader", "reads/s"],
            &[
                vec![
                    "`peek` (seqlock, no lock)".into(),
                    fmt_rate(median(&mut peek_rate)),
                ],
                vec!["`get` (locked)".into(), fmt_rate(median(&mut get_rate)),],
            ],
        )
    );
    println!(
        "Goal: uncontended get+set within 1.3× of the raw mapping; measured {:.2}× wall, \
         {:.2}× CPU.",
        ours_w / raw_w,
        ours_c / raw_c
    );
}
