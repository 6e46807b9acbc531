//! Stopping a pump: an exclusive socket is shut down, a shared one is left alone, a
//! stop under load leaves counters that add up, and drop releases the socket.

mod util;

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::net::{RecvFlags, recvfrom};
use shoal_udp_pump::{Sharing, UdpPump, bind_udp, kernel_drops, local_addr, socket_inode};
use util::{assert_adds_up, send_numbered, sender_for};

#[test]
fn stop_wakes_the_thread_blocked_in_recvfrom_and_joins_it() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let pump = UdpPump::spawn(socket).unwrap();
    pump.stop().unwrap();
    assert!(pump.is_finished());
    assert!(
        pump.recv().is_none(),
        "the thread has ended: recv must not block"
    );
    pump.stop().unwrap();
}

#[test]
fn stopping_a_shared_socket_leaves_the_siblings_reading() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    // A sibling's descriptor for the same socket, as a forked worker would hold.
    let sibling = socket.try_clone().unwrap();
    let pump = UdpPump::builder()
        .sharing(Sharing::Shared {
            backstop: Duration::from_millis(20),
        })
        .spawn(socket, ())
        .unwrap();
    pump.stop().unwrap();
    assert!(pump.is_finished());
    sender_for(addr).send_to(b"still served", addr).unwrap();
    // Not shut down: the sibling still receives (blocking, bounded by the backstop the
    // pump set on the socket).
    let mut buf = [0u8; 32];
    let end = Instant::now() + util::PATIENCE;
    let got = loop {
        match recvfrom(sibling.as_fd(), &mut buf[..], RecvFlags::empty()) {
            Ok((n, _, _)) => break n,
            Err(rustix::io::Errno::AGAIN) if Instant::now() < end => continue,
            Err(err) => panic!("sibling cannot read: {err}"),
        }
    };
    assert_eq!(&buf[..got], b"still served");
}

#[test]
fn stop_under_load_leaves_counters_that_add_up() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let pump = UdpPump::builder().capacity(64).spawn(socket, ()).unwrap();
    let sending = AtomicBool::new(true);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let sender = sender_for(addr);
            let end = Instant::now() + Duration::from_secs(5);
            let mut seq = 0;
            while sending.load(Ordering::Relaxed) && seq < 2_000_000 && Instant::now() < end {
                send_numbered(&sender, addr, seq, 100, 64);
                seq += 100;
            }
        });
        // Read until traffic is flowing, then stop while packets keep coming.
        for _ in 0..1000 {
            pump.recv().unwrap().unwrap();
        }
        pump.stop().unwrap();
        sending.store(false, Ordering::Relaxed);
    });
    assert!(pump.is_finished());
    let stopped = pump.counters();
    assert_adds_up(&stopped);
    let rest = pump.drain().count() as u64;
    assert_eq!(rest, stopped.in_flight);
    let c = pump.counters();
    assert_eq!(
        c.received, stopped.received,
        "nothing received after the stop"
    );
    assert_eq!((c.in_flight, c.received), (0, c.delivered + c.dropped));
}

#[test]
fn dropping_the_pump_closes_its_socket() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let inode = socket_inode(&socket).unwrap();
    let pump = UdpPump::spawn(socket).unwrap();
    send_numbered(&sender_for(addr), addr, 0, 10, 64);
    pump.recv().unwrap().unwrap();
    assert!(kernel_drops(inode).unwrap().is_some());
    drop(pump);
    // Gone from /proc/net/udp, and its port can be bound again.
    assert_eq!(kernel_drops(inode).unwrap(), None);
    bind_udp(addr).unwrap();
}

#[test]
fn stopping_a_unix_datagram_pump_delivers_no_phantom_packet() {
    let (ours, theirs) = std::os::unix::net::UnixDatagram::pair().unwrap();
    let pump = UdpPump::spawn(ours.into()).unwrap();
    theirs.send(b"real").unwrap();
    assert_eq!(pump.recv().unwrap().unwrap().data(), b"real");
    pump.stop().unwrap();
    assert!(
        pump.try_recv().is_none(),
        "the shutdown's empty read became a packet"
    );
    let c = pump.counters();
    assert_eq!((c.received, c.delivered), (1, 1));
}
