//! The token registry over the poller: a slab of sources keyed by generational
//! [`Token`]s, kept in step with the poller's interest list.
//!
//! This is a building block on its own: `shoal-mux` uses it without the callback loop.
//! A token is a slot index plus the slot's generation; a slot's generation changes when
//! its source is removed, so an event that was already in a batch for a removed source
//! (and a source registered since in the same slot, possibly with the same fd number)
//! is recognised as stale and dropped by [`Registry::wait`] and [`Registry::is_active`].

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use crate::poller::{Backend, Poller};
use crate::readiness::{Interest, Readiness};

/// Names one registered source: slot index and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(u64);

impl Token {
    fn new(slot: u32, generation: u32) -> Self {
        Token((u64::from(generation) << 32) | u64::from(slot))
    }

    fn slot(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The token as the 64-bit key stored in the poller.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

struct Occupied<T> {
    value: T,
    interest: Interest,
    /// Whether the fd is in the poller's interest list (never while `interest` is empty
    /// or after `deregister`).
    in_poller: bool,
    /// `false` after `deregister`: events are dropped, the slot is kept.
    active: bool,
}

struct Slot<T> {
    generation: u32,
    entry: Option<Occupied<T>>,
}

/// A slab of sources (`T: AsFd`) registered with one poller.
///
/// The registry owns its sources, so it can guarantee that an fd is deleted from the
/// poller before it is dropped or handed back: epoll registrations follow the open
/// file, not the fd number, and a registration outliving its fd (after a `dup`) would
/// keep firing.
pub struct Registry<T> {
    // Field order is load-bearing: fields drop in declaration order, so the poller is
    // closed before `slots` drops the sources still registered with it. The `polling`
    // backend's `add_with_mode` SAFETY argument relies on that (a source is never closed
    // while registered with a live poller).
    poller: Poller,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    raw: Vec<(u64, Readiness)>,
}

impl<T: AsFd> Registry<T> {
    /// `epoll_create1(EPOLL_CLOEXEC)` (or the chosen backend) and an empty slab.
    ///
    /// # Errors
    /// The poller could not be created (`EMFILE`, `ENOMEM`).
    pub fn new(backend: Backend) -> io::Result<Self> {
        Ok(Registry {
            poller: Poller::new(backend)?,
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            raw: Vec::new(),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.poller.backend()
    }

    /// `epoll_ctl(EPOLL_CTL_ADD)` unless `interest` is empty; stores `value` under a fresh
    /// token.
    ///
    /// # Errors
    /// The poller refused the fd (`EPERM` for a regular file, `ENOMEM`, `ENOSPC`); the
    /// value is dropped.
    pub fn insert(&mut self, value: T, interest: Interest) -> io::Result<Token> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len())
                    .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "registry full"))?;
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                slot
            }
        };
        let index = slot as usize;
        let token = Token::new(slot, self.slots[index].generation);
        if !interest.is_empty()
            && let Err(e) = self
                .poller
                .set(value.as_fd(), token.as_u64(), interest, true)
        {
            self.free.push(slot);
            return Err(e);
        }
        self.slots[index].entry = Some(Occupied {
            value,
            interest,
            in_poller: !interest.is_empty(),
            active: true,
        });
        self.len += 1;
        Ok(token)
    }

    fn occupied(&self, token: Token) -> Option<&Occupied<T>> {
        let slot = self.slots.get(token.slot())?;
        if slot.generation != token.generation() {
            return None;
        }
        slot.entry.as_ref()
    }

    fn occupied_mut(&mut self, token: Token) -> Option<&mut Occupied<T>> {
        let slot = self.slots.get_mut(token.slot())?;
        if slot.generation != token.generation() {
            return None;
        }
        slot.entry.as_mut()
    }

    /// The source under `token`, if it is still in the slab (active or deregistered).
    pub fn get(&self, token: Token) -> Option<&T> {
        self.occupied(token).map(|o| &o.value)
    }

    /// The source under `token`, mutably.
    pub fn get_mut(&mut self, token: Token) -> Option<&mut T> {
        self.occupied_mut(token).map(|o| &mut o.value)
    }

    /// Whether `token` names a source whose events are still delivered (present and not
    /// deregistered). Check it before dispatching each event of a batch.
    pub fn is_active(&self, token: Token) -> bool {
        self.occupied(token).is_some_and(|o| o.active)
    }

    /// The interest last set for `token`.
    pub fn interest(&self, token: Token) -> Option<Interest> {
        self.occupied(token).map(|o| o.interest)
    }

    /// `epoll_ctl` to make the poller watch `interest`: `ADD` when the fd was out of the
    /// poller, `DEL` when `interest` is empty, `MOD` otherwise, nothing if unchanged.
    ///
    /// # Errors
    /// `NotFound` for a stale token or a deregistered source; the poller's error.
    pub fn set_interest(&mut self, token: Token, interest: Interest) -> io::Result<()> {
        let Some(slot) = self.slots.get_mut(token.slot()) else {
            return Err(stale());
        };
        let Some(o) = slot
            .entry
            .as_mut()
            .filter(|_| slot.generation == token.generation())
        else {
            return Err(stale());
        };
        if !o.active {
            return Err(stale());
        }
        if o.interest == interest && o.in_poller != interest.is_empty() {
            return Ok(());
        }
        let fd = o.value.as_fd();
        if interest.is_empty() {
            if o.in_poller {
                self.poller.delete(fd)?;
            }
        } else {
            self.poller
                .set(fd, token.as_u64(), interest, !o.in_poller)?;
        }
        o.in_poller = !interest.is_empty();
        o.interest = interest;
        Ok(())
    }

    /// `epoll_ctl(EPOLL_CTL_DEL)` now; the source stays in the slab (its events are
    /// dropped) until [`Registry::remove`]. Returns `false` for a stale token.
    pub fn deregister(&mut self, token: Token) -> bool {
        let Some(slot) = self.slots.get_mut(token.slot()) else {
            return false;
        };
        let Some(o) = slot
            .entry
            .as_mut()
            .filter(|_| slot.generation == token.generation())
        else {
            return false;
        };
        if o.in_poller {
            // The only failure is ENOENT/EBADF for an fd the kernel already dropped.
            let _ = self.poller.delete(o.value.as_fd());
            o.in_poller = false;
        }
        o.active = false;
        true
    }

    /// Deregisters (if still registered) and takes the source out; the slot's generation
    /// changes, so `token` and any event carrying it are stale from now on.
    pub fn remove(&mut self, token: Token) -> Option<T> {
        if !self.deregister(token) {
            return None;
        }
        let slot = &mut self.slots[token.slot()];
        let entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(token.slot() as u32);
        self.len -= 1;
        Some(entry.value)
    }

    /// Number of sources in the slab (active or deregistered).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slab is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every source with its token, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Token, &T)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, slot)| {
            slot.entry
                .as_ref()
                .map(|o| (Token::new(i as u32, slot.generation), &o.value))
        })
    }

    /// `epoll_pwait` (EINTR retried with the remaining time; `None` waits forever) and
    /// appends the events of active sources to `events`; stale tokens are dropped.
    ///
    /// # Errors
    /// The poller's error other than `EINTR`.
    pub fn wait(
        &mut self,
        events: &mut Vec<(Token, Readiness)>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        self.raw.clear();
        self.poller.wait(&mut self.raw, timeout)?;
        for &(key, readiness) in &self.raw {
            let token = Token(key);
            if self.occupied(token).is_some_and(|o| o.active) {
                events.push((token, readiness));
            }
        }
        Ok(())
    }

    /// After `fork`, in the child: replaces the poller with a fresh one of the same
    /// backend, leaking the old one (never closed or deleted from: it is the parent's
    /// epoll instance too), and registers every active source with the new one.
    ///
    /// # Errors
    /// Creating the new poller or registering a source failed; the registry then holds
    /// the new poller with whatever was registered so far.
    pub fn reset_after_fork(&mut self) -> io::Result<()> {
        let fresh = Poller::new(self.poller.backend())?;
        std::mem::replace(&mut self.poller, fresh).leak();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(o) = slot.entry.as_mut() else {
                continue;
            };
            o.in_poller = false;
            if o.active && !o.interest.is_empty() {
                let token = Token::new(i as u32, slot.generation);
                self.poller
                    .set(o.value.as_fd(), token.as_u64(), o.interest, true)?;
                o.in_poller = true;
            }
        }
        Ok(())
    }
}

/// The poller's epoll fd, for nesting the registry in another loop: it polls readable
/// (level-triggered) while a [`Registry::wait`] would return at least one event, so an
/// outer epoll, `poll(2)` or reactor can watch it and call `wait` with a zero timeout
/// when it fires. A wake-up may find nothing: the event can belong to a source removed
/// since, and with `Backend::Polling` (feature `polling`) the fd also holds the
/// `polling` crate's own notifier eventfd and one-shot timerfd (armed by a wait that
/// returned early), each good for at most one empty wake-up.
/// [`Registry::reset_after_fork`] replaces the poller, and with it this fd: watchers
/// must register the new one.
impl<T> AsFd for Registry<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.poller.as_fd()
    }
}

fn stale() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "stale or deregistered token")
}
