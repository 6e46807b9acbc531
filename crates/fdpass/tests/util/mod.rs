//! Helpers shared by this crate's integration tests.
#![allow(dead_code)] // each test file uses a different subset

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use shoal_fdpass::{Error, FdPasser, Message};
use shoal_test_util::Reaped;

/// A descriptor to pass around.
pub(crate) fn devnull() -> OwnedFd {
    std::fs::File::open("/dev/null")
        .expect("open /dev/null")
        .into()
}

/// Received results, in the order the callbacks ran.
pub(crate) type Inbox = Arc<Mutex<Vec<Result<Message, Error>>>>;

/// Queues `n` receive callbacks that append to `inbox`.
pub(crate) fn push_recvs(passer: &mut FdPasser, n: usize, inbox: &Inbox) {
    for _ in 0..n {
        let inbox = Arc::clone(inbox);
        passer.push_recv(move |r| inbox.lock().unwrap().push(r));
    }
}

/// Drives the passers with `poll` until `done()` holds; panics after 10 s or 1M rounds.
pub(crate) fn drive(passers: &mut [&mut FdPasser], mut done: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    for _ in 0..1_000_000 {
        if done() {
            return;
        }
        assert!(Instant::now() < end, "passers did not finish in 10 s");
        let ready: Vec<PollFlags> = {
            let mut fds: Vec<PollFd<'_>> = passers
                .iter()
                .map(|p| {
                    let want = p.interest();
                    let mut flags = PollFlags::empty();
                    if want.readable {
                        flags |= PollFlags::IN;
                    }
                    if want.writable {
                        flags |= PollFlags::OUT;
                    }
                    PollFd::from_borrowed_fd(p.as_fd(), flags)
                })
                .collect();
            let timeout = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 50_000_000,
            };
            rustix::event::poll(&mut fds, Some(&timeout)).expect("poll");
            fds.iter().map(|f| f.revents()).collect()
        };
        for (passer, revents) in passers.iter_mut().zip(ready) {
            if revents.intersects(PollFlags::OUT) {
                passer.on_writable();
            }
            if revents.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
                passer.on_readable();
            }
        }
    }
    panic!("passers did not finish in 1M rounds");
}

/// A connected SEQPACKET pair: a default sender and a receiver built with `rx_options`.
pub(crate) fn pair_with_receiver(rx_options: &shoal_fdpass::Options) -> (FdPasser, FdPasser) {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair");
    let tx = FdPasser::from_socket(a, &shoal_fdpass::Options::new()).expect("sender");
    let rx = FdPasser::from_socket(b, rx_options).expect("receiver");
    (tx, rx)
}

/// Serialises the tests of one binary: descriptor counts are per process, so a test that
/// counts them must not run beside one that opens descriptors.
pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Everything an exited child wrote to its piped stdout and stderr.
pub(crate) fn read_all(child: &mut Reaped) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Some(mut out) = child.take_stdout() {
        let _ = out.read_to_string(&mut text);
    }
    if let Some(mut err) = child.0.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

/// Waits (up to 10 s) until `path` holds `lines` lines and returns its text.
pub(crate) fn wait_for_lines(path: &std::path::Path, lines: usize) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= lines || Instant::now() > end {
            return text;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
