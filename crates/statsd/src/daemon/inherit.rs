//! Descriptors passed to a child process across `exec`, by number, in an environment
//! variable (`SHOAL_STATSD_FDS=udp:5,area:6`).
#![allow(unsafe_code)] // Taking ownership of a descriptor inherited by number needs `from_raw_fd`.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;

use rustix::io::FdFlags;

/// The environment variable naming the inherited descriptors.
pub(crate) const FDS_VAR: &str = "SHOAL_STATSD_FDS";

/// Adds `fds` to `command` as inherited descriptors: each is duplicated without
/// close-on-exec (the copies are returned; keep them until the child is spawned, then
/// drop them) and named in [`FDS_VAR`].
pub(crate) fn pass(
    command: &mut Command,
    fds: &[(&str, BorrowedFd<'_>)],
) -> io::Result<Vec<OwnedFd>> {
    let mut copies = Vec::with_capacity(fds.len());
    let mut spec = Vec::with_capacity(fds.len());
    for (name, fd) in fds {
        // dup() never sets FD_CLOEXEC: the copy survives exec.
        let copy = rustix::io::dup(*fd)?;
        spec.push(format!("{name}:{}", copy.as_raw_fd()));
        copies.push(copy);
    }
    command.env(FDS_VAR, spec.join(","));
    Ok(copies)
}

/// Takes the descriptors named in [`FDS_VAR`] (each checked open, then made
/// close-on-exec again), keyed by name, and removes the variable.
pub(crate) fn take_all() -> io::Result<HashMap<String, OwnedFd>> {
    let spec = std::env::var(FDS_VAR)
        .map_err(|_| io::Error::new(io::ErrorKind::NotFound, format!("{FDS_VAR} is not set")))?;
    // SAFETY: no other thread runs yet (this is the start of main in a child process),
    // so nothing reads the environment concurrently.
    unsafe { std::env::remove_var(FDS_VAR) };
    let mut fds = HashMap::new();
    for entry in spec.split(',').filter(|e| !e.is_empty()) {
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad {FDS_VAR} entry {entry:?}"),
            )
        };
        let (name, number) = entry.split_once(':').ok_or_else(bad)?;
        let raw: RawFd = number.parse().map_err(|_| bad())?;
        if raw < 3 || fds.contains_key(name) {
            return Err(bad());
        }
        // SAFETY: `raw` is only borrowed for the duration of this check; an fd number
        // that is not open makes fcntl fail with EBADF, touching nothing.
        let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
        rustix::io::fcntl_getfd(borrowed)?;
        // SAFETY: the parent passed this open descriptor (checked just above) for this
        // process to own, and nothing else in this process refers to it: it was
        // inherited across exec and is named exactly once in the variable.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        rustix::io::fcntl_setfd(owned.as_fd(), FdFlags::CLOEXEC)?;
        fds.insert(name.to_owned(), owned);
    }
    Ok(fds)
}
