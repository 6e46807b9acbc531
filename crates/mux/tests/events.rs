//! The event queue and per-handle state: timeouts, pushed events, metadata until
//! `Closed`, framing changed on a live handle.

mod util;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use shoal_mux::framing::{LengthPrefix, Rule};
use shoal_mux::{Event, Mux, Options};
use util::{next, until};

#[test]
fn timeout_with_nothing_to_report() {
    let mut mux: Mux = Mux::new().unwrap();
    assert!(matches!(
        mux.next_event(Some(Duration::ZERO)).unwrap(),
        Event::Timeout
    ));
    assert!(matches!(
        mux.next_event(Some(Duration::from_millis(5))).unwrap(),
        Event::Timeout
    ));
}

#[test]
fn pushed_events_come_first_in_order() {
    let mut mux: Mux<&str> = Mux::new().unwrap();
    let listener = mux.listen("tcp://127.0.0.1:0", Options::default()).unwrap();
    assert!(!mux.has_events());
    mux.push_event(Event::Sent { handle: listener });
    mux.push_event(Event::Timeout);
    assert!(mux.has_events());
    assert!(matches!(next(&mut mux), Event::Sent { handle } if handle == listener));
    assert!(matches!(mux.next_event(None).unwrap(), Event::Timeout));
    assert!(!mux.has_events());
}

#[test]
fn metadata_stays_until_closed_and_comes_back_with_it() {
    let mut mux: Mux<String> = Mux::new().unwrap();
    let listener = mux.listen("tcp://127.0.0.1:0", Options::default()).unwrap();
    let addr = SocketAddr::try_from(mux.local_addr(listener).unwrap()).unwrap();
    let client = TcpStream::connect(addr).unwrap();
    let handle = match next(&mut mux) {
        Event::Accepted { handle, .. } => handle,
        other => panic!("{other:?}"),
    };
    assert_eq!(mux.set_meta(handle, "session-1".to_owned()).unwrap(), None);
    drop(client);
    let events = until(&mut mux, |e| matches!(e, Event::Closing { .. }));
    assert!(matches!(events.last(), Some(Event::Closing { handle: h, .. }) if *h == handle));
    // Between Closing and Closed the metadata is still there.
    assert_eq!(mux.meta(handle).map(String::as_str), Some("session-1"));
    match next(&mut mux) {
        Event::Closed { handle: h, meta } => {
            assert_eq!(h, handle);
            assert_eq!(meta.as_deref(), Some("session-1"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mux.meta(handle), None);
}

#[test]
fn framing_changes_on_a_live_handle_without_losing_bytes() {
    let mut mux: Mux = Mux::new().unwrap();
    let options = Options::default().framing(Rule::delimiter(b"\n", 100).unwrap());
    let listener = mux.listen("tcp://127.0.0.1:0", options).unwrap();
    let addr = SocketAddr::try_from(mux.local_addr(listener).unwrap()).unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    let handle = match next(&mut mux) {
        Event::Accepted { handle, .. } => handle,
        other => panic!("{other:?}"),
    };
    // A line, then length-prefixed records, all in one write: the records arrive in the
    // same read as the line and must survive the rule change.
    client.write_all(b"UPGRADE\n\x03abc\x02de").unwrap();
    match next(&mut mux) {
        Event::Read { data, .. } => assert_eq!(data, b"UPGRADE"),
        other => panic!("{other:?}"),
    }
    let prefix = Rule::length_prefix(LengthPrefix::new(1, 16)).unwrap();
    mux.set_framing(handle, Some(prefix)).unwrap();
    let mut frames = Vec::new();
    while frames.len() < 2 {
        match next(&mut mux) {
            Event::Read { data, .. } => frames.push(data),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(frames, [&b"abc"[..], b"de"]);
    // Back to raw reads: a partial record buffered before the change comes out first.
    client.write_all(b"\x05xy").unwrap();
    assert!(matches!(
        mux.next_event(Some(Duration::from_millis(50))).unwrap(),
        Event::Timeout
    ));
    mux.set_framing(handle, None).unwrap();
    match next(&mut mux) {
        Event::Read { data, .. } => assert_eq!(data, b"\x05xy"),
        other => panic!("{other:?}"),
    }
}
