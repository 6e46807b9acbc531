//! The `polling` crate as a backend (feature `polling`).
#![allow(unsafe_code)] // `polling::Poller::add_with_mode` is `unsafe` (delete before close).

use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use polling::{Event, Events, PollMode, Poller};

use crate::readiness::{Interest, Readiness};

pub(crate) struct PollingPoller {
    poller: Poller,
    events: Events,
}

fn event(key: u64, interest: Interest) -> Event {
    // Keys are generational tokens; `usize` is 64 bits on every target we build for.
    let key = usize::try_from(key).unwrap_or(usize::MAX);
    Event::new(key, interest.read, interest.write)
}

impl PollingPoller {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(PollingPoller {
            poller: Poller::new()?,
            events: Events::with_capacity(NonZeroUsize::new(1024).unwrap_or(NonZeroUsize::MIN)),
        })
    }

    pub(crate) fn set(
        &self,
        fd: BorrowedFd<'_>,
        key: u64,
        interest: Interest,
        add: bool,
    ) -> io::Result<()> {
        let event = event(key, interest);
        if !add {
            return self.poller.modify_with_mode(fd, event, PollMode::Level);
        }
        // `add_with_mode`'s contract: the fd stays open while it is registered with a
        // poller that is still used. The only caller, `Registry`, owns the source: a
        // failed add drops it unregistered, and `Registry`'s drop closes the poller (its
        // first field) before the sources; `reset_after_fork` leaks the old one unused.
        // SAFETY: the contract holds: besides those paths, `deregister`/`remove` delete
        // the source from the poller before it is handed back or dropped.
        unsafe {
            self.poller
                .add_with_mode(fd.as_raw_fd(), event, PollMode::Level)
        }
    }

    /// `polling::Poller`'s epoll fd (the crate implements `AsFd` on every Unix).
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.poller.as_fd()
    }

    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.poller.delete(fd)
    }

    pub(crate) fn wait(
        &mut self,
        out: &mut Vec<(u64, Readiness)>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        self.events.clear();
        self.poller.wait(&mut self.events, timeout)?;
        out.extend(self.events.iter().map(|e| {
            let readiness = Readiness {
                readable: e.readable,
                writable: e.writable,
                error: e.is_err().unwrap_or(false),
                hangup: e.is_interrupt(),
                read_closed: false,
            };
            (e.key as u64, readiness)
        }));
        Ok(())
    }
}
