//! [`ReadinessFd`]: the wake-up for owners that run their own poller.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::event::{EventfdFlags, eventfd};

use crate::handoff::Notify;

/// An eventfd that turns readable when the pump has queued packets: register it with any
/// poller (epoll, `polling`, mio through its raw fd) for readability, then call
/// [`UdpPump::drain`](crate::UdpPump::drain).
///
/// Clones share the one eventfd (keep one to register, give one to the pump). The
/// descriptor is non-blocking and close-on-exec. The pump writes to it at most once per
/// batch and not again until a drain has begun, so the counter never grows without bound
/// and a level-triggered poller is not woken by packets already being drained.
#[derive(Debug, Clone)]
pub struct ReadinessFd {
    fd: Arc<OwnedFd>,
}

impl ReadinessFd {
    /// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`—A new readiness descriptor, not readable
    /// until notified.
    ///
    /// # Errors
    /// What `eventfd` fails with (`EMFILE`, `ENFILE`, `ENOMEM`).
    pub fn new() -> io::Result<Self> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(ReadinessFd { fd: Arc::new(fd) })
    }

    /// `read(eventfd)`—Whether a notification was pending (it is consumed).
    pub fn take(&self) -> bool {
        let mut value = [0u8; 8];
        loop {
            match rustix::io::read(self.fd.as_fd(), &mut value) {
                Ok(_) => return true,
                Err(rustix::io::Errno::INTR) => continue,
                // EAGAIN: nothing pending.
                Err(_) => return false,
            }
        }
    }
}

impl AsFd for ReadinessFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Notify for ReadinessFd {
    /// `write(eventfd, 1)`. It cannot block (non-blocking) and cannot fail short of the
    /// counter overflowing, which one write per drain makes impossible.
    fn notify(&self) {
        let one = 1u64.to_ne_bytes();
        while let Err(rustix::io::Errno::INTR) = rustix::io::write(self.fd.as_fd(), &one) {}
    }

    fn clear(&self) {
        self.take();
    }
}
