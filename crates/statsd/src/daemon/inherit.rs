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
///
/// Call it at the start of a child role's `main`, before any other thread exists: it
/// changes the environment.
pub(crate) fn take_all() -> io::Result<HashMap<String, OwnedFd>> {
    let spec = std::env::var(FDS_VAR)
        .map_err(|_| io::Error::new(io::ErrorKind::NotFound, format!("{FDS_VAR} is not set")))?;
    // SAFETY: the callers (`worker::run_inner`, `supervisor::run_reloaded`) run at the
    // start of a freshly exec'd process's `main`, before it starts any thread, so nothing
    // reads or writes the environment concurrently.
    unsafe { std::env::remove_var(FDS_VAR) };
    take(&spec)
}

/// Takes the descriptors named in `spec` (`name:number,…`).
///
/// Only a descriptor without `FD_CLOEXEC` is taken: one that crossed `exec` (everything
/// this process opens itself — std, rustix — is close-on-exec, so such a descriptor is
/// owned by no value here), and it is made close-on-exec as it is taken, so a number
/// named twice is refused the second time instead of being owned twice.
fn take(spec: &str) -> io::Result<HashMap<String, OwnedFd>> {
    let mut fds = HashMap::new();
    for entry in spec.split(',').filter(|e| !e.is_empty()) {
        let bad = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad {FDS_VAR} entry {entry:?}: {why}"),
            )
        };
        let (name, number) = entry.split_once(':').ok_or_else(|| bad("no ':'"))?;
        let raw: RawFd = number.parse().map_err(|_| bad("not a number"))?;
        if raw < 3 || fds.contains_key(name) {
            return Err(bad("a standard stream, or the name is repeated"));
        }
        // SAFETY: `raw` is only borrowed for the duration of this call; an fd number that
        // is not open makes fcntl fail with EBADF, touching nothing.
        let flags = rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(raw) })?;
        if flags.contains(FdFlags::CLOEXEC) {
            return Err(bad("close-on-exec: not inherited, or named twice"));
        }
        // `raw` is open and not close-on-exec (checked just above), so it was inherited
        // across exec and no value in this process owns it (see the doc of `take`).
        // SAFETY: so this `OwnedFd` is its only owner; it sets CLOEXEC at once, which
        // makes a second mention of the number fail the check above.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        rustix::io::fcntl_setfd(owned.as_fd(), FdFlags::CLOEXEC)?;
        fds.insert(name.to_owned(), owned);
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::IntoRawFd;
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn a_descriptor_this_process_opened_is_not_taken() {
        // std opens with close-on-exec: the number belongs to `ours`, not to an heir.
        let (mut ours, mut peer) = UnixStream::pair().unwrap();
        let taken = take(&format!("udp:{}", ours.as_raw_fd()));
        assert!(taken.is_err(), "took {taken:?}");
        // Still open and still ours.
        ours.write_all(b"x").unwrap();
        let mut byte = [0; 1];
        peer.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
    }

    #[test]
    fn a_number_named_twice_is_owned_once() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        // dup() leaves close-on-exec clear, as for an inherited descriptor.
        let raw = rustix::io::dup(&ours).unwrap().into_raw_fd();
        let taken = take(&format!("udp:{raw},area:{raw}"));
        assert!(taken.is_err(), "took {taken:?}");
        // The single owner was dropped with the error; `ours` is untouched.
        drop(ours);
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn an_inherited_descriptor_is_taken_and_made_close_on_exec() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        let raw = rustix::io::dup(&ours).unwrap().into_raw_fd();
        let mut taken = take(&format!("udp:{raw}")).unwrap();
        let udp = taken.remove("udp").unwrap();
        assert!(
            rustix::io::fcntl_getfd(&udp)
                .unwrap()
                .contains(FdFlags::CLOEXEC)
        );
        rustix::io::write(&udp, b"y").unwrap();
        let mut byte = [0; 1];
        peer.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"y");
    }
}
