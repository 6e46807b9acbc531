//! A full descriptor table on the receiver (EMFILE): the reserve descriptor lets the
//! message through, then receiving pauses without spinning and without losing the next
//! message. Runs in a child process (re-executing this test binary in a role) because it
//! lowers `RLIMIT_NOFILE` and fills the table.

mod util;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use shoal_fdpass::FdPasser;
use shoal_test_util::{Reaped, in_role, role_command};
use util::{Inbox, devnull, push_recvs};

const ROLE: &str = "SHOAL_FDPASS_TEST_ROLE";
const PASSED: &str = "emfile role: all checks passed";

/// Re-executes this test binary running only `role_test`, with the role variable set,
/// and checks it passed and printed `PASSED`.
fn run_role(role_test: &str) {
    let child = role_command(role_test, ROLE, role_test)
        .arg("--nocapture")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaped(child);
    let status = child
        .wait_for(Duration::from_secs(30))
        .expect("wait for the role");
    let out = util::read_all(&mut child);
    assert!(status.is_some_and(|s| s.success()), "role failed:\n{out}");
    assert!(out.contains(PASSED), "role did not run its checks:\n{out}");
}

/// Lowers `RLIMIT_NOFILE` a little above the highest open descriptor and opens
/// `/dev/null` until `EMFILE`; returns the fillers and the old limit.
fn fill_the_table() -> (Vec<OwnedFd>, Rlimit) {
    let highest = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap();
    let old = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(highest + 8),
            maximum: old.maximum,
        },
    )
    .unwrap();
    let mut fillers: Vec<OwnedFd> = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => fillers.push(f.into()),
            Err(e) if e.raw_os_error() == Some(24) => break, // EMFILE
            Err(e) => panic!("unexpected error while filling the table: {e}"),
        }
        assert!(
            fillers.len() as u64 <= highest + 8,
            "the limit did not take effect"
        );
    }
    (fillers, old)
}

#[test]
fn a_full_descriptor_table_pauses_receiving_and_loses_nothing() {
    run_role("emfile_child_role");
}

/// The child's part; does nothing unless started by the test above.
#[test]
fn emfile_child_role() {
    if !in_role(ROLE, "emfile_child_role") {
        return;
    }
    let (mut tx, mut rx) = FdPasser::socketpair().unwrap();
    let (mut reader_one, writer_one) = std::io::pipe().unwrap();
    let (mut reader_two, writer_two) = std::io::pipe().unwrap();
    tx.send_fd(writer_one.into()).unwrap();
    tx.send_fd(writer_two.into()).unwrap();

    let (mut fillers, old) = fill_the_table();

    let inbox: Inbox = Arc::default();
    push_recvs(&mut rx, 2, &inbox);
    rx.on_readable();
    {
        let got = inbox.lock().unwrap();
        assert_eq!(
            got.len(),
            1,
            "exactly the first message arrives through the reserve slot"
        );
        let msg = got[0]
            .as_ref()
            .expect("no truncation: the reserve slot took the descriptor");
        assert_eq!(msg.fds.len(), 1);
    }
    assert!(
        rx.retry_at().is_some(),
        "receiving must pause while the table is full"
    );
    assert!(
        !rx.interest().readable,
        "a paused passer must not ask for readability (spin)"
    );
    // Retrying while still full receives nothing: the second message stays in the kernel.
    rx.on_readable();
    assert_eq!(inbox.lock().unwrap().len(), 1);

    // The delivered descriptor works.
    let first = inbox.lock().unwrap().remove(0).unwrap().into_fd().unwrap();
    std::fs::File::from(first).write_all(b"one").unwrap();
    // Free a slot: the retry refills the reserve and the second message arrives whole.
    fillers.pop();
    rx.on_readable();
    let second = inbox.lock().unwrap().remove(0).expect("second message");
    let second = second.into_fd().unwrap();
    assert!(second.as_raw_fd() >= 0);
    std::fs::File::from(second).write_all(b"two").unwrap();

    drop(fillers);
    setrlimit(Resource::Nofile, old).unwrap();
    let mut text = String::new();
    reader_one.read_to_string(&mut text).unwrap();
    reader_two.read_to_string(&mut text).unwrap();
    assert_eq!(text, "onetwo");
    drop(devnull());
    println!("{PASSED}");
}

/// The same inside a `shoal-reactor` loop: the pause takes the socket out of epoll and a
/// reactor timer retries, so the second message arrives once a slot is free, without
/// anyone calling `on_readable`.
#[cfg(feature = "reactor")]
#[test]
fn in_the_reactor_a_timer_resumes_receiving_after_emfile() {
    run_role("reactor_emfile_child_role");
}

#[cfg(feature = "reactor")]
#[test]
fn reactor_emfile_child_role() {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Instant;

    if !in_role(ROLE, "reactor_emfile_child_role") {
        return;
    }
    let mut reactor = shoal_reactor::Reactor::new().unwrap();
    let (mut tx, rx) = FdPasser::socketpair().unwrap();
    let rx = rx.register(&mut reactor).unwrap();
    tx.send_fd(devnull()).unwrap();
    tx.send_fd(devnull()).unwrap();
    let got: Rc<RefCell<Vec<OwnedFd>>> = Rc::default();
    for _ in 0..2 {
        let got = Rc::clone(&got);
        rx.push_recv(&mut reactor, move |_cx, result| {
            got.borrow_mut()
                .push(result.expect("no truncation").into_fd().unwrap());
        });
    }
    let (mut fillers, old) = fill_the_table();
    let end = Instant::now() + Duration::from_secs(10);
    while got.borrow().is_empty() {
        assert!(Instant::now() < end, "first message never arrived");
        reactor.run_once(Some(Duration::from_millis(50))).unwrap();
    }
    // Paused: a few more iterations deliver nothing while the table is full.
    for _ in 0..3 {
        reactor.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(got.borrow().len(), 1);
    fillers.pop();
    while got.borrow().len() < 2 {
        assert!(
            Instant::now() < end,
            "the retry timer never resumed receiving"
        );
        reactor.run_once(Some(Duration::from_millis(100))).unwrap();
    }
    drop(fillers);
    setrlimit(Resource::Nofile, old).unwrap();
    println!("{PASSED}");
}
