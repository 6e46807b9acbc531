//! A full descriptor table on the receiver (EMFILE): the reserve descriptor lets the
//! message through, then receiving pauses without spinning and without losing the next
//! message. Runs in a child process (re-executing this test binary in a role) because it
//! lowers `RLIMIT_NOFILE` and fills the table.

mod util;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use shoal_fdpass::FdPasser;
use util::shared::Reaped;
use util::{Inbox, devnull, push_recvs};

const ROLE: &str = "SHOAL_FDPASS_TEST_ROLE";
const PASSED: &str = "emfile role: all checks passed";

#[test]
fn a_full_descriptor_table_pauses_receiving_and_loses_nothing() {
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(exe)
        .args([
            "--exact",
            "emfile_child_role",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(ROLE, "emfile")
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

/// The child's part; does nothing unless started by the test above.
#[test]
fn emfile_child_role() {
    if std::env::var(ROLE).as_deref() != Ok("emfile") {
        return;
    }
    let (mut tx, mut rx) = FdPasser::socketpair().unwrap();
    let (mut reader_one, writer_one) = std::io::pipe().unwrap();
    let (mut reader_two, writer_two) = std::io::pipe().unwrap();
    tx.send_fd(writer_one.into()).unwrap();
    tx.send_fd(writer_two.into()).unwrap();

    // Fill the table: a low limit, then open until EMFILE.
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
