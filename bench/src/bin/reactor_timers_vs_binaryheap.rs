//! 1M timers added, half cancelled, all the rest fired: the reactor's timers (closures
//! through the loop), its `TimerHeap` alone, and a `std::collections::BinaryHeap` with
//! lazy cancellation (a tombstone set, the usual shortcut). Prints a Markdown section.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use shoal_bench::{table, thread_cpu_time};
use shoal_reactor::{Backend, Reactor, TimerHeap};

const N: u64 = 1_000_000;

/// Deadline offsets spread over 50 ms, in a scrambled order.
fn offset(i: u64) -> Duration {
    Duration::from_micros(i.wrapping_mul(2_654_435_761) % 50_000)
}

fn row(name: &str, wall: Duration, cpu: Duration, peak: usize, fired: u64) -> Vec<String> {
    vec![
        name.to_owned(),
        format!("{:.0}", wall.as_secs_f64() * 1e3),
        format!("{:.0}", cpu.as_secs_f64() * 1e9 / N as f64),
        peak.to_string(),
        fired.to_string(),
    ]
}

fn reactor_run(backend: Backend) -> Vec<String> {
    let mut reactor = Reactor::with_backend(backend).expect("reactor");
    let fired = Rc::new(Cell::new(0u64));
    let (t0, c0) = (Instant::now(), thread_cpu_time());
    let mut handles = Vec::with_capacity(N as usize);
    for i in 0..N {
        let fired = Rc::clone(&fired);
        handles.push(reactor.add_timer(offset(i), move |_| fired.set(fired.get() + 1)));
    }
    for h in handles.iter().step_by(2) {
        h.cancel(&mut reactor);
    }
    let peak = reactor.pending_timers();
    reactor.set_post_loop_callback(|cx| cx.pending_timers() > 0);
    reactor.run().expect("run");
    let name = format!("shoal-reactor add_timer/cancel ({backend:?})");
    row(
        &name,
        t0.elapsed(),
        thread_cpu_time() - c0,
        peak,
        fired.get(),
    )
}

fn timer_heap_run() -> Vec<String> {
    let mut heap = TimerHeap::new();
    let base = Instant::now();
    let (t0, c0) = (Instant::now(), thread_cpu_time());
    let ids: Vec<_> = (0..N).map(|i| heap.insert(base + offset(i), i)).collect();
    for id in ids.iter().step_by(2) {
        heap.cancel(*id);
    }
    let peak = heap.len();
    let mut fired = 0;
    let end = base + Duration::from_millis(50);
    while heap.pop_expired(end).is_some() {
        fired += 1;
    }
    row(
        "shoal-reactor TimerHeap<u64>",
        t0.elapsed(),
        thread_cpu_time() - c0,
        peak,
        fired,
    )
}

fn binary_heap_run() -> Vec<String> {
    let mut heap = BinaryHeap::new();
    let mut cancelled = HashSet::new();
    let base = Instant::now();
    let (t0, c0) = (Instant::now(), thread_cpu_time());
    for i in 0..N {
        heap.push(Reverse((base + offset(i), i)));
    }
    for i in (0..N).step_by(2) {
        cancelled.insert(i);
    }
    // Entries still held after cancelling: tombstones included.
    let peak = heap.len();
    let mut fired = 0;
    while let Some(Reverse((_, i))) = heap.pop() {
        if !cancelled.remove(&i) {
            fired += 1;
        }
    }
    row(
        "std BinaryHeap + tombstone set",
        t0.elapsed(),
        thread_cpu_time() - c0,
        peak,
        fired,
    )
}

fn main() {
    let mut rows = Vec::new();
    for &backend in Backend::all() {
        rows.push(reactor_run(backend));
        eprintln!("{:?}", rows.last());
    }
    rows.push(timer_heap_run());
    rows.push(binary_heap_run());
    println!("## reactor_timers_vs_binaryheap: 1M timers, half cancelled, the rest fired\n");
    println!(
        "Deadlines spread over 50 ms. The reactor rows include boxing each closure and running \
         the loop until every timer fired (so wall time includes waiting for the last \
         deadline); CPU is the thread's CPU time per timer added. \"held\" is what the \
         structure holds after the cancels: the heap removes cancelled entries at once, the \
         tombstone approach keeps them until they surface.\n"
    );
    print!(
        "{}",
        table(
            &[
                "implementation",
                "wall ms",
                "CPU ns/timer",
                "held after cancel",
                "fired"
            ],
            &rows
        )
    );
}
