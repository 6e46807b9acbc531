//! Helpers shared by this crate's integration tests.
#![allow(dead_code, unreachable_pub)] // Each test binary uses a different subset.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use shoal_udp_pump::{CounterSnapshot, Notify, UdpPump};

pub mod workers;

/// How long a test waits for a condition before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A sender socket on loopback of the same family as `to`.
pub fn sender_for(to: SocketAddr) -> UdpSocket {
    let any: SocketAddr = if to.is_ipv4() {
        "127.0.0.1:0".parse().unwrap()
    } else {
        "[::1]:0".parse().unwrap()
    };
    UdpSocket::bind(any).expect("bind sender")
}

/// Sends `count` datagrams `seq as 8 bytes ++ filler` (`len` bytes at least 8), numbered
/// from `first`.
pub fn send_numbered(sender: &UdpSocket, to: SocketAddr, first: u64, count: u64, len: usize) {
    let mut buf = vec![0xA5u8; len.max(8)];
    for seq in first..first + count {
        buf[..8].copy_from_slice(&seq.to_be_bytes());
        sender.send_to(&buf, to).expect("send_to on loopback");
    }
}

/// The sequence number a datagram of [`send_numbered`] carries.
pub fn seq_of(data: &[u8]) -> u64 {
    u64::from_be_bytes(data[..8].try_into().expect("numbered datagram"))
}

/// Waits (bounded by [`PATIENCE`]) until `received + kernel_drops == sent` for `pump`,
/// and returns the final counters and kernel drops; panics with both when the bound
/// passes.
pub fn await_accounted<N: Notify>(pump: &UdpPump<N>, sent: u64) -> (CounterSnapshot, u64) {
    let end = Instant::now() + PATIENCE;
    loop {
        let stats = pump.stats().expect("stats");
        let kernel = stats
            .kernel_drops
            .expect("an UDP socket is in /proc/net/udp");
        if stats.counters.received + kernel == sent {
            return (stats.counters, kernel);
        }
        assert!(
            Instant::now() < end,
            "not accounted for after {PATIENCE:?}: sent {sent}, {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts the identity the counters promise.
pub fn assert_adds_up(c: &CounterSnapshot) {
    assert_eq!(
        c.received,
        c.delivered + c.dropped + c.in_flight,
        "counters do not add up: {c:?}"
    );
}
