//! Manual accept, read and write: the mux reports readiness and the caller does the
//! syscalls; each `CanRead`/`CanWrite` is re-armed with `want_read`/`want_write`.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;

use shoal_mux::{Event, Mux, Options};
use util::next;

#[test]
fn manual_accept_reports_accepting_and_the_caller_accepts() {
    let mut mux: Mux = Mux::new().unwrap();
    let options = Options {
        manual_accept: true,
        ..Options::default()
    };
    let listener = mux.listen("tcp://127.0.0.1:0", options).unwrap();
    let addr = SocketAddr::try_from(mux.local_addr(listener).unwrap()).unwrap();
    let _client = TcpStream::connect(addr).unwrap();
    assert!(matches!(next(&mut mux), Event::Accepting { handle } if handle == listener));
    let fd = rustix::net::accept(mux.fd(listener).unwrap()).unwrap();
    let conn = mux.add(fd, Options::default()).unwrap();
    assert!(matches!(next(&mut mux), Event::Ready { handle } if handle == conn));
}

#[test]
fn manual_read_and_write_are_one_shot_until_rearmed() {
    let mut mux: Mux = Mux::new().unwrap();
    let listener = mux.listen("tcp://127.0.0.1:0", Options::default()).unwrap();
    let addr = SocketAddr::try_from(mux.local_addr(listener).unwrap()).unwrap();
    let mut peer = TcpStream::connect(addr).unwrap();
    let accepted = match next(&mut mux) {
        Event::Accepted { handle, .. } => handle,
        other => panic!("{other:?}"),
    };
    let fd = mux.remove(accepted).unwrap();
    let options = Options {
        manual_read: true,
        manual_write: true,
        ..Options::default()
    };
    // Both manual: the fd's blocking mode is left alone; make it non-blocking ourselves.
    shoal_mux::nonblock(&fd).unwrap();
    let handle = mux.add(fd, options).unwrap();
    // First writability: Ready (SO_ERROR), then CanWrite once.
    let mut saw_can_write = false;
    for _ in 0..2 {
        match next(&mut mux) {
            Event::Ready { handle: h } => assert_eq!(h, handle),
            Event::CanWrite { handle: h } => {
                assert_eq!(h, handle);
                saw_can_write = true;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(saw_can_write);
    // Not re-armed: nothing more about writability.
    assert!(matches!(
        mux.next_event(Some(std::time::Duration::ZERO)).unwrap(),
        Event::Timeout
    ));
    peer.write_all(b"data").unwrap();
    assert!(matches!(next(&mut mux), Event::CanRead { handle: h } if h == handle));
    let mut buf = [0u8; 16];
    let n = rustix::io::read(mux.fd(handle).unwrap().as_fd(), &mut buf).unwrap();
    assert_eq!(&buf[..n], b"data");
    peer.write_all(b"more").unwrap();
    // Not re-armed: the new bytes are not reported until want_read.
    assert!(matches!(
        mux.next_event(Some(std::time::Duration::from_millis(20)))
            .unwrap(),
        Event::Timeout
    ));
    mux.want_read(handle).unwrap();
    assert!(matches!(next(&mut mux), Event::CanRead { .. }));
    mux.want_write(handle).unwrap();
    assert!(matches!(next(&mut mux), Event::CanWrite { .. }));
    // `send` still works on a manual-write handle.
    mux.send(handle, b"reply").unwrap();
    let mut got = [0u8; 5];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"reply");
}
