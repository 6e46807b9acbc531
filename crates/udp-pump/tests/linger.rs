//! `PumpBuilder::linger`: batches are held for fuller hand-overs, yet a lone packet still
//! arrives, a stop hands the held packet over, and nothing is lost or reordered.

mod util;

use std::time::{Duration, Instant};

use shoal_udp_pump::{
    ReadinessFd, Sharing, UdpPump, bind_udp, kernel_socket_info, local_addr, socket_inode,
};
use util::{PATIENCE, assert_adds_up, await_accounted, send_numbered, sender_for, seq_of};

#[test]
fn a_lone_packet_is_handed_over_after_the_delay() {
    for sharing in [Sharing::Exclusive, Sharing::SHARED] {
        let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = local_addr(&socket).unwrap();
        let pump = UdpPump::builder()
            .linger(Duration::from_millis(20))
            .sharing(sharing)
            .spawn(socket, ReadinessFd::new().unwrap())
            .unwrap();
        send_numbered(&sender_for(addr), addr, 7, 1, 16);
        // No more traffic: only the end of the delay can hand the packet over.
        let packet = pump.recv_timeout(PATIENCE).unwrap().unwrap();
        assert_eq!(seq_of(packet.data()), 7, "{sharing:?}");
        assert!(pump.notifier().take(), "the owner was woken ({sharing:?})");
    }
}

#[test]
fn lingering_batches_lose_nothing_and_keep_the_order() {
    const SENT: u64 = 2000;
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let pump = UdpPump::builder()
        .linger(Duration::from_millis(5))
        .batch(256)
        .recv_buffer(4 << 20)
        .spawn(socket, ())
        .unwrap();
    let sender = sender_for(addr);
    let mut next = 0;
    // In rounds that fit the receive buffer, so that the kernel drops nothing.
    for round in 0..SENT / 200 {
        send_numbered(&sender, addr, round * 200, 200, 64);
        while next < (round + 1) * 200 {
            let packet = pump.recv_timeout(PATIENCE).unwrap().unwrap();
            assert_eq!(seq_of(packet.data()), next);
            next += 1;
        }
    }
    let (counters, kernel) = await_accounted(&pump, SENT);
    assert_eq!((counters.delivered, kernel), (SENT, 0));
    assert_adds_up(&counters);
}

#[test]
fn a_stop_hands_over_the_packet_still_held() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let inode = socket_inode(&socket).unwrap();
    // A delay no test waits out: only the stop can release the batch.
    let pump = UdpPump::builder()
        .linger(Duration::from_secs(3600))
        .spawn(socket, ())
        .unwrap();
    send_numbered(&sender_for(addr), addr, 42, 1, 32);
    // Once the kernel's queue is empty, the pump has read the datagram and lingers.
    let end = Instant::now() + PATIENCE;
    while kernel_socket_info(inode).unwrap().unwrap().rx_queue > 0 {
        assert!(Instant::now() < end, "the pump did not read the datagram");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(pump.counters().received, 0, "held, not handed over yet");
    pump.stop().unwrap();
    let seqs: Vec<u64> = std::iter::from_fn(|| pump.try_recv())
        .map(|item| seq_of(item.unwrap().data()))
        .collect();
    assert_eq!(seqs, [42]);
    let counters = pump.counters();
    assert_eq!((counters.received, counters.delivered), (1, 1));
    assert_adds_up(&counters);
}
