//! State-machine property test of one handle's send queue and close sequence, against
//! a real socketpair whose peer reads at random moments.
//!
//! Model: the bytes the peer receives are always a prefix of the bytes accepted by
//! `send`; `buflen` never exceeds what was accepted and not received; `Ready` comes
//! before any `Sent`; there are never more `Sent` events than sends, and at least one once bytes were sent and drained; after `close` every accepted byte
//! arrives before the peer sees EOF and `Closing { unsent: 0 }` then `Closed` end the
//! handle's events; after `kill`, `Closed` is the last event and the peer sees EOF.

use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use shoal_mux::{Event, Handle, Mux, Options};

#[derive(Clone, Debug)]
enum Op {
    Send(usize),
    PeerRead(usize),
    Poll,
    Close,
    Kill,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..300_000).prop_map(Op::Send),
        3 => (1usize..400_000).prop_map(Op::PeerRead),
        4 => Just(Op::Poll),
        1 => Just(Op::Close),
        1 => Just(Op::Kill),
    ]
}

#[derive(Default)]
struct Model {
    accepted: Vec<u8>,
    received: Vec<u8>,
    closing: bool,
    killed: bool,
    ready: bool,
    sends: usize,
    sent_events: usize,
    closing_seen: bool,
    closed_seen: bool,
    next_byte: u8,
}

impl Model {
    fn check_event(&mut self, handle: Handle, event: Event<()>) {
        assert_eq!(event.handle(), Some(handle));
        assert!(!self.closed_seen, "event after Closed: {event:?}");
        match event {
            Event::Ready { .. } => {
                assert!(!self.ready, "Ready twice");
                self.ready = true;
            }
            Event::Sent { .. } => {
                assert!(self.ready, "Sent before Ready");
                // Each `Sent` reports a drain after at least one `send`; one drain may
                // cover several sends.
                assert!(self.sent_events < self.sends, "more Sent than sends");
                self.sent_events += 1;
            }
            Event::Closing { unsent, .. } => {
                assert!(self.closing && !self.killed, "Closing without close");
                assert_eq!(unsent, 0, "a graceful close flushes everything");
                self.closing_seen = true;
            }
            Event::Closed { .. } => {
                assert!(self.killed || self.closing_seen, "Closed without Closing");
                self.closed_seen = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn peer_read(peer: &mut UnixStream, model: &mut Model, max: usize) -> bool {
    let mut buf = vec![0u8; max];
    match peer.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => {
            model.received.extend_from_slice(&buf[..n]);
            false
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(e) => panic!("peer read: {e}"),
    }
}

fn run(ops: &[Op]) {
    let (ours, mut peer) = UnixStream::pair().unwrap();
    peer.set_nonblocking(true).unwrap();
    let mut mux: Mux = Mux::new().unwrap();
    let handle = mux.add(ours.into(), Options::default()).unwrap();
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Send(len) => {
                let data: Vec<u8> = (0..*len)
                    .map(|i| m.next_byte.wrapping_add(i as u8))
                    .collect();
                let result = mux.send(handle, &data);
                if m.closing || m.killed {
                    assert!(result.is_err(), "send after close accepted");
                } else {
                    result.unwrap();
                    m.next_byte = m.next_byte.wrapping_add(*len as u8);
                    m.accepted.extend_from_slice(&data);
                    m.sends += 1;
                }
            }
            Op::PeerRead(max) => {
                peer_read(&mut peer, &mut m, *max);
            }
            Op::Poll => match mux.next_event(Some(Duration::ZERO)).unwrap() {
                Event::Timeout => {}
                event => m.check_event(handle, event),
            },
            Op::Close => {
                let r = mux.close(handle);
                assert_eq!(r.is_ok(), !m.killed && !m.closed_seen);
                m.closing |= r.is_ok();
            }
            Op::Kill => {
                let r = mux.kill(handle);
                assert_eq!(r.is_ok(), !m.killed && !m.closed_seen);
                m.killed |= r.is_ok();
            }
        }
        assert!(m.accepted.starts_with(&m.received), "bytes out of order");
        if let Some(buflen) = mux.buflen(handle) {
            assert!(buflen <= m.accepted.len() - m.received.len());
        }
    }
    // Finish: close (unless killed), then drive both sides until Closed and EOF.
    if !m.killed && !m.closing {
        mux.close(handle).unwrap();
        m.closing = true;
    }
    let end = Instant::now() + Duration::from_secs(20);
    let mut eof = false;
    while !(m.closed_seen && eof) {
        assert!(Instant::now() < end, "close sequence did not finish");
        if !m.closed_seen {
            match mux.next_event(Some(Duration::from_millis(1))).unwrap() {
                Event::Timeout => {}
                event => m.check_event(handle, event),
            }
        }
        eof |= peer_read(&mut peer, &mut m, 1 << 20);
        assert!(m.accepted.starts_with(&m.received));
    }
    if !m.killed {
        assert_eq!(
            m.received.len(),
            m.accepted.len(),
            "graceful close lost bytes"
        );
        assert_eq!(
            m.sent_events > 0,
            m.sends > 0,
            "a drained queue reports Sent"
        );
    }
    assert!(mux.handles().is_empty());
    assert!(matches!(
        mux.next_event(Some(Duration::ZERO)).unwrap(),
        Event::Timeout
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn send_queue_and_close_sequence(ops in prop::collection::vec(op(), 1..40)) {
        run(&ops);
    }
}
