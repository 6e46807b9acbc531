//! `UdpPump` delivery over real loopback sockets: IPv4, IPv6, unix datagram, empty and
//! truncated datagrams, and the readiness fd's coalesced wake-up.

mod util;

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use rustix::event::Timespec;
use rustix::event::{PollFd, PollFlags, poll};
use shoal_udp_pump::{PeerAddr, ReadinessFd, UdpPump, bind_udp, local_addr};
use util::{assert_adds_up, await_accounted, send_numbered, sender_for, seq_of};

fn roundtrip(bind: &str) {
    let socket = bind_udp(bind.parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let pump = UdpPump::builder()
        .recv_buffer(1 << 20)
        .spawn(socket, ())
        .unwrap();
    let sender = sender_for(addr);
    send_numbered(&sender, addr, 0, 100, 64);
    for expected in 0..100 {
        let packet = pump.recv().unwrap().unwrap();
        assert_eq!(seq_of(packet.data()), expected);
        assert_eq!(packet.len(), 64);
        assert!(!packet.truncated());
        assert_eq!(
            packet.from().unwrap(),
            &PeerAddr::Inet(sender.local_addr().unwrap())
        );
    }
    let (counters, kernel) = await_accounted(&pump, 100);
    assert_eq!((counters.delivered, kernel), (100, 0));
    assert_adds_up(&counters);
}

#[test]
fn ipv4_packets_arrive_in_order_with_their_sender() {
    roundtrip("127.0.0.1:0");
}

#[test]
fn ipv6_packets_arrive_in_order_with_their_sender() {
    roundtrip("[::1]:0");
}

#[test]
fn unix_datagram_sockets_work_too() {
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    let pump = UdpPump::spawn(ours.into()).unwrap();
    theirs.send(b"over a unix socket").unwrap();
    let packet = pump.recv().unwrap().unwrap();
    assert_eq!(packet.data(), b"over a unix socket");
    assert!(matches!(packet.from(), None | Some(PeerAddr::Unix(_))));
    // No /proc/net/udp line for a unix socket: kernel drops are unknown, not zero.
    assert_eq!(pump.stats().unwrap().kernel_drops, None);
}

#[test]
fn a_zero_length_datagram_is_a_packet_not_a_stop() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let pump = UdpPump::spawn(socket).unwrap();
    let sender = sender_for(addr);
    sender.send_to(b"", addr).unwrap();
    sender.send_to(b"after", addr).unwrap();
    let empty = pump.recv().unwrap().unwrap();
    assert!(empty.is_empty());
    assert_eq!(
        empty.from().and_then(PeerAddr::inet),
        Some(sender.local_addr().unwrap())
    );
    assert_eq!(pump.recv().unwrap().unwrap().data(), b"after");
    assert!(!pump.is_finished());
}

#[test]
fn long_datagrams_are_flagged_truncated_never_silently_cut() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let pump = UdpPump::builder()
        .max_datagram(16)
        .spawn(socket, ())
        .unwrap();
    let sender = sender_for(addr);
    sender.send_to(&[7u8; 1000], addr).unwrap();
    sender.send_to(&[8u8; 16], addr).unwrap();
    let long = pump.recv().unwrap().unwrap();
    assert!(long.truncated());
    assert_eq!((long.len(), long.data()), (1000, &[7u8; 16][..]));
    let exact = pump.recv().unwrap().unwrap();
    assert!(!exact.truncated());
    assert_eq!(exact.data(), &[8u8; 16]);
    assert_eq!(pump.counters().truncated, 1);
}

fn readable(fd: &ReadinessFd, timeout: Duration) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let timeout = Timespec::try_from(timeout).unwrap();
    poll(&mut fds, Some(&timeout)).unwrap() == 1
}

#[test]
fn the_readiness_fd_wakes_a_poller_once_per_drain() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let wake = ReadinessFd::new().unwrap();
    let pump = UdpPump::builder().spawn(socket, wake.clone()).unwrap();
    assert!(!readable(&wake, Duration::ZERO));
    let sender = sender_for(addr);
    send_numbered(&sender, addr, 0, 50, 32);
    let mut seen = Vec::new();
    while seen.len() < 50 {
        assert!(
            readable(&wake, util::PATIENCE),
            "no wake-up with {} of 50",
            seen.len()
        );
        seen.extend(pump.drain().map(|p| seq_of(p.unwrap().data())));
    }
    assert_eq!(seen, (0..50).collect::<Vec<_>>());
    // Drained, nothing new: the fd is quiet (a spurious wake-up would spin a loop).
    assert!(!readable(&wake, Duration::from_millis(50)));
    assert_adds_up(&pump.counters());
}

#[test]
fn a_queue_smaller_than_a_batch_still_wakes_the_poller() {
    // Under Block the thread waits for room in the middle of a batch: it must wake the
    // owner first, or both wait for each other (loom: `block_wakes_before_waiting`).
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let wake = ReadinessFd::new().unwrap();
    let pump = UdpPump::builder()
        .capacity(2)
        .batch(64)
        .recv_buffer(1 << 20)
        .spawn(socket, wake.clone())
        .unwrap();
    send_numbered(&sender_for(addr), addr, 0, 200, 32);
    let mut seen = Vec::new();
    while seen.len() < 200 {
        assert!(
            readable(&wake, util::PATIENCE),
            "stuck with {} of 200",
            seen.len()
        );
        seen.extend(pump.drain().map(|p| seq_of(p.unwrap().data())));
    }
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
}

#[test]
fn the_granted_receive_buffer_is_reported() {
    let socket = bind_udp(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let pump = UdpPump::builder()
        .recv_buffer(1 << 20)
        .spawn(socket, ())
        .unwrap();
    // Linux reports twice what it stored; at least the request when not capped.
    assert!(pump.recv_buffer_size().unwrap() >= 1 << 20);
}

#[test]
fn a_failed_receive_is_reported_with_its_errno_and_the_pump_goes_on() {
    // A connected UDP socket whose peer port is closed: the ICMP "port unreachable"
    // makes the next recvfrom fail with ECONNREFUSED.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = closed.local_addr().unwrap();
    drop(closed);
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    rustix::net::connect(&socket, &peer).unwrap();
    let pump = UdpPump::spawn(socket).unwrap();
    rustix::net::send(pump.socket(), b"to nobody", rustix::net::SendFlags::empty()).unwrap();
    let err = pump.recv().unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(pump.counters().errors, 1);
    // The peer appears: its datagrams are received by the same, still running, pump.
    let revived = std::net::UdpSocket::bind(peer).unwrap();
    revived
        .send_to(b"back", local_addr(pump.socket()).unwrap())
        .unwrap();
    assert_eq!(pump.recv().unwrap().unwrap().data(), b"back");
    assert_eq!(pump.counters().received, 1);
}

#[test]
fn packets_keep_their_bytes_after_the_pump_and_their_batch_mates_are_gone() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let pump = UdpPump::builder()
        .recv_buffer(1 << 20)
        .spawn(socket, ())
        .unwrap();
    // Sent in one burst, so that batches hold several packets each.
    send_numbered(&sender_for(addr), addr, 0, 50, 100);
    let mut packets: Vec<_> = (0..50).map(|_| pump.recv().unwrap().unwrap()).collect();
    drop(pump);
    // Dropping every other packet must not disturb the bytes of those kept.
    let mut seq = 0;
    packets.retain(|_| {
        seq += 1;
        seq % 2 == 0
    });
    for (packet, expected) in packets.iter().zip((1..50).step_by(2)) {
        assert_eq!(seq_of(packet.data()), expected);
        assert_eq!(packet.data().len(), 100);
    }
    let copy = packets.pop().unwrap().into_vec();
    assert_eq!((seq_of(&copy), copy.len()), (49, 100));
}
