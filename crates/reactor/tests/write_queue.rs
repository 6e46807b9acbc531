//! The write queue through a socket: partial writes to a slow reader keep bytes and
//! completions in order; a reset peer is `EPIPE`/`ECONNRESET`, never `SIGPIPE`.

mod util;

use std::cell::RefCell;
use std::io::Read as _;
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::Duration;

use shoal_reactor::{CloseReason, FlushStop, Read, Socket, WriteMode, WriteQueue};

fn pattern(chunk: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((chunk * 7 + i) % 251) as u8).collect()
}

#[test]
fn slow_reader_gets_every_byte_in_order_and_completions_run_in_order() {
    const CHUNKS: usize = 64;
    const CHUNK: usize = 64 * 1024;
    for (backend, mut reactor) in util::reactors() {
        let (server, mut client) = util::tcp_pair();
        let token = reactor
            .register_socket(server, |_: &mut Socket<'_>| {})
            .expect("register");
        let (start_tx, start_rx) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            // Start reading only once the writer has queued what the kernel refused.
            let _ = start_rx.recv();
            let mut got = Vec::new();
            let mut buf = vec![0u8; 4096];
            loop {
                let n = client.read(&mut buf).expect("read");
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n]);
                if got.len() % (256 * 1024) < 4096 {
                    std::thread::sleep(Duration::from_millis(1)); // slow reader
                }
            }
        });
        let done = Rc::new(RefCell::new(Vec::new()));
        let mut all_out_at_once = 0;
        {
            let mut sock = reactor.socket(token).expect("socket");
            for chunk in 0..CHUNKS {
                if sock.write(&pattern(chunk, CHUNK)).expect("write") {
                    all_out_at_once += 1;
                }
                let done = Rc::clone(&done);
                sock.write_completion(move |s| {
                    // Everything before this completion is out of the queue.
                    done.borrow_mut().push((chunk, s.queued_bytes()));
                })
                .expect("completion");
            }
            assert!(
                sock.queued_bytes() > 0,
                "{backend:?}: 4 MiB cannot fit in the socket buffers"
            );
        }
        assert!(all_out_at_once < CHUNKS);
        start_tx.send(()).expect("start reader");
        util::run_until(
            &mut reactor,
            "flush to a slow reader",
            Duration::from_secs(30),
            |r| {
                r.socket(token).is_some_and(|s| s.queued_bytes() == 0)
                    && done.borrow().len() == CHUNKS
            },
        );
        let order: Vec<usize> = done.borrow().iter().map(|&(c, _)| c).collect();
        assert_eq!(order, (0..CHUNKS).collect::<Vec<_>>(), "{backend:?}");
        reactor.close(token, "test done");
        reactor.run_once(Some(Duration::ZERO)).expect("run_once");
        let got = reader.join().expect("reader");
        let expected: Vec<u8> = (0..CHUNKS).flat_map(|c| pattern(c, CHUNK)).collect();
        assert_eq!(got.len(), expected.len(), "{backend:?}");
        assert!(got == expected, "{backend:?}: bytes reordered or corrupted");
    }
}

#[test]
fn write_to_a_reset_peer_closes_with_a_reason_and_raises_no_sigpipe() {
    // A SIGPIPE would kill this test process: surviving is part of the proof.
    for (backend, mut reactor) in util::reactors() {
        let (server, client) = util::tcp_pair();
        let reason = Rc::new(RefCell::new(None));
        struct Recorder(Rc<RefCell<Option<String>>>);
        impl shoal_reactor::Handler for Recorder {
            fn on_readable(&mut self, sock: &mut Socket<'_>) {
                let _ = sock.read(1024);
            }
            fn on_close(&mut self, _: &mut shoal_reactor::Context, reason: &CloseReason) {
                let kind = match reason {
                    CloseReason::WriteError(e) | CloseReason::Error(e) => format!("{:?}", e.kind()),
                    other => other.to_string(),
                };
                *self.0.borrow_mut() = Some(kind);
            }
        }
        let token = reactor
            .register_socket(server, Recorder(Rc::clone(&reason)))
            .expect("register");
        // Do not read on the server side: only the write path sees the reset.
        reactor.socket(token).expect("socket").watch_read(false);
        // RST: linger 0, then close.
        rustix::net::sockopt::set_socket_linger(&client, Some(Duration::ZERO)).expect("linger");
        drop(client);
        let chunk = vec![7u8; 64 * 1024];
        let mut writes = 0;
        util::run_until(
            &mut reactor,
            "write error after reset",
            Duration::from_secs(10),
            |r| {
                if let Some(mut sock) = r.socket(token)
                    && sock.write(&chunk).is_ok()
                {
                    writes += 1;
                }
                reason.borrow().is_some()
            },
        );
        let reason = reason.borrow().clone().expect("closed");
        assert!(
            reason == "ConnectionReset" || reason == "BrokenPipe",
            "{backend:?}: closed for {reason} after {writes} writes"
        );
    }
}

#[test]
fn queue_flush_into_a_reset_socket_reports_epipe_twice_without_sigpipe() {
    let (server, client) = util::tcp_pair();
    rustix::net::sockopt::set_socket_linger(&client, Some(Duration::ZERO)).expect("linger");
    drop(client);
    let mut queue: WriteQueue<()> = WriteQueue::new();
    let mut kinds = Vec::new();
    for _ in 0..50 {
        queue.push_bytes(b"after the reset").expect("push");
        if let FlushStop::Error(e) = queue.flush(server.as_fd(), WriteMode::Socket).stop {
            kinds.push(e.kind());
            if kinds.len() == 2 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // ECONNRESET first (the pending error), then EPIPE: the one that raises SIGPIPE
    // without MSG_NOSIGNAL.
    assert_eq!(
        kinds.last(),
        Some(&std::io::ErrorKind::BrokenPipe),
        "{kinds:?}"
    );
}

#[test]
fn half_close_reads_eof_then_the_reply_still_goes_out() {
    for (backend, mut reactor) in util::reactors() {
        let (server, mut client) = util::tcp_pair();
        let closed = Rc::new(RefCell::new(false));
        let closed_in = Rc::clone(&closed);
        let echo = move |sock: &mut Socket<'_>| match sock.read(4096) {
            Ok(Read::Data(bytes)) => {
                let _ = sock.write_vec(bytes);
            }
            Ok(Read::WouldBlock) => {}
            Ok(Read::Eof) => {
                let closed = Rc::clone(&closed_in);
                let _ = sock.write(b"|bye");
                let _ = sock.write_completion(move |s| {
                    *closed.borrow_mut() = true;
                    s.close("peer finished");
                });
            }
            Err(e) => panic!("read: {e}"),
        };
        reactor.register_socket(server, echo).expect("register");
        use std::io::Write as _;
        client.write_all(b"hello").expect("write");
        client.shutdown(Shutdown::Write).expect("shutdown");
        util::run_until(&mut reactor, "half-close", Duration::from_secs(10), |_| {
            *closed.borrow()
        });
        reactor.run_once(Some(Duration::ZERO)).expect("run_once");
        let mut got = Vec::new();
        client.read_to_end(&mut got).expect("read to EOF");
        assert_eq!(got, b"hello|bye", "{backend:?}");
    }
}
