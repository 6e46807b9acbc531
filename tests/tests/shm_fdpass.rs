//! A `shoal-shm-share` memfd region handed to a spawned process with `shoal-fdpass`: the
//! composition the statsd daemon uses for its aggregation region.
#![allow(unsafe_code)] // `Command::pre_exec` and adopting the inherited socket by number.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use shoal_fdpass::{FdPasser, Options};
use shoal_shm_share::SharedRegion;
use shoal_tests::util::{Reaped, in_role, role_command};

/// Environment variable naming the role of the re-executed test binary.
const ROLE: &str = "SHOAL_SHM_FDPASS_ROLE";
/// Environment variable with the inherited socket's number.
const SOCKET_VAR: &str = "SHOAL_SHM_FDPASS_SOCKET";
/// Increments made by each side.
const ITERS: u64 = 2_000;

fn increment(region: &SharedRegion) {
    let mut guard = region.lock().expect("lock");
    let n: u64 = guard.get().expect("get").unwrap_or(0);
    guard.set(&(n + 1)).expect("set");
}

#[test]
fn memfd_region_sent_over_fdpass_is_shared_with_a_spawned_process() {
    let region = SharedRegion::memfd("shm-fdpass", 64).expect("memfd region");
    region.set(&0u64).expect("set");
    let (mut ours, theirs) = FdPasser::socketpair().expect("socketpair");
    let raw = theirs.as_fd().as_raw_fd();
    let mut cmd = role_command("role_receive_region_and_count", ROLE, "count");
    cmd.env(SOCKET_VAR, raw.to_string()).stdout(Stdio::null());
    // SAFETY: between fork and exec the closure makes one async-signal-safe system call
    // (fcntl) on a descriptor this process owns, in the child's own descriptor table.
    unsafe {
        cmd.pre_exec(move || {
            let fd = rustix::fd::BorrowedFd::borrow_raw(raw);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            Ok(())
        });
    }
    let mut child = Reaped(cmd.spawn().expect("spawn"));
    drop(theirs);
    let memfd = rustix::io::fcntl_dupfd_cloexec(region.fd().expect("memfd"), 0).expect("dup");
    ours.send_fd(memfd).expect("send the memfd");
    for _ in 0..ITERS {
        increment(&region);
    }
    let status = child.wait_for(Duration::from_secs(60)).expect("wait");
    assert!(status.is_some_and(|s| s.success()), "child: {status:?}");
    assert_eq!(region.get::<u64>().expect("get"), Some(2 * ITERS));
}

/// Role entry: does nothing unless re-executed by the test above.
#[test]
fn role_receive_region_and_count() {
    if !in_role(ROLE, "count") {
        return;
    }
    let raw: i32 = std::env::var(SOCKET_VAR)
        .expect("socket variable")
        .parse()
        .expect("socket number");
    // SAFETY: the parent passed this socket to us by inheritance; nothing else in this
    // process owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut passer = FdPasser::from_socket(socket, &Options::default()).expect("passer");
    let region = SharedRegion::from_fd(passer.recv_fd().expect("receive the memfd"))
        .expect("validated region");
    for _ in 0..ITERS {
        increment(&region);
    }
}
