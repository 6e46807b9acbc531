//! Nesting a mux in another loop: an outer epoll watches `Mux::as_fd`; queued events
//! are not on the fd, which is why `has_events` must be checked before waiting.

use std::cell::RefCell;
use std::io::Write as _;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use shoal_mux::{Event, Handle, Mux, Options};
use shoal_reactor::{Interest, Reactor};
use shoal_test_util::OuterEpoll;

/// Every event ready now, without waiting.
fn drain(mux: &mut Mux) -> Vec<Event<()>> {
    let mut events = Vec::new();
    loop {
        match mux.next_event(Some(Duration::ZERO)).expect("next_event") {
            Event::Timeout => return events,
            event => events.push(event),
        }
    }
}

/// A mux with one connected unix stream (the peer end returned), watched by an outer
/// epoll, after the stream's one `Ready` event was taken: nothing is pending.
fn idle_mux_with_a_stream() -> (Mux, UnixStream, Handle, OuterEpoll) {
    let mut mux: Mux = Mux::new().expect("mux");
    let (ours, peer) = UnixStream::pair().expect("pair");
    let handle = mux.add(ours.into(), Options::default()).expect("add");
    let outer = OuterEpoll::watching(&mux);
    // A connected stream is announced once (`Ready`, from its first writability).
    let initial = drain(&mut mux);
    assert!(
        matches!(initial.as_slice(), [Event::Ready { handle: h }] if *h == handle),
        "{initial:?}"
    );
    assert_eq!(outer.wait(Duration::ZERO), 0, "idle");
    (mux, peer, handle, outer)
}

#[test]
fn an_outer_epoll_wakes_when_a_handle_has_data() {
    let (mut mux, mut peer, handle, outer) = idle_mux_with_a_stream();

    peer.write_all(b"ping").expect("write");
    assert_eq!(
        outer.wait(Duration::from_secs(5)),
        1,
        "the mux's fd became readable"
    );
    let events = drain(&mut mux);
    assert!(
        matches!(events.as_slice(), [Event::Read { handle: h, data, .. }] if *h == handle && data.as_slice() == b"ping"),
        "{events:?}"
    );
    assert_eq!(outer.wait(Duration::ZERO), 0, "drained: not readable");
    assert!(!mux.has_events());
}

#[test]
fn queued_events_are_not_on_the_fd_so_has_events_comes_first() {
    let (mut mux, _peer, handle, outer) = idle_mux_with_a_stream();
    mux.push_event(Event::Sent { handle });
    // The kernel has nothing for the mux: an outer loop that only waited on the fd
    // would sleep with an event queued.
    assert_eq!(outer.wait(Duration::ZERO), 0);
    assert!(mux.has_events());
    let events = drain(&mut mux);
    assert!(
        matches!(events.as_slice(), [Event::Sent { handle: h }] if *h == handle),
        "{events:?}"
    );
    assert!(!mux.has_events());
}

#[test]
fn a_reactor_drains_a_mux_registered_by_its_fd() {
    let mut reactor = Reactor::new().expect("reactor");
    let mux: Rc<RefCell<Mux>> = Rc::new(RefCell::new(Mux::new().expect("mux")));
    let (ours, mut peer) = UnixStream::pair().expect("pair");
    let handle = mux
        .borrow_mut()
        .add(ours.into(), Options::default())
        .expect("add");
    // A dup is the same epoll instance; the reactor owns it (the shoal-statsd pattern).
    let mux_fd = mux.borrow().as_fd().try_clone_to_owned().expect("dup");
    let got = Rc::new(RefCell::new(Vec::new()));
    let (watched, sink) = (Rc::clone(&mux), Rc::clone(&got));
    reactor
        .register_fd(mux_fd, Interest::READ, move |_, _, _| {
            sink.borrow_mut().extend(drain(&mut watched.borrow_mut()));
        })
        .expect("register_fd");

    peer.write_all(b"ping").expect("write");
    // Bounded in count and time: 50 iterations of at most 100 ms.
    for _ in 0..50 {
        reactor
            .run_once(Some(Duration::from_millis(100)))
            .expect("run_once");
        if got.borrow().iter().any(|e| matches!(e, Event::Read { .. })) {
            break;
        }
    }
    let got = got.borrow();
    assert!(
        matches!(got.as_slice(), [Event::Ready { handle: a }, Event::Read { handle: b, data, .. }]
            if *a == handle && *b == handle && data.as_slice() == b"ping"),
        "{got:?}"
    );
    assert!(!mux.borrow().has_events());
}
