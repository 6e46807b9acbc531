//! Ending a pump delivered on a `shoal-reactor` loop: `ReactorPump::stop` joins the
//! thread and takes the waker out of the loop at once; dropping every handle joins the
//! thread and the loop's next iteration removes the waker. Either way no thread, no
//! eventfd and no socket is left behind. The tests count the process's fds, so they
//! take turns.
#![cfg(feature = "reactor")]

mod util;

use std::cell::Cell;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use shoal_reactor::Reactor;
use shoal_test_util::open_fd_count;
use shoal_udp_pump::{PumpBuilder, ReactorPump, bind_udp, local_addr};
use util::{PATIENCE, send_numbered, sender_for};

static FD_COUNTING: Mutex<()> = Mutex::new(());

/// Whether a thread of this process has `name` (`/proc/self/task/*/comm`).
fn thread_named(name: &str) -> bool {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .any(|comm| comm.trim_end() == name)
}

/// Whether the thread named `name` is gone within `PATIENCE` (a joined thread's task can
/// linger in `/proc` for a moment after `pthread_join` returns; a thread still blocked in
/// `recvfrom` never goes).
fn thread_gone(name: &str) -> bool {
    let end = Instant::now() + PATIENCE;
    while thread_named(name) {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Runs `reactor` until `done`, at most `PATIENCE`.
fn run_until(reactor: &mut Reactor, what: &str, mut done: impl FnMut(&Reactor) -> bool) {
    let end = Instant::now() + PATIENCE;
    while !done(reactor) {
        assert!(Instant::now() < end, "{what}: not done within {PATIENCE:?}");
        reactor.run_once(Some(Duration::from_millis(20))).unwrap();
    }
}

/// A pump on a fresh loopback socket whose callback counts packets.
fn spawn_counting(reactor: &mut Reactor, thread: &str) -> (ReactorPump, SocketAddr, Rc<Cell<u64>>) {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let delivered = Rc::new(Cell::new(0u64));
    let count = Rc::clone(&delivered);
    let handle = PumpBuilder::new()
        .thread_name(thread)
        .spawn_in_reactor(reactor, socket, move |_cx, item| {
            item.unwrap();
            count.set(count.get() + 1);
        })
        .unwrap();
    (handle, addr, delivered)
}

/// Sends 3 packets and runs the loop until the callback counted them; the pump thread
/// is then known to run (it names itself before it receives).
fn deliver_three(
    reactor: &mut Reactor,
    sender: &UdpSocket,
    addr: SocketAddr,
    delivered: &Cell<u64>,
    thread: &str,
) {
    send_numbered(sender, addr, 0, 3, 16);
    run_until(reactor, "3 packets delivered", |_| delivered.get() == 3);
    assert!(thread_named(thread), "no pump thread");
}

/// The callback (the only other holder of `delivered`) is dropped and the fd count is
/// back to `fds`.
fn assert_nothing_left(delivered: &Rc<Cell<u64>>, fds: usize, round: u32) {
    assert_eq!(
        Rc::strong_count(delivered),
        1,
        "round {round}: callback kept"
    );
    assert_eq!(
        open_fd_count(),
        fds,
        "round {round}: eventfd or socket leaked"
    );
}

/// This test's turn to count fds, a loop and a sender (made before the count).
fn fd_counting_setup() -> (MutexGuard<'static, ()>, Reactor, UdpSocket) {
    let turn = FD_COUNTING.lock().unwrap_or_else(PoisonError::into_inner);
    let sender = sender_for("127.0.0.1:9".parse().unwrap());
    (turn, Reactor::new().unwrap(), sender)
}

#[test]
fn stop_joins_the_thread_removes_the_waker_and_delivers_nothing_after() {
    const THREAD: &str = "pump-stop";
    let (_turn, mut reactor, sender) = fd_counting_setup();
    let fds = open_fd_count();
    let watched = reactor.watched_count();
    for round in 0..20 {
        let (handle, addr, delivered) = spawn_counting(&mut reactor, THREAD);
        deliver_three(&mut reactor, &sender, addr, &delivered, THREAD);

        handle.stop(&mut reactor).unwrap();
        assert!(handle.pump().is_finished());
        assert!(thread_gone(THREAD), "round {round}: thread left");
        assert_eq!(
            reactor.watched_count(),
            watched,
            "round {round}: waker left"
        );

        // The handle (and so the socket) is still alive: nothing sent now is delivered.
        send_numbered(&sender, addr, 3, 10, 16);
        for _ in 0..5 {
            reactor.run_once(Some(Duration::from_millis(10))).unwrap();
        }
        assert_eq!(delivered.get(), 3, "round {round}: delivered after stop");
        assert_eq!(handle.pump().counters().received, 3);
        handle.stop(&mut reactor).unwrap();

        drop(handle);
        assert_nothing_left(&delivered, fds, round);
    }
}

#[test]
fn dropping_the_handle_joins_the_thread_and_the_loop_then_removes_the_waker() {
    const THREAD: &str = "pump-drop";
    let (_turn, mut reactor, sender) = fd_counting_setup();
    let fds = open_fd_count();
    let watched = reactor.watched_count();
    for round in 0..20 {
        let (handle, addr, delivered) = spawn_counting(&mut reactor, THREAD);
        let clone = handle.clone();
        deliver_three(&mut reactor, &sender, addr, &delivered, THREAD);

        drop(handle);
        assert!(thread_named(THREAD), "a clone keeps the pump running");
        drop(clone);
        assert!(thread_gone(THREAD), "round {round}: thread left");
        // Without a context the drop cannot deregister: the next iteration does.
        run_until(&mut reactor, "waker removed", |r| {
            r.watched_count() == watched
        });
        assert_eq!(delivered.get(), 3);
        assert_nothing_left(&delivered, fds, round);
    }
}

#[test]
fn stop_in_another_loop_leaves_the_waker_where_it_is() {
    let _turn = FD_COUNTING.lock().unwrap_or_else(PoisonError::into_inner);
    let mut reactor = Reactor::new().unwrap();
    let mut other = Reactor::new().unwrap();
    let watched = reactor.watched_count();
    let (handle, _, _) = spawn_counting(&mut reactor, "pump-other");
    let _own = other.waker(|_| {}).unwrap();
    handle.stop(&mut other).unwrap();
    assert!(thread_gone("pump-other"));
    assert_eq!(
        other.watched_count(),
        1,
        "the other loop's waker was removed"
    );
    assert_eq!(reactor.watched_count(), watched + 1);
    handle.stop(&mut reactor).unwrap();
    assert_eq!(reactor.watched_count(), watched);
}
