//! An fd closed and its number reused within one batch of events: the stale event is
//! dropped (generational tokens), never delivered to the new source.

mod util;

use std::cell::RefCell;
use std::io::Write as _;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use shoal_reactor::{Context, Socket, Token};

#[derive(Default)]
struct Log {
    calls: Vec<(u64, &'static str)>,
    tokens: Vec<Token>,
    stolen_fd: Option<RawFd>,
    new_fd: Option<RawFd>,
    keep: Vec<OwnedFd>,
}

fn readable_pair() -> (OwnedFd, OwnedFd) {
    let (a, b) = util::unix_pair();
    std::os::unix::net::UnixStream::from(b.try_clone().expect("dup"))
        .write_all(b"x")
        .expect("write");
    (a, b)
}

fn register(
    cx: &mut Context,
    fd: OwnedFd,
    name: &'static str,
    log: Rc<RefCell<Log>>,
    iteration: Rc<RefCell<u64>>,
) -> Token {
    cx.register_socket(fd, move |sock: &mut Socket<'_>| {
        let _ = sock.read(16);
        let now = *iteration.borrow();
        let mut l = log.borrow_mut();
        l.calls.push((now, name));
        if l.calls.len() == 1 {
            // First in the batch: take the other socket out (its fd closed at once) and
            // register a new readable socket, which gets the same fd number and slot.
            let me = sock.token();
            let other = *l.tokens.iter().find(|&&t| t != me).expect("other");
            let stolen = sock
                .context()
                .socket(other)
                .and_then(|mut s| s.steal())
                .expect("steal");
            l.stolen_fd = Some(stolen.as_raw_fd());
            drop(stolen);
            let (fresh, peer) = readable_pair();
            l.new_fd = Some(fresh.as_raw_fd());
            l.keep.push(peer);
            drop(l);
            register(
                sock.context(),
                fresh,
                "fresh",
                Rc::clone(&log),
                Rc::clone(&iteration),
            );
        }
    })
    .expect("register")
}

#[test]
fn an_event_for_a_closed_and_reused_fd_in_the_same_batch_is_dropped() {
    for (backend, mut reactor) in util::reactors() {
        let log = Rc::new(RefCell::new(Log::default()));
        let iteration = Rc::new(RefCell::new(1u64));
        let (a, a_peer) = readable_pair();
        let (b, b_peer) = readable_pair();
        let ta = register(&mut reactor, a, "a", Rc::clone(&log), Rc::clone(&iteration));
        let tb = register(&mut reactor, b, "b", Rc::clone(&log), Rc::clone(&iteration));
        log.borrow_mut().tokens = vec![ta, tb];
        // Both are readable: one wait returns both events.
        reactor
            .run_once(Some(Duration::from_secs(5)))
            .expect("run_once");
        {
            let l = log.borrow();
            assert_eq!(
                l.calls.len(),
                1,
                "{backend:?}: stale event delivered: {:?}",
                l.calls
            );
            assert_eq!(
                l.stolen_fd, l.new_fd,
                "{backend:?}: the fd number was not reused, test is moot"
            );
        }
        *iteration.borrow_mut() = 2;
        reactor
            .run_once(Some(Duration::from_secs(5)))
            .expect("run_once");
        let l = log.borrow();
        assert_eq!(
            l.calls.last(),
            Some(&(2, "fresh")),
            "{backend:?}: {:?}",
            l.calls
        );
        drop((a_peer, b_peer));
    }
}
