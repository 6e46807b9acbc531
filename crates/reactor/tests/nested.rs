//! Nesting a reactor in another loop: an outer epoll watches `Reactor::as_fd`, and
//! `has_pending_work` / `next_wait` cover the work the fd does not show.

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use shoal_reactor::{Backend, Interest, Reactor, Read, Socket};
use shoal_test_util::OuterEpoll;

#[test]
fn an_outer_epoll_wakes_when_a_registered_fd_is_readable() {
    for &backend in Backend::all() {
        let mut reactor = Reactor::with_backend(backend).expect("reactor");
        let (ours, mut peer) = UnixStream::pair().expect("pair");
        ours.set_nonblocking(true).expect("nonblocking");
        let got = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&got);
        reactor
            .register_fd(ours, Interest::READ, move |cx, token, _| {
                let mut buf = [0u8; 64];
                let fd = cx.other_fds().find(|(t, _)| *t == token).expect("listed").1;
                let n = rustix::io::read(fd, &mut buf).expect("read");
                sink.borrow_mut().extend_from_slice(&buf[..n]);
            })
            .expect("register_fd");
        let outer = OuterEpoll::watching(&reactor);
        assert_eq!(outer.wait(Duration::ZERO), 0, "{backend:?}: idle");
        assert!(!reactor.has_pending_work(), "{backend:?}");
        assert_eq!(
            reactor.next_wait(),
            None,
            "{backend:?}: only the fd brings work"
        );

        peer.write_all(b"hello").expect("write");
        assert_eq!(
            outer.wait(Duration::from_secs(5)),
            1,
            "{backend:?}: the reactor's fd became readable"
        );
        reactor.run_once(Some(Duration::ZERO)).expect("run_once");
        assert_eq!(got.borrow().as_slice(), b"hello", "{backend:?}");
        assert_eq!(
            outer.wait(Duration::ZERO),
            0,
            "{backend:?}: read, so no longer readable"
        );
    }
}

#[test]
fn pushed_back_bytes_are_pending_work_the_fd_does_not_show() {
    for &backend in Backend::all() {
        let mut reactor = Reactor::with_backend(backend).expect("reactor");
        let (ours, mut peer) = UnixStream::pair().expect("pair");
        let calls = Rc::new(Cell::new(0u32));
        let consumed = Rc::new(RefCell::new(Vec::new()));
        let (count, sink) = (Rc::clone(&calls), Rc::clone(&consumed));
        // Pushes the bytes back on its first two calls (the event, then the ready-list
        // pass of the same iteration), so they are still pending after `run_once`.
        reactor
            .register_socket(ours, move |sock: &mut Socket<'_>| {
                count.set(count.get() + 1);
                if let Ok(Read::Data(bytes)) = sock.read(64) {
                    if count.get() <= 2 {
                        sock.push_back_read(&bytes);
                    } else {
                        sink.borrow_mut().extend_from_slice(&bytes);
                    }
                }
            })
            .expect("register_socket");
        let outer = OuterEpoll::watching(&reactor);
        peer.write_all(b"later").expect("write");
        assert_eq!(outer.wait(Duration::from_secs(5)), 1, "{backend:?}");
        reactor.run_once(Some(Duration::ZERO)).expect("run_once");
        assert_eq!(calls.get(), 2, "{backend:?}");
        assert!(consumed.borrow().is_empty(), "{backend:?}");

        // The kernel buffer is empty: the fd does not fire, yet there is work.
        assert_eq!(outer.wait(Duration::ZERO), 0, "{backend:?}");
        assert!(reactor.has_pending_work(), "{backend:?}");
        assert_eq!(reactor.next_wait(), Some(Duration::ZERO), "{backend:?}");

        reactor.run_once(reactor.next_wait()).expect("run_once");
        assert_eq!(consumed.borrow().as_slice(), b"later", "{backend:?}");
        assert!(!reactor.has_pending_work(), "{backend:?}");
    }
}

#[test]
fn next_wait_is_bounded_by_the_next_timer_and_a_close_is_pending_work() {
    for &backend in Backend::all() {
        let mut reactor = Reactor::with_backend(backend).expect("reactor");
        let fired = Rc::new(Cell::new(false));
        let flag = Rc::clone(&fired);
        reactor.add_timer(Duration::from_secs(30), move |_| flag.set(true));
        let wait = reactor.next_wait().expect("a timer bounds the wait");
        assert!(
            wait <= Duration::from_secs(30) && !wait.is_zero(),
            "{backend:?}"
        );

        let (ours, _peer) = UnixStream::pair().expect("pair");
        let token = reactor
            .register_socket(ours, |_: &mut Socket<'_>| {})
            .expect("register_socket");
        reactor.close(token, "from the outer loop");
        assert!(reactor.has_pending_work(), "{backend:?}: deferred close");
        assert_eq!(reactor.next_wait(), Some(Duration::ZERO), "{backend:?}");
        reactor.run_once(reactor.next_wait()).expect("run_once");
        assert!(!reactor.has_pending_work(), "{backend:?}");
        assert!(!fired.get(), "{backend:?}");
    }
}
