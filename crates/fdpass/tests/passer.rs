//! `FdPasser` over socket pairs: ordering, truncation, limits, ends.

mod util;

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use shoal_fdpass::{End, Error, FdPasser, Mode, Options, Outgoing};
use shoal_test_util::open_fd_count;
use util::{Inbox, devnull, drive, pair_with_receiver, push_recvs, serial};

/// Fills the socket buffer so sends hit EAGAIN and queue, then checks every message
/// arrives in order and every sender copy was closed.
#[test]
fn order_is_kept_when_the_socket_buffer_fills() {
    let _serial = serial();
    let baseline = open_fd_count();
    let (mut tx, mut rx) = FdPasser::socketpair().unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let mut queued_at_most = 0;
    const N: u32 = 3000;
    for i in 0..N {
        let sent = Arc::clone(&sent);
        let order = i as usize;
        tx.push_send(
            Outgoing::new(vec![devnull()], i.to_le_bytes().to_vec()).unwrap(),
            move || {
                assert_eq!(
                    sent.fetch_add(1, Ordering::SeqCst),
                    order,
                    "sent out of order"
                )
            },
        )
        .unwrap();
        queued_at_most = queued_at_most.max(tx.queued_sends());
    }
    assert!(
        queued_at_most > 0,
        "the socket buffer never filled: no EAGAIN exercised"
    );
    assert!(tx.interest().writable);
    let inbox: Inbox = Arc::default();
    push_recvs(&mut rx, N as usize, &inbox);
    drive(&mut [&mut tx, &mut rx], || {
        inbox.lock().unwrap().len() == N as usize
    });
    assert_eq!(sent.load(Ordering::SeqCst), N as usize);
    for (i, msg) in inbox.lock().unwrap().drain(..).enumerate() {
        let msg = msg.unwrap();
        assert_eq!(msg.payload, (i as u32).to_le_bytes());
        assert_eq!(msg.fds.len(), 1);
    }
    drop((tx, rx));
    assert_eq!(open_fd_count(), baseline, "descriptors leaked");
}

/// More descriptors than the receiver has room for: an error for that message with the
/// arrived ones closed, and the next message still arrives.
#[test]
fn truncated_descriptors_are_closed_and_the_passer_goes_on() {
    let _serial = serial();
    let (mut tx, mut rx) = pair_with_receiver(&Options::new().max_fds(2));
    let baseline = open_fd_count();
    let five: Vec<OwnedFd> = (0..5).map(|_| devnull()).collect();
    tx.send(Outgoing::new(five, b"five".to_vec()).unwrap())
        .unwrap();
    assert_eq!(open_fd_count(), baseline, "sender copies must be closed");
    // The kernel's room is at least 2 (alignment may give a little more), less than 5.
    match rx.recv() {
        Err(Error::FdsTruncated { closed }) if (2..5).contains(&closed) => {}
        other => panic!("expected FdsTruncated, got {other:?}"),
    }
    assert_eq!(
        open_fd_count(),
        baseline,
        "truncated message leaked descriptors"
    );
    // Three fit in the kernel's room but break the receiver's limit of two.
    let three: Vec<OwnedFd> = (0..3).map(|_| devnull()).collect();
    tx.send(Outgoing::new(three, b"three".to_vec()).unwrap())
        .unwrap();
    assert!(matches!(rx.recv(), Err(Error::FdsTruncated { closed: 3 })));
    assert_eq!(open_fd_count(), baseline);
    tx.send(Outgoing::new(vec![devnull()], b"one".to_vec()).unwrap())
        .unwrap();
    let next = rx.recv().unwrap();
    assert_eq!(next.payload, b"one");
    assert_eq!(next.fds.len(), 1);
    drop(next);
    assert_eq!(open_fd_count(), baseline);
}

#[test]
fn an_oversized_payload_is_a_per_message_error() {
    let _serial = serial();
    let (mut tx, mut rx) = pair_with_receiver(&Options::new().max_payload(4));
    let baseline = open_fd_count();
    tx.send(Outgoing::new(vec![devnull()], b"0123456789".to_vec()).unwrap())
        .unwrap();
    tx.send(Outgoing::new(vec![devnull()], b"ok".to_vec()).unwrap())
        .unwrap();
    let err = rx.recv().unwrap_err();
    assert!(matches!(err, Error::PayloadTruncated { max: 4 }), "{err:?}");
    assert!(err.is_per_message());
    assert_eq!(open_fd_count(), baseline);
    assert_eq!(rx.recv().unwrap().payload, b"ok");
}

#[test]
fn limits_are_checked_before_anything_is_sent() {
    let _serial = serial();
    let (mut tx, _rx) = FdPasser::socketpair().unwrap();
    let baseline = open_fd_count();
    let many: Vec<OwnedFd> = (0..254).map(|_| devnull()).collect();
    assert!(matches!(
        Outgoing::new(many, b"x".to_vec()),
        Err(Error::TooManyFds {
            count: 254,
            max: 253
        })
    ));
    assert!(matches!(
        Outgoing::new(vec![devnull()], Vec::new()),
        Err(Error::EmptyPayload)
    ));
    let big = Outgoing::new(vec![devnull()], vec![7; 5000]).unwrap();
    assert!(matches!(
        tx.push_send(big, || {}),
        Err(Error::PayloadTooLarge {
            len: 5000,
            max: 4096
        })
    ));
    assert_eq!(tx.queued_sends(), 0);
    assert_eq!(
        open_fd_count(),
        baseline,
        "rejected messages must close their descriptors"
    );
    // 253 is allowed and arrives whole.
    let (mut tx, mut rx) = FdPasser::socketpair().unwrap();
    let max: Vec<OwnedFd> = (0..253).map(|_| devnull()).collect();
    tx.send(Outgoing::new(max, b"m".to_vec()).unwrap()).unwrap();
    assert_eq!(rx.recv().unwrap().fds.len(), 253);
}

#[test]
fn payload_only_messages_pass_in_seqpacket_mode() {
    let _serial = serial();
    let (mut tx, mut rx) = FdPasser::socketpair().unwrap();
    tx.send(Outgoing::new(Vec::new(), b"hello".to_vec()).unwrap())
        .unwrap();
    let msg = rx.recv().unwrap();
    assert_eq!((msg.payload.as_slice(), msg.fds.len()), (&b"hello"[..], 0));
}

#[test]
fn a_descriptor_is_usable_on_the_other_side() {
    let _serial = serial();
    let (mut tx, mut rx) = FdPasser::socketpair().unwrap();
    let (mut reader, writer) = std::io::pipe().unwrap();
    tx.send_fd(writer.into()).unwrap();
    let mut received = std::fs::File::from(rx.recv_fd().unwrap());
    received.write_all(b"through the socket").unwrap();
    drop(received);
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    assert_eq!(text, "through the socket");
}

#[test]
fn received_descriptors_are_close_on_exec() {
    let _serial = serial();
    let (mut tx, mut rx) = FdPasser::socketpair().unwrap();
    let plain = rustix::io::dup(devnull()).unwrap();
    assert!(
        !rustix::io::fcntl_getfd(&plain)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    );
    tx.send_fd(plain).unwrap();
    let got = rx.recv_fd().unwrap();
    assert!(
        rustix::io::fcntl_getfd(&got)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    );
}

#[test]
fn stream_mode_speaks_one_fd_per_byte_and_survives_stray_bytes() {
    let _serial = serial();
    let opts = Options::new().mode(Mode::Stream);
    let (mut tx, mut rx) = FdPasser::socketpair_with(&opts).unwrap();
    assert!(matches!(
        tx.push_send(
            Outgoing::new(vec![devnull(), devnull()], b"x".to_vec()).unwrap(),
            || {}
        ),
        Err(Error::StreamFraming { fds: 2, payload: 1 })
    ));
    tx.send_fd(devnull()).unwrap();
    // A peer that writes bytes without descriptors: each is its own per-message error.
    rustix::io::write(&tx, b"zz").unwrap();
    tx.send_fd(devnull()).unwrap();
    assert_eq!(rx.recv().unwrap().fds.len(), 1);
    assert!(matches!(rx.recv(), Err(Error::MissingFd)));
    assert!(matches!(rx.recv(), Err(Error::MissingFd)));
    assert_eq!(rx.recv().unwrap().fds.len(), 1);
}

#[test]
fn the_peer_closing_is_an_orderly_end_reported_once() {
    let _serial = serial();
    let (tx, mut rx) = FdPasser::socketpair().unwrap();
    let ends: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&ends);
    rx.set_on_end(move |end| seen.lock().unwrap().push(format!("{end:?}")));
    let inbox: Inbox = Arc::default();
    push_recvs(&mut rx, 1, &inbox);
    drop(tx);
    drive(&mut [&mut rx], || rx_closed(&ends));
    rx.on_readable();
    assert_eq!(
        ends.lock().unwrap().as_slice(),
        ["PeerClosed { unsent: 0 }"]
    );
    assert!(inbox.lock().unwrap().is_empty());
    assert!(rx.is_closed());
    assert!(matches!(
        rx.recv(),
        Err(Error::Shutdown) | Err(Error::PeerClosed)
    ));
}

fn rx_closed(ends: &Arc<Mutex<Vec<String>>>) -> bool {
    !ends.lock().unwrap().is_empty()
}

#[test]
fn a_blocking_recv_sees_the_peer_close_as_peer_closed() {
    let _serial = serial();
    let (tx, mut rx) = FdPasser::socketpair().unwrap();
    drop(tx);
    assert!(matches!(rx.recv(), Err(Error::PeerClosed)));
}

/// Sending to a closed peer is `EPIPE` (no SIGPIPE kills the test process) and ends the
/// passer in order, telling how many messages were left unsent.
#[test]
fn sending_to_a_vanished_peer_ends_without_sigpipe() {
    let _serial = serial();
    let (mut tx, rx) = FdPasser::socketpair().unwrap();
    drop(rx);
    let end: Arc<Mutex<Option<End>>> = Arc::default();
    let slot = Arc::clone(&end);
    tx.set_on_end(move |e| *slot.lock().unwrap() = Some(e));
    tx.push_send(devnull(), || {
        panic!("must not report a send to a closed peer")
    })
    .unwrap();
    assert!(matches!(
        *end.lock().unwrap(),
        Some(End::PeerClosed { unsent: 1 })
    ));
    assert!(matches!(
        tx.push_send(devnull(), || {}),
        Err(Error::Shutdown)
    ));
}

#[test]
fn peer_credentials_name_this_process_on_both_ends() {
    let _serial = serial();
    let (a, b) = FdPasser::socketpair().unwrap();
    for p in [&a, &b] {
        let cred = p.peer_credentials().unwrap();
        assert_eq!(cred.pid as u32, std::process::id());
        assert_eq!(cred.uid, rustix::process::getuid().as_raw());
        assert_eq!(cred.gid, rustix::process::getgid().as_raw());
    }
}

#[test]
fn nonblocking_is_the_default_and_can_be_opted_out() {
    let _serial = serial();
    let nonblocking = |p: &FdPasser| {
        rustix::fs::fcntl_getfl(p.as_fd())
            .unwrap()
            .contains(rustix::fs::OFlags::NONBLOCK)
    };
    let (a, _b) = FdPasser::socketpair().unwrap();
    assert!(nonblocking(&a));
    let (c, _d) = FdPasser::socketpair_with(&Options::new().set_nonblocking(false)).unwrap();
    assert!(!nonblocking(&c));
}

/// A socket error ends the passer: `on_end` gets `Failed` exactly once, queued callbacks
/// are dropped, and later calls are refused. (A pipe is not a socket: `recvmsg` fails
/// with `ENOTSOCK`.)
#[test]
fn a_fatal_error_shuts_the_passer_down_and_is_reported_once() {
    let _serial = serial();
    let (reader, _writer) = std::io::pipe().unwrap();
    let mut passer = FdPasser::from_socket(reader.into(), &Options::new()).unwrap();
    let ends: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&ends);
    passer.set_on_end(move |end| seen.lock().unwrap().push(format!("{end:?}")));
    let inbox: Inbox = Arc::default();
    push_recvs(&mut passer, 2, &inbox);
    passer.on_readable();
    passer.on_readable();
    let ends = ends.lock().unwrap();
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert!(
        ends[0].starts_with("Failed(Io { op: \"recvmsg\""),
        "{ends:?}"
    );
    assert!(inbox.lock().unwrap().is_empty());
    assert_eq!(passer.queued_recvs(), 0);
    assert!(passer.is_closed());
    assert_eq!(passer.interest(), shoal_fdpass::Interest::default());
    assert!(matches!(
        passer.push_send(devnull(), || {}),
        Err(Error::Shutdown)
    ));
}

#[test]
fn on_end_set_after_the_end_runs_at_once() {
    let _serial = serial();
    let (tx, mut rx) = FdPasser::socketpair().unwrap();
    drop(tx);
    let inbox: Inbox = Arc::default();
    push_recvs(&mut rx, 1, &inbox);
    rx.on_readable();
    assert!(rx.is_closed());
    let told = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&told);
    rx.set_on_end(move |end| {
        assert!(matches!(end, End::PeerClosed { unsent: 0 }));
        count.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(told.load(Ordering::SeqCst), 1);
}

/// With the non-blocking opt-out the socket blocks, yet the queue still never does: every
/// `sendmsg` is `MSG_DONTWAIT`, so a full buffer queues instead of hanging this test.
#[test]
fn push_send_never_blocks_even_on_a_blocking_socket() {
    let _serial = serial();
    let (mut tx, mut rx) =
        FdPasser::socketpair_with(&Options::new().set_nonblocking(false)).unwrap();
    for _ in 0..3000 {
        tx.push_send(devnull(), || {}).unwrap();
    }
    assert!(tx.queued_sends() > 0, "the buffer never filled");
    let inbox: Inbox = Arc::default();
    push_recvs(&mut rx, 3000, &inbox);
    drive(&mut [&mut tx, &mut rx], || {
        inbox.lock().unwrap().len() == 3000
    });
    assert_eq!(tx.queued_sends(), 0);
}
