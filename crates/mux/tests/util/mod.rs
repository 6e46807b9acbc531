//! Helpers shared by the mux integration tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use shoal_mux::{Event, Mux};

/// Upper bound on how long a test waits for one expected event (a hung test fails
/// instead of blocking the suite; nothing is timed).
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// The next event other than `Timeout`, waiting at most [`PATIENCE`].
pub(crate) fn next<M: std::fmt::Debug>(mux: &mut Mux<M>) -> Event<M> {
    let end = Instant::now() + PATIENCE;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no event within {PATIENCE:?}");
        match mux.next_event(Some(left.min(Duration::from_millis(200)))) {
            Ok(Event::Timeout) => continue,
            Ok(event) => return event,
            Err(e) => panic!("next_event: {e}"),
        }
    }
}

/// Events until `stop` says so (that event included), at most [`PATIENCE`] and 100 000
/// events.
pub(crate) fn until<M: std::fmt::Debug>(
    mux: &mut Mux<M>,
    mut stop: impl FnMut(&Event<M>) -> bool,
) -> Vec<Event<M>> {
    let mut events = Vec::new();
    for _ in 0..100_000 {
        let event = next(mux);
        let done = stop(&event);
        events.push(event);
        if done {
            return events;
        }
    }
    panic!("stop condition never met: {events:?}");
}
