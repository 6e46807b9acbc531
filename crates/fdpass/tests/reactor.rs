//! `ReactorPasser`: a passer inside a `shoal-reactor` loop.
#![cfg(feature = "reactor")]

mod util;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use shoal_fdpass::{End, FdPasser, Outgoing, ReactorPasser};
use shoal_reactor::Reactor;
use util::devnull;

fn run_until(reactor: &mut Reactor, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    for _ in 0..100_000 {
        if done() {
            return;
        }
        assert!(Instant::now() < end, "the loop did not finish in 10 s");
        reactor.run_once(Some(Duration::from_millis(50))).unwrap();
    }
    panic!("the loop did not finish in 100k iterations");
}

/// 2000 messages through a full socket buffer, in order, every send reported; receive
/// callbacks get the loop's context and push the next receive through the handle.
#[test]
fn a_passer_in_the_loop_keeps_order_and_calls_back_with_the_context() {
    const N: usize = 2000;
    let mut reactor = Reactor::new().unwrap();
    let (a, b) = FdPasser::socketpair().unwrap();
    let tx = a.register(&mut reactor).unwrap();
    let rx = b.register(&mut reactor).unwrap();
    let got: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let sent = Rc::new(RefCell::new(0usize));

    fn receive_next(
        rx: &ReactorPasser,
        cx: &mut shoal_reactor::Context,
        got: &Rc<RefCell<Vec<Vec<u8>>>>,
    ) {
        let again = rx.clone();
        let got = Rc::clone(got);
        rx.push_recv(cx, move |cx, result| {
            let msg = result.expect("message");
            assert_eq!(msg.fds.len(), 1);
            got.borrow_mut().push(msg.payload);
            if got.borrow().len() < N {
                receive_next(&again, cx, &got);
            }
        });
    }
    receive_next(&rx, &mut reactor, &got);

    for i in 0..N {
        let sent = Rc::clone(&sent);
        tx.push_send(
            &mut reactor,
            Outgoing::new(vec![devnull()], (i as u32).to_le_bytes().to_vec()).unwrap(),
            move |_cx| *sent.borrow_mut() += 1,
        )
        .unwrap();
    }
    run_until(&mut reactor, || got.borrow().len() == N);
    assert_eq!(*sent.borrow(), N);
    for (i, payload) in got.borrow().iter().enumerate() {
        assert_eq!(payload.as_slice(), (i as u32).to_le_bytes());
    }
}

/// A received pipe end is registered in the same loop from inside the receive callback.
#[test]
fn a_received_descriptor_can_be_registered_in_the_callback() {
    let mut reactor = Reactor::new().unwrap();
    let (a, b) = FdPasser::socketpair().unwrap();
    let tx = a.register(&mut reactor).unwrap();
    let rx = b.register(&mut reactor).unwrap();
    let read: Rc<RefCell<Vec<u8>>> = Rc::default();
    let sink = Rc::clone(&read);
    rx.push_recv(&mut reactor, move |cx, result| {
        let fd = result.unwrap().into_fd().unwrap();
        let mut file = std::fs::File::from(fd);
        cx.register_fd(
            file.try_clone().unwrap(),
            shoal_reactor::Interest::READ,
            move |cx, token, _ready| {
                let mut buf = [0u8; 64];
                match file.read(&mut buf) {
                    Ok(0) | Err(_) => cx.close(token, "eof"),
                    Ok(n) => sink.borrow_mut().extend_from_slice(&buf[..n]),
                }
            },
        )
        .unwrap();
    });
    let (reader, mut writer) = std::io::pipe().unwrap();
    tx.push_send(&mut reactor, std::os::fd::OwnedFd::from(reader), |_| {})
        .unwrap();
    writer.write_all(b"via the loop").unwrap();
    drop(writer);
    run_until(&mut reactor, || read.borrow().as_slice() == b"via the loop");
}

/// The peer's close is told once to `on_end`, and the registration leaves the loop.
#[test]
fn the_peer_closing_ends_the_passer_and_leaves_the_loop() {
    let mut reactor = Reactor::new().unwrap();
    let (a, b) = FdPasser::socketpair().unwrap();
    let rx = b.register(&mut reactor).unwrap();
    let ends: Rc<RefCell<Vec<String>>> = Rc::default();
    let seen = Rc::clone(&ends);
    rx.set_on_end(&mut reactor, move |_cx, end| {
        assert!(matches!(end, End::PeerClosed { unsent: 0 }));
        seen.borrow_mut().push("end".into());
    });
    rx.push_recv(&mut reactor, |_cx, _r| panic!("no message was sent"));
    let watched = reactor.watched_count();
    drop(a);
    run_until(&mut reactor, || !ends.borrow().is_empty());
    reactor.run_once(Some(Duration::from_millis(1))).unwrap();
    assert_eq!(ends.borrow().len(), 1);
    assert!(rx.is_closed());
    assert_eq!(reactor.watched_count(), watched - 1);
}
