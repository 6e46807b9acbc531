//! A signal interrupting the wait (`EINTR`) neither fails the iteration nor cuts the
//! wait short: it is retried with the time that remains, so the timer that bounded it
//! still fires in the same iteration.
#![allow(unsafe_code)] // `sigaction`/`pthread_kill` through libc: rustix has no `sigaction`.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

extern "C" fn ignore(_: libc::c_int) {}

#[test]
fn eintr_is_retried_with_the_remaining_timeout() {
    // SAFETY: installs a handler that does nothing (async-signal-safe), without
    // SA_RESTART, so the loop's `epoll_pwait` returns EINTR when the signal arrives.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
    for (backend, mut reactor) in util::reactors() {
        // SAFETY: `pthread_self` has no preconditions.
        let loop_thread = unsafe { libc::pthread_self() } as usize;
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let (stop2, sent2) = (Arc::clone(&stop), Arc::clone(&sent));
        let signaller = std::thread::spawn(move || {
            while !stop2.load(Ordering::Acquire) {
                // SAFETY: the loop thread outlives this thread (joined below).
                unsafe { libc::pthread_kill(loop_thread as libc::pthread_t, libc::SIGUSR1) };
                sent2.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let fired = Rc::new(Cell::new(false));
        let f = Rc::clone(&fired);
        reactor.add_timer(Duration::from_millis(150), move |_| f.set(true));
        let result = reactor.run_once(Some(Duration::from_secs(5)));
        stop.store(true, Ordering::Release);
        signaller.join().expect("signaller");
        result.expect("EINTR must not fail the iteration");
        assert!(
            sent.load(Ordering::Relaxed) >= 2,
            "{backend:?}: no signal was sent during the wait"
        );
        assert!(
            fired.get(),
            "{backend:?}: the interrupted wait returned before its timer was due"
        );
    }
}
