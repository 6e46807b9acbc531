//! An outer epoll instance, for tests that nest a loop (a reactor, a mux) in another.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::event::epoll;

/// An epoll instance watching one fd for reading, standing in for "some other loop".
#[derive(Debug)]
pub struct OuterEpoll(OwnedFd);

impl OuterEpoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`, then `epoll_ctl(ADD, fd, EPOLLIN)`. Panics on
    /// failure (test helper).
    pub fn watching(fd: impl AsFd) -> Self {
        let outer = epoll::create(epoll::CreateFlags::CLOEXEC).expect("epoll_create1");
        epoll::add(
            &outer,
            fd.as_fd(),
            epoll::EventData::new_u64(1),
            epoll::EventFlags::IN,
        )
        .expect("epoll_ctl ADD");
        OuterEpoll(outer)
    }

    /// `epoll_wait` for up to `timeout`; the number of events (0 or 1).
    pub fn wait(&self, timeout: Duration) -> usize {
        let mut events = Vec::with_capacity(4);
        let timeout = rustix::time::Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).expect("timeout seconds fit i64"),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        epoll::wait(
            &self.0,
            rustix::buffer::spare_capacity(&mut events),
            Some(&timeout),
        )
        .expect("epoll_wait");
        events.len()
    }
}
