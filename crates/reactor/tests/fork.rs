//! `fork` + `reset_after_fork`, from a single-threaded `harness = false` binary (forking
//! from the multi-threaded libtest harness could inherit a held lock).
//!
//! The child resets its loop, finds its pre-fork waker invalid, reads through the
//! inherited socket on its fresh poller and closes it there; the parent's registration
//! on the shared epoll instance must survive all of that.

#![allow(unsafe_code)] // `libc::fork`/`waitpid`/`_exit`: rustix has no `fork`.

use std::cell::RefCell;
use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shoal_reactor::{Backend, Reactor, Read, Socket};

fn run_until(reactor: &mut Reactor, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while !done() {
        if Instant::now() >= end {
            return false;
        }
        reactor
            .run_once(Some(Duration::from_millis(50)))
            .expect("run_once");
    }
    true
}

fn child(
    mut reactor: Reactor,
    waker: shoal_reactor::Waker,
    peer: &mut UnixStream,
    got: &Rc<RefCell<Vec<u8>>>,
    token: shoal_reactor::Token,
) -> i32 {
    if reactor.reset_after_fork().is_err() {
        return 10;
    }
    if waker.wake().is_ok() {
        return 11; // a pre-fork waker must say it is invalid in the child
    }
    if peer.write_all(b"child").is_err() {
        return 12;
    }
    if !run_until(&mut reactor, Duration::from_secs(5), || {
        got.borrow().as_slice() == b"child"
    }) {
        return 13;
    }
    // Close the inherited socket here: deleted from the child's fresh poller only.
    reactor.close(token, "child done");
    reactor.run_once(Some(Duration::ZERO)).expect("run_once");
    drop(reactor);
    0
}

fn check(backend: Backend) {
    let mut reactor = Reactor::with_backend(backend).expect("reactor");
    let (ours, mut peer) = UnixStream::pair().expect("pair");
    let got = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&got);
    let token = reactor
        .register_socket(ours, move |sock: &mut Socket<'_>| {
            if let Ok(Read::Data(bytes)) = sock.read(64) {
                sink.borrow_mut().extend_from_slice(&bytes);
            }
        })
        .expect("register");
    let woken = Rc::new(RefCell::new(false));
    let flag = Rc::clone(&woken);
    let waker = reactor
        .waker(move |_| *flag.borrow_mut() = true)
        .expect("waker");

    // SAFETY: this binary is single-threaded (harness = false, no threads started).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child(reactor, waker, &mut peer, &got, token);
        // SAFETY: leave the child at once, without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child by its pid.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "{backend:?}: child died: {status}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "{backend:?}: child failed");

    // The parent's registration survived the child's reset and close.
    peer.write_all(b"parent").expect("write");
    assert!(
        run_until(&mut reactor, Duration::from_secs(5), || got
            .borrow()
            .ends_with(b"parent")),
        "{backend:?}: the parent lost its registration"
    );
    assert_eq!(
        got.borrow().as_slice(),
        b"parent",
        "{backend:?}: the child's bytes leaked to the parent"
    );
    waker.wake().expect("the parent's waker still works");
    assert!(
        run_until(&mut reactor, Duration::from_secs(5), || *woken.borrow()),
        "{backend:?}: wake lost"
    );
    println!("fork + reset_after_fork ({backend:?}): ok");
}

fn main() {
    for &backend in Backend::all() {
        check(backend);
    }
}
