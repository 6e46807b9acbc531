//! Delivery on a `shoal-reactor` loop (feature `reactor`): the pump wakes the loop and
//! the callback gets every packet, in order.
#![cfg(feature = "reactor")]

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shoal_reactor::Reactor;
use shoal_udp_pump::{PumpBuilder, bind_udp, local_addr};
use util::{PATIENCE, assert_adds_up, send_numbered, sender_for, seq_of};

#[test]
fn every_packet_reaches_the_callback_on_the_loop_thread() {
    const SENT: u64 = 20_000;
    let mut reactor = Reactor::new().unwrap();
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let in_loop = Rc::clone(&seen);
    let handle = PumpBuilder::new()
        .capacity(64)
        .recv_buffer(4 << 20)
        .spawn_in_reactor(&mut reactor, socket, move |_cx, item| {
            in_loop.borrow_mut().push(seq_of(item.unwrap().data()));
        })
        .unwrap();
    let loop_thread = std::thread::current().id();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            assert_ne!(std::thread::current().id(), loop_thread);
            send_numbered(&sender_for(addr), addr, 0, SENT, 64);
        });
        let end = Instant::now() + PATIENCE;
        loop {
            reactor.run_once(Some(Duration::from_millis(50))).unwrap();
            let stats = handle.pump().stats().unwrap();
            let kernel = stats.kernel_drops.unwrap();
            if stats.counters.received + kernel == SENT && stats.counters.in_flight == 0 {
                break;
            }
            assert!(
                Instant::now() < end,
                "stalled: {stats:?}, {} seen",
                seen.borrow().len()
            );
        }
    });
    let c = handle.pump().counters();
    assert_adds_up(&c);
    let seen = seen.borrow();
    assert_eq!(seen.len() as u64, c.delivered);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "out of order");
    handle.pump().stop().unwrap();
}
