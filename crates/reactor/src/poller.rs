//! The readiness poller under the registry: epoll through `rustix`, or the portable
//! `polling` crate (feature `polling`), chosen at run time with [`Backend`].
//!
//! Registrations are level-triggered: a socket that still has unread bytes (because its
//! handler stopped at its read budget) is reported again by the next wait without any
//! `epoll_ctl`, which is what makes the per-socket budget fair without a ready list for
//! kernel readiness. An fd whose interest becomes empty is deleted from the poller rather
//! than modified to an empty mask, because `EPOLLHUP`/`EPOLLERR` cannot be masked and
//! would spin the loop.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::epoll;

use crate::readiness::{Interest, Readiness};

/// Which readiness mechanism a poller uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// `epoll` through `rustix::event::epoll`: one `epoll_pwait` per iteration.
    #[default]
    Epoll,
    /// The `polling` crate (feature `polling`), the portable backend. On Linux it is
    /// epoll too, but its `wait` spends extra syscalls (a timerfd, re-arming).
    #[cfg(feature = "polling")]
    Polling,
}

impl Backend {
    /// Every backend compiled into this build, `Epoll` first (tests iterate over it).
    pub fn all() -> &'static [Backend] {
        &[
            Backend::Epoll,
            #[cfg(feature = "polling")]
            Backend::Polling,
        ]
    }
}

/// Most events taken from the kernel per wait (Danga::Socket used 1000).
const EVENTS_PER_WAIT: usize = 1024;

pub(crate) enum Poller {
    Epoll {
        epoll: OwnedFd,
        buf: Vec<epoll::Event>,
    },
    #[cfg(feature = "polling")]
    Polling(crate::polling_backend::PollingPoller),
}

impl Poller {
    /// `epoll_create1(EPOLL_CLOEXEC)` (or `polling::Poller::new`, also close-on-exec).
    pub(crate) fn new(backend: Backend) -> io::Result<Self> {
        match backend {
            Backend::Epoll => Ok(Poller::Epoll {
                epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
                buf: Vec::with_capacity(EVENTS_PER_WAIT),
            }),
            #[cfg(feature = "polling")]
            Backend::Polling => Ok(Poller::Polling(
                crate::polling_backend::PollingPoller::new()?
            )),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Poller::Epoll { .. } => Backend::Epoll,
            #[cfg(feature = "polling")]
            Poller::Polling(_) => Backend::Polling,
        }
    }

    /// `epoll_ctl(EPOLL_CTL_ADD)` (`add`) or `epoll_ctl(EPOLL_CTL_MOD)`, level-triggered.
    pub(crate) fn set(
        &self,
        fd: BorrowedFd<'_>,
        key: u64,
        interest: Interest,
        add: bool,
    ) -> io::Result<()> {
        match self {
            Poller::Epoll { epoll, .. } => {
                let (data, flags) = (epoll::EventData::new_u64(key), epoll_flags(interest));
                if add {
                    epoll::add(epoll, fd, data, flags)?;
                } else {
                    epoll::modify(epoll, fd, data, flags)?;
                }
                Ok(())
            }
            #[cfg(feature = "polling")]
            Poller::Polling(p) => p.set(fd, key, interest, add),
        }
    }

    /// `epoll_ctl(EPOLL_CTL_DEL)`.
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        match self {
            Poller::Epoll { epoll, .. } => Ok(epoll::delete(epoll, fd)?),
            #[cfg(feature = "polling")]
            Poller::Polling(p) => p.delete(fd),
        }
    }

    /// `epoll_pwait`: appends `(key, readiness)` to `out`. `EINTR` is retried with the
    /// time that remains; `None` waits forever. rustix rounds a sub-millisecond timeout
    /// up to 1 ms, never down to 0 (no spin, mio#1614).
    pub(crate) fn wait(
        &mut self,
        out: &mut Vec<(u64, Readiness)>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut remaining = timeout;
        loop {
            let result = match self {
                Poller::Epoll { epoll, buf } => wait_epoll(epoll, buf, out, remaining),
                #[cfg(feature = "polling")]
                Poller::Polling(p) => p.wait(out, remaining),
            };
            match result {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if let Some(deadline) = deadline {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Ok(());
                        }
                        remaining = Some(left);
                    }
                }
                other => return other,
            }
        }
    }

    /// Forgets this poller without closing it. After `fork` the child shares the
    /// parent's epoll instance: closing it there is harmless, but deleting from it (as a
    /// drop of registered sources would) removes the parent's registrations
    /// (smol-rs/polling#37), so the child leaks it instead.
    pub(crate) fn leak(self) {
        std::mem::forget(self);
    }
}

impl AsFd for Poller {
    /// The epoll instance itself: ours, or the `polling` crate's (which also holds that
    /// crate's own notifier eventfd and one-shot timerfd).
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Poller::Epoll { epoll, .. } => epoll.as_fd(),
            #[cfg(feature = "polling")]
            Poller::Polling(p) => p.as_fd(),
        }
    }
}

fn epoll_flags(interest: Interest) -> epoll::EventFlags {
    let mut flags = epoll::EventFlags::empty();
    if interest.read {
        flags |= epoll::EventFlags::IN | epoll::EventFlags::RDHUP;
    }
    if interest.write {
        flags |= epoll::EventFlags::OUT;
    }
    flags
}

fn wait_epoll(
    epoll: &OwnedFd,
    buf: &mut Vec<epoll::Event>,
    out: &mut Vec<(u64, Readiness)>,
    timeout: Option<Duration>,
) -> io::Result<()> {
    buf.clear();
    let timespec = timeout.map(|t| rustix::time::Timespec {
        tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(t.subsec_nanos()),
    });
    epoll::wait(
        epoll,
        rustix::buffer::spare_capacity(buf),
        timespec.as_ref(),
    )?;
    out.extend(buf.iter().map(|event| {
        let flags = event.flags;
        let readiness = Readiness {
            readable: flags.intersects(epoll::EventFlags::IN | epoll::EventFlags::PRI),
            writable: flags.contains(epoll::EventFlags::OUT),
            error: flags.contains(epoll::EventFlags::ERR),
            hangup: flags.contains(epoll::EventFlags::HUP),
            read_closed: flags.contains(epoll::EventFlags::RDHUP),
        };
        (event.data.u64(), readiness)
    }));
    Ok(())
}
