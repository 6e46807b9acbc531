//! `Context` features: other fds with closures, the post-loop callback, loop timeout,
//! the descriptor map and to-be-closed list, profiling.

mod util;

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use shoal_reactor::{Interest, Read, Socket};

#[test]
fn other_fds_get_their_closure_and_can_change_interest() {
    for (backend, mut reactor) in util::reactors() {
        let (ours, mut peer) = UnixStream::pair().expect("pair");
        ours.set_nonblocking(true).expect("nonblocking");
        let got = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&got);
        let token = reactor
            .register_fd(ours, Interest::READ, move |cx, token, readiness| {
                assert!(readiness.readable);
                let mut buf = [0u8; 64];
                let n = rustix::io::read(
                    cx.other_fds().find(|(t, _)| *t == token).expect("listed").1,
                    &mut buf,
                )
                .expect("read");
                sink.borrow_mut().extend_from_slice(&buf[..n]);
                if sink.borrow().ends_with(b"stop") {
                    cx.set_interest(token, Interest::NONE).expect("interest");
                }
            })
            .expect("register_fd");
        peer.write_all(b"one-stop").expect("write");
        util::run_until(&mut reactor, "other fd", Duration::from_secs(5), |_| {
            got.borrow().ends_with(b"stop")
        });
        // Not watched any more: more bytes do not call the closure.
        peer.write_all(b"ignored").expect("write");
        reactor
            .run_once(Some(Duration::from_millis(20)))
            .expect("run_once");
        assert_eq!(got.borrow().as_slice(), b"one-stop", "{backend:?}");
        let fd = reactor.take_fd(token).expect("take_fd");
        let mut buf = [0u8; 16];
        assert_eq!(rustix::io::read(fd.as_fd(), &mut buf).expect("read"), 7);
    }
}

#[test]
fn post_loop_callback_stops_the_loop_and_sees_closes_done() {
    for (backend, mut reactor) in util::reactors() {
        let (server, client) = util::tcp_pair();
        let token = reactor
            .register_socket(server, |s: &mut Socket<'_>| {
                if let Ok(Read::Eof) = s.read(64) {
                    s.close("eof");
                    let me = s.token();
                    assert_eq!(s.context().to_be_closed(), &[me]);
                }
            })
            .expect("register");
        assert_eq!(
            reactor.descriptor_map().map(|(t, _)| t).collect::<Vec<_>>(),
            vec![token]
        );
        drop(client);
        let rounds = Rc::new(Cell::new(0));
        let r = Rc::clone(&rounds);
        reactor.set_loop_timeout(Some(Duration::from_millis(10)));
        assert_eq!(reactor.loop_timeout(), Some(Duration::from_millis(10)));
        reactor.set_post_loop_callback(move |cx| {
            r.set(r.get() + 1);
            cx.watched_count() > 0 && r.get() < 500
        });
        reactor.run().expect("run");
        assert_eq!(reactor.watched_count(), 0, "{backend:?}");
        assert!(reactor.to_be_closed().is_empty());
        // The loop timeout bounds an idle iteration: run returns although nothing happens.
        reactor.set_post_loop_callback(|_| false);
        reactor
            .run()
            .expect("idle run returns after the loop timeout");
    }
}

#[test]
fn profiling_counts_calls_per_handler_kind_and_event() {
    struct Named;
    impl shoal_reactor::Handler for Named {
        fn on_readable(&mut self, sock: &mut Socket<'_>) {
            let _ = sock.read(64);
        }
        fn kind(&self) -> &'static str {
            "named"
        }
    }
    let (_, mut reactor) = util::reactors().remove(0);
    let (server, mut client) = util::tcp_pair();
    reactor.enable_profiling();
    reactor.register_socket(server, Named).expect("register");
    reactor.add_timer(Duration::ZERO, |_| {});
    client.write_all(b"x").expect("write");
    util::run_until(&mut reactor, "profiled read", Duration::from_secs(5), |r| {
        r.profile().is_some_and(|p| {
            p.contains_key(&("named", "read")) && p.contains_key(&("timer", "fire"))
        })
    });
    let profile = reactor.disable_profiling().expect("profile");
    assert_eq!(profile[&("named", "read")].calls, 1);
    assert!(reactor.profile().is_none());
}
