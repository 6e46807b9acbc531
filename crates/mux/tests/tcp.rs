//! TCP handles: accept, frames from real clients in odd chunkings, connect results,
//! graceful close, kill, remove.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};

use shoal_mux::framing::Rule;
use shoal_mux::{Event, Handle, Mux, Options};
use shoal_test_util::Reaped;
use util::{next, until};

fn listen_lines(mux: &mut Mux<u32>, max: usize) -> (Handle, SocketAddr) {
    let options = Options::default().framing(Rule::delimiter(b"\n", max).unwrap());
    let listener = mux.listen("tcp://127.0.0.1:0", options).unwrap();
    let addr = SocketAddr::try_from(mux.local_addr(listener).unwrap()).unwrap();
    (listener, addr)
}

#[test]
fn python_client_in_odd_chunkings_gets_every_frame() {
    let mut mux: Mux<u32> = Mux::new().unwrap();
    let (listener, addr) = listen_lines(&mut mux, 1000);
    // The client sends the same text in 1-byte, 3-byte and 7-byte writes with a
    // TCP_NODELAY socket and small pauses, so the server sees odd read boundaries.
    let script = r#"
import socket, sys, time
text = b"alpha\nbe\r\nta\n\ngamma-delta-epsilon\nlast-no-newline"
for size in (1, 3, 7):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(text), size):
        s.sendall(text[i:i+size])
        time.sleep(0.001)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
"#;
    let mut child = Reaped(
        Command::new("python3")
            .args(["-c", script, &addr.port().to_string()])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..3 {
        let handle = match next(&mut mux) {
            Event::Accepted {
                handle,
                listener: l,
                peer,
                creds,
            } => {
                assert_eq!(l, listener);
                assert!(peer.is_some());
                assert!(creds.is_none(), "no credentials on TCP");
                handle
            }
            other => panic!("{other:?}"),
        };
        let mut frames = Vec::new();
        let events = until(&mut mux, |e| matches!(e, Event::Closed { .. }));
        for event in events {
            match event {
                Event::Read {
                    handle: h, data, ..
                } => {
                    assert_eq!(h, handle);
                    frames.push(data);
                }
                Event::ReadLast { handle: h, data } => {
                    assert_eq!(h, handle);
                    assert_eq!(data, b"last-no-newline");
                }
                Event::Closing { handle: h, unsent } => {
                    assert_eq!((h, unsent), (handle, 0));
                }
                Event::Closed { handle: h, .. } => assert_eq!(h, handle),
                other => panic!("unexpected {other:?}"),
            }
        }
        let want: Vec<&[u8]> = vec![b"alpha", b"be\r", b"ta", b"", b"gamma-delta-epsilon"];
        assert_eq!(frames, want);
    }
    assert!(child.wait_for(util::PATIENCE).unwrap().unwrap().success());
}

#[test]
fn frame_over_max_is_an_error_and_closes_only_that_client() {
    let mut mux: Mux<u32> = Mux::new().unwrap();
    let (_listener, addr) = listen_lines(&mut mux, 8);
    let mut good = TcpStream::connect(addr).unwrap();
    let good_handle = match next(&mut mux) {
        Event::Accepted { handle, .. } => handle,
        other => panic!("{other:?}"),
    };
    let mut bad = TcpStream::connect(addr).unwrap();
    let bad_handle = match next(&mut mux) {
        Event::Accepted { handle, .. } => handle,
        other => panic!("{other:?}"),
    };
    bad.write_all(b"123456789\n").unwrap();
    let events = until(&mut mux, |e| matches!(e, Event::Closed { .. }));
    assert!(matches!(
        &events[0],
        Event::Error { handle, error } if *handle == bad_handle
            && error.kind() == std::io::ErrorKind::InvalidData
    ));
    let mut buf = [0u8; 1];
    assert_eq!(bad.read(&mut buf).unwrap(), 0, "the offender is closed");
    good.write_all(b"12345678\n").unwrap();
    match next(&mut mux) {
        Event::Read { handle, data, .. } => {
            assert_eq!(handle, good_handle);
            assert_eq!(data, b"12345678");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn connect_reports_ready_then_sends_and_sent() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", server.local_addr().unwrap());
    let mut mux: Mux<&str> = Mux::new().unwrap();
    let handle = mux.connect(&url, Options::default()).unwrap();
    mux.set_meta(handle, "client").unwrap();
    // Queued before the connection is confirmed: sent after Ready.
    mux.send(handle, b"hello").unwrap();
    let (mut peer, _) = server.accept().unwrap();
    let events = until(&mut mux, |e| matches!(e, Event::Sent { .. }));
    assert!(matches!(events[0], Event::Ready { handle: h } if h == handle));
    let mut got = [0u8; 5];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    assert_eq!(mux.buflen(handle), Some(0));
    assert_eq!(mux.meta(handle), Some(&"client"));
    mux.close(handle).unwrap();
    let events = until(&mut mux, |e| matches!(e, Event::Closed { .. }));
    match &events[..] {
        [
            Event::Closing { unsent: 0, .. },
            Event::Closed {
                meta: Some("client"),
                ..
            },
        ] => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(peer.read(&mut got).unwrap(), 0);
    assert!(mux.handles().is_empty());
}

#[test]
fn connect_to_a_closed_port_is_an_error_event() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut mux: Mux = Mux::new().unwrap();
    let handle = mux
        .connect(&format!("tcp://127.0.0.1:{port}"), Options::default())
        .unwrap();
    match next(&mut mux) {
        Event::Error { handle: h, error } => {
            assert_eq!(h, handle);
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(next(&mut mux), Event::Closing { .. }));
    assert!(matches!(next(&mut mux), Event::Closed { .. }));
}

#[test]
fn graceful_close_flushes_a_large_queue_first() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut mux: Mux = Mux::new().unwrap();
    let handle = mux
        .connect(
            &format!("tcp://{}", server.local_addr().unwrap()),
            Options::default(),
        )
        .unwrap();
    let (mut peer, _) = server.accept().unwrap();
    let payload: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
    mux.send(handle, &payload).unwrap();
    mux.close(handle).unwrap();
    assert!(
        matches!(mux.send(handle, b"x"), Err(e) if e.kind() == std::io::ErrorKind::NotConnected)
    );
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    });
    let events = until(&mut mux, |e| matches!(e, Event::Closed { .. }));
    let closing = events
        .iter()
        .find_map(|e| match e {
            Event::Closing { unsent, .. } => Some(*unsent),
            _ => None,
        })
        .expect("Closing");
    assert_eq!(closing, 0);
    assert_eq!(reader.join().unwrap(), payload);
}

#[test]
fn kill_drops_the_queue_and_remove_hands_the_fd_back() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let mut mux: Mux<u8> = Mux::new().unwrap();
    let a = mux
        .connect(&format!("tcp://{addr}"), Options::default())
        .unwrap();
    let b = mux
        .connect(&format!("tcp://{addr}"), Options::default())
        .unwrap();
    mux.set_meta(a, 7).unwrap();
    let (mut peer_a, _) = server.accept().unwrap();
    let (mut peer_b, _) = server.accept().unwrap();
    mux.kill(a).unwrap();
    match next(&mut mux) {
        Event::Closed { handle, meta } => assert_eq!((handle, meta), (a, Some(7))),
        other => panic!("{other:?}"),
    }
    assert!(mux.kill(a).is_err(), "the handle is stale");
    let mut buf = [0u8; 1];
    assert_eq!(peer_a.read(&mut buf).unwrap(), 0);
    let fd = mux.remove(b).expect("fd back");
    assert!(mux.handles().is_empty());
    let mut stream = TcpStream::from(fd);
    stream.write_all(b"z").unwrap();
    peer_b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"z");
}

#[test]
fn reads_are_fair_across_handles() {
    // Two clients each send far more than one wake's worth of small frames; the events
    // of both interleave instead of one client's being drained first.
    let mut mux: Mux<u32> = Mux::new().unwrap();
    let options = Options::default()
        .framing(Rule::delimiter(b"\n", 100).unwrap())
        .read_size(64);
    let listener = mux.listen("tcp://127.0.0.1:0", options).unwrap();
    let addr = SocketAddr::try_from(mux.local_addr(listener).unwrap()).unwrap();
    let mut clients = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..2 {
        clients.push(TcpStream::connect(addr).unwrap());
        match next(&mut mux) {
            Event::Accepted { handle, .. } => handles.push(handle),
            other => panic!("{other:?}"),
        }
    }
    let line = b"0123456789abcdef\n".repeat(2000);
    for c in &mut clients {
        c.write_all(&line).unwrap();
    }
    let mut order = Vec::new();
    for _ in 0..400 {
        match next(&mut mux) {
            Event::Read { handle, .. } => order.push(handle),
            other => panic!("{other:?}"),
        }
    }
    let first_of_second = order
        .iter()
        .position(|h| *h != order[0])
        .expect("both served");
    assert!(
        first_of_second < 200,
        "one handle monopolised {first_of_second} events"
    );
}
