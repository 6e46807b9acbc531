//! `SO_REUSEPORT` with real processes: one socket per forked worker. With many source
//! ports the kernel spreads the load over every worker, no datagram reaches two, and
//! the totals add up: `Σ received + Σ kernel drops = sent`.
//!
//! `harness = false`: `main` is single-threaded when it forks.

mod util;

use shoal_udp_pump::{ReuseportGroup, Sharing, request_recv_buffer_size};
use util::workers::{Report, Worker, await_all_accounted, check_reports, fork_workers, inodes};
use util::{send_numbered, sender_for};

const WORKERS: usize = 3;
const SENDERS: u64 = 64;
const PER_SENDER: u64 = 50;

fn main() {
    let group = ReuseportGroup::bind("127.0.0.1:0".parse().unwrap(), WORKERS).unwrap();
    let addr = group.local_addr();
    for socket in group.sockets() {
        request_recv_buffer_size(socket, 4 << 20).unwrap();
    }
    // Each child keeps its own socket only: one left open in a process that never reads
    // it would take its share of the traffic and lose it.
    let sockets = group.sockets();
    let others = |i: usize| {
        let not_i = (0..WORKERS).filter(move |&j| j != i);
        not_i.map(|j| &sockets[j]).collect()
    };
    let mut workers = fork_workers(WORKERS, Sharing::Exclusive, |i| &sockets[i], others);
    // Many source ports: the reuseport hash spreads them over the sockets.
    for sender in 0..SENDERS {
        send_numbered(&sender_for(addr), addr, sender * PER_SENDER, PER_SENDER, 64);
    }
    let sent = SENDERS * PER_SENDER;
    let kernel = await_all_accounted(&mut workers, &inodes(group.sockets()), sent);
    let reports: Vec<Report> = workers.iter_mut().map(Worker::finish).collect();
    check_reports(&reports, kernel, sent);
    let spread: Vec<u64> = reports.iter().map(|r| r.received).collect();
    assert!(
        spread.iter().all(|&n| n > 0),
        "{SENDERS} source ports left a worker idle: {spread:?}"
    );
    println!("fork_reuseport: ok — {sent} sent, per worker {spread:?}, kernel drops {kernel}");
}
