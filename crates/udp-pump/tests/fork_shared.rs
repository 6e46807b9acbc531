//! The seed's model with real processes: one socket bound, then forked workers that each
//! run a pump on it (`Sharing::Shared`). Every datagram reaches exactly one worker and
//! the totals add up: `Σ received + kernel drops = sent`.
//!
//! `harness = false`: `main` is single-threaded when it forks.

mod util;

use shoal_udp_pump::{Sharing, bind_shared, local_addr, request_recv_buffer_size};
use util::workers::{Report, Worker, await_all_accounted, check_reports, fork_workers, inodes};
use util::{send_numbered, sender_for};

const WORKERS: usize = 3;
const SENT: u64 = 3000;

fn main() {
    let socket = bind_shared("127.0.0.1:0".parse().unwrap()).unwrap();
    request_recv_buffer_size(&socket, 4 << 20).unwrap();
    let addr = local_addr(&socket).unwrap();
    let mut workers = fork_workers(WORKERS, Sharing::SHARED, |_| &socket, |_| Vec::new());
    send_numbered(&sender_for(addr), addr, 0, SENT, 64);
    let kernel = await_all_accounted(&mut workers, &inodes(&[&socket]), SENT);
    let reports: Vec<Report> = workers.iter_mut().map(Worker::finish).collect();
    check_reports(&reports, kernel, SENT);
    let spread: Vec<u64> = reports.iter().map(|r| r.received).collect();
    println!("fork_shared: ok — {SENT} sent, per worker {spread:?}, kernel drops {kernel}");
}
