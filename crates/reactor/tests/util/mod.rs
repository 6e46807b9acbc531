//! Helpers shared by the reactor's integration tests.
#![allow(dead_code, unreachable_pub)] // each test binary uses a subset

use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use shoal_reactor::{Backend, Reactor};

/// A connected TCP pair over loopback: (accepted side, client side).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (server, client)
}

/// A connected AF_UNIX stream pair (close-on-exec, blocking).
pub fn unix_pair() -> (OwnedFd, OwnedFd) {
    rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair")
}

/// Runs iterations of `reactor` until `done` says so, at most `limit` long (then panics
/// naming `what`). Each wait is capped so the deadline is checked.
pub fn run_until(
    reactor: &mut Reactor,
    what: &str,
    limit: Duration,
    mut done: impl FnMut(&mut Reactor) -> bool,
) {
    let end = Instant::now() + limit;
    while !done(reactor) {
        assert!(Instant::now() < end, "{what}: not done within {limit:?}");
        reactor
            .run_once(Some(Duration::from_millis(50)))
            .expect("run_once");
    }
}

/// Every backend compiled in, each with a fresh reactor.
pub fn reactors() -> Vec<(Backend, Reactor)> {
    Backend::all()
        .iter()
        .map(|&b| (b, Reactor::with_backend(b).expect("reactor")))
        .collect()
}
