//! Removing a waker: its eventfd leaves the poller and, with the last clone, the
//! process; its closure is dropped; clones that outlive it report an error. Alone in its
//! binary because it counts the process's fds.

mod util;

use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use shoal_test_util::open_fd_count;

#[test]
fn removing_a_waker_closes_its_eventfd_and_drops_its_closure() {
    for (backend, mut reactor) in util::reactors() {
        let baseline = open_fd_count();
        let watched = reactor.watched_count();
        let captured = Rc::new(());
        for round in 0..100 {
            let held = Rc::clone(&captured);
            let waker = reactor
                .waker(move |_| {
                    let _ = &held;
                })
                .expect("waker");
            let clone = waker.clone();
            assert_eq!(open_fd_count(), baseline + 1, "{backend:?} round {round}");
            assert_eq!(Rc::strong_count(&captured), 2);
            waker.wake().expect("wake while attached");
            assert!(reactor.remove_waker(&waker), "{backend:?} round {round}");
            assert_eq!(Rc::strong_count(&captured), 1, "{backend:?}: closure kept");
            assert_eq!(reactor.watched_count(), watched);
            for w in [&waker, &clone] {
                assert_eq!(
                    w.wake().expect_err("removed").kind(),
                    ErrorKind::NotConnected
                );
            }
            reactor.run_once(Some(Duration::ZERO)).expect("run_once");
            // A clone still alive keeps the (deregistered) eventfd open.
            drop(waker);
            assert_eq!(open_fd_count(), baseline + 1, "{backend:?} round {round}");
            drop(clone);
            assert_eq!(open_fd_count(), baseline, "{backend:?}: eventfd leaked");
        }
    }
}
