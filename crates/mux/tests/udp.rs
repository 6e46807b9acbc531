//! UDP handles: datagrams keep their boundaries, `send_to` and the sender address, and
//! the ICMP error a connected socket reports.

mod util;

use std::net::{SocketAddr, UdpSocket};

use rustix::net::SocketAddrAny;
use shoal_mux::{Event, Mux, Options, SockKind};
use util::{next, until};

#[test]
fn datagrams_keep_boundaries_and_senders_and_send_to_replies() {
    let mut mux: Mux = Mux::new().unwrap();
    let server = mux.listen("udp://127.0.0.1:0", Options::default()).unwrap();
    let server_addr = SocketAddr::try_from(mux.local_addr(server).unwrap()).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.send_to(b"one", server_addr).unwrap();
    client.send_to(b"", server_addr).unwrap();
    client.send_to(b"three", server_addr).unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        match next(&mut mux) {
            Event::Read {
                handle,
                data,
                sender,
            } => {
                assert_eq!(handle, server);
                let sender = SocketAddr::try_from(sender.expect("sender")).unwrap();
                assert_eq!(sender, client.local_addr().unwrap());
                got.push(data);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, [&b"one"[..], b"", b"three"]);
    let to = SocketAddrAny::from(client.local_addr().unwrap());
    mux.send_to(server, to.clone(), b"reply-1").unwrap();
    mux.send_to(server, to, b"reply-2").unwrap();
    until(&mut mux, |e| matches!(e, Event::Sent { .. }));
    assert_eq!(mux.buflen(server), Some(0));
    let mut buf = [0u8; 64];
    let (n, _) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"reply-1");
    let (n, _) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"reply-2");
}

#[test]
fn connected_udp_to_a_closed_port_gets_econnrefused_and_stays_open() {
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut mux: Mux = Mux::new().unwrap();
    let handle = mux
        .connect(&format!("udp://127.0.0.1:{port}"), Options::default())
        .unwrap();
    mux.send(handle, b"anyone?").unwrap();
    let events = until(&mut mux, |e| matches!(e, Event::Error { .. }));
    match events.last() {
        Some(Event::Error { handle: h, error }) => {
            assert_eq!(*h, handle);
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::ConnectionRefused,
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        mux.handles().contains(&handle),
        "a UDP error does not close"
    );
    mux.send(handle, b"still usable").unwrap();
}

#[test]
fn framing_is_refused_on_datagram_sockets_and_types_are_detected() {
    let mut mux: Mux = Mux::new().unwrap();
    let options = Options::default().framing(shoal_mux::framing::Rule::fixed(4).unwrap());
    let err = mux.listen("udp://127.0.0.1:0", options).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(shoal_mux::socket_type(&sock).unwrap(), SockKind::Dgram);
    assert!(!shoal_mux::socket_listening(&sock).unwrap());
    let tcp = mux.listen("tcp://127.0.0.1:0", Options::default()).unwrap();
    let err = mux.send_to(tcp, SocketAddrAny::from(sock.local_addr().unwrap()), b"x");
    assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn ipv6_loopback_works_when_available() {
    let mut mux: Mux = Mux::new().unwrap();
    let Ok(server) = mux.listen("udp://[::1]:0", Options::default()) else {
        // No IPv6 on this host: the URL parsed (the bind failed), nothing more to test.
        return;
    };
    let addr = SocketAddr::try_from(mux.local_addr(server).unwrap()).unwrap();
    let client = mux
        .connect(&format!("udp://[::1]:{}", addr.port()), Options::default())
        .unwrap();
    mux.send(client, b"v6").unwrap();
    let events = until(&mut mux, |e| matches!(e, Event::Read { .. }));
    assert!(matches!(events.last(), Some(Event::Read { data, .. }) if data == b"v6"));
}
