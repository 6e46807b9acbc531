//! Each backpressure `Policy` with an owner that does not keep up: counters add up and
//! the right packets survive.

mod util;

use shoal_udp_pump::{Policy, UdpPump, bind_udp, local_addr};
use util::{assert_adds_up, await_accounted, send_numbered, sender_for, seq_of};

const SENT: u64 = 200;
const CAPACITY: usize = 4;

/// Sends `SENT` packets (they fit the 1 MiB receive buffer) to a pump with a queue of
/// `CAPACITY` whose owner reads nothing until all are accounted for.
fn flood(policy: Policy) -> (UdpPump, Vec<u64>) {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let pump = UdpPump::builder()
        .capacity(CAPACITY)
        .policy(policy)
        .recv_buffer(1 << 20)
        .spawn(socket, ())
        .unwrap();
    send_numbered(&sender_for(addr), addr, 0, SENT, 64);
    if policy == Policy::Block {
        // The thread waits for room: read everything, then check the totals.
        let seqs = (0..SENT)
            .map(|_| seq_of(pump.recv().unwrap().unwrap().data()))
            .collect();
        return (pump, seqs);
    }
    let (counters, kernel) = await_accounted(&pump, SENT);
    assert_eq!(kernel, 0, "{SENT} small packets fit 1 MiB");
    assert_adds_up(&counters);
    assert_eq!(counters.in_flight, CAPACITY as u64);
    assert_eq!(counters.dropped, SENT - CAPACITY as u64);
    let seqs = pump.drain().map(|p| seq_of(p.unwrap().data())).collect();
    (pump, seqs)
}

#[test]
fn block_loses_nothing() {
    let (pump, seqs) = flood(Policy::Block);
    assert_eq!(seqs, (0..SENT).collect::<Vec<_>>());
    let c = pump.counters();
    assert_eq!(
        (c.received, c.delivered, c.dropped, c.in_flight),
        (SENT, SENT, 0, 0)
    );
}

#[test]
fn drop_newest_keeps_the_first_packets() {
    let (pump, seqs) = flood(Policy::DropNewest);
    assert_eq!(seqs, (0..CAPACITY as u64).collect::<Vec<_>>());
    let c = pump.counters();
    assert_eq!((c.delivered, c.in_flight), (CAPACITY as u64, 0));
    assert_adds_up(&c);
}

#[test]
fn drop_oldest_keeps_the_last_packets() {
    let (pump, seqs) = flood(Policy::DropOldest);
    assert_eq!(seqs, (SENT - CAPACITY as u64..SENT).collect::<Vec<_>>());
    let c = pump.counters();
    assert_eq!((c.delivered, c.in_flight), (CAPACITY as u64, 0));
    assert_adds_up(&c);
}
