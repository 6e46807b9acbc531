//! Tests that `fork`: a `harness = false` binary whose single-threaded `main` forks, so
//! no child inherits a lock held by another thread. Each check prints `ok` or panics.

// fork/waitpid/_exit through libc: rustix has no fork (tests may use libc).
#![allow(unsafe_code)]

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use shoal_fdpass::{FdPasser, Listener, Outgoing};

fn main() {
    let checks: [(&str, fn()); 3] = [
        (
            "a_descriptor_crosses_a_real_fork_and_the_sender_copy_is_closed",
            a_descriptor_crosses_a_real_fork_and_the_sender_copy_is_closed,
        ),
        (
            "a_forked_child_sends_many_in_order",
            a_forked_child_sends_many_in_order,
        ),
        (
            "the_socket_file_is_owner_only_whatever_the_umask",
            the_socket_file_is_owner_only_whatever_the_umask,
        ),
    ];
    for (name, check) in checks {
        check();
        println!("test {name} ... ok");
    }
}

/// Forks: `None` in the child, the child's pid in the parent.
fn fork() -> Option<libc::pid_t> {
    // SAFETY: this process is single-threaded (harness = false, no threads started), so
    // the child can run ordinary Rust code.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    (pid != 0).then_some(pid)
}

/// Runs the child's part and leaves the child: exit 0, or 101 if it panicked.
fn child_part(part: impl FnOnce()) -> ! {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(part));
    // SAFETY: leaves the child at once, without running the parent's atexit handlers.
    unsafe { libc::_exit(if outcome.is_ok() { 0 } else { 101 }) }
}

/// Waits (bounded) for `pid` and asserts it exited 0.
fn reap(pid: libc::pid_t) {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let mut status = 0;
        // SAFETY: plain waitpid on our own child.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if got == pid {
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "child failed: status {status:#x}"
            );
            return;
        }
        if Instant::now() > end {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("child {pid} did not exit");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The parent passes a pipe's write end; the child writes through it. The parent reads to
/// EOF, which only comes if the parent's own copy was closed after sending.
fn a_descriptor_crosses_a_real_fork_and_the_sender_copy_is_closed() {
    let (mut parent, mut child_end) = FdPasser::socketpair().unwrap();
    let parent_pid = std::process::id();
    let Some(pid) = fork() else {
        drop(parent);
        child_part(|| {
            let cred = child_end.peer_credentials().unwrap();
            assert_eq!(cred.pid as u32, parent_pid, "SO_PEERCRED names the parent");
            let fd = child_end.recv_fd().unwrap();
            std::fs::File::from(fd)
                .write_all(format!("hello from {}", std::process::id()).as_bytes())
                .unwrap();
        })
    };
    drop(child_end);
    let (mut reader, writer) = std::io::pipe().unwrap();
    parent.send_fd(writer.into()).unwrap();
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    assert_eq!(text, format!("hello from {pid}"));
    reap(pid);
}

/// The child sends 500 messages (each a pipe write end, payload = index) faster than the
/// parent reads; the parent checks the order and that each descriptor works.
fn a_forked_child_sends_many_in_order() {
    const N: u32 = 500;
    let (mut parent, mut child_end) = FdPasser::socketpair().unwrap();
    let (mut reader, writer) = std::io::pipe().unwrap();
    let writer: OwnedFd = writer.into();
    let Some(pid) = fork() else {
        drop(parent);
        child_part(|| {
            for i in 0..N {
                let fd = rustix::io::fcntl_dupfd_cloexec(&writer, 0).unwrap();
                child_end
                    .send(Outgoing::new(vec![fd], i.to_le_bytes().to_vec()).unwrap())
                    .unwrap();
            }
        })
    };
    drop(child_end);
    drop(writer);
    for i in 0..N {
        let msg = parent.recv().unwrap();
        assert_eq!(msg.payload, i.to_le_bytes(), "out of order");
        let mut file = std::fs::File::from(msg.into_fd().unwrap());
        file.write_all(&[b'a' + (i % 26) as u8]).unwrap();
    }
    assert!(matches!(
        parent.recv(),
        Err(shoal_fdpass::Error::PeerClosed)
    ));
    reap(pid);
    drop(parent);
    let mut text = Vec::new();
    reader.read_to_end(&mut text).unwrap();
    assert_eq!(text.len(), N as usize);
    assert!(
        text.iter()
            .enumerate()
            .all(|(i, b)| *b == b'a' + (i % 26) as u8)
    );
}

/// Changing the umask is process-wide, hence here in the single-threaded binary.
fn the_socket_file_is_owner_only_whatever_the_umask() {
    let dir = std::env::temp_dir().join(format!("fdpass-umask-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    for umask in [0o000, 0o022, 0o177, 0o777] {
        let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(umask));
        let path = dir.join("s");
        let listener = Listener::bind(&path, 4);
        rustix::process::umask(old);
        let listener = listener.unwrap();
        let mode = std::fs::symlink_metadata(&path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "umask {umask:o}");
        drop(listener);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
