//! End to end: a killed worker is restarted and the daemon keeps counting.

mod util;

use util::Daemon;

fn worker_pids(supervisor: u32) -> Vec<i32> {
    let children =
        std::fs::read_to_string(format!("/proc/{supervisor}/task/{supervisor}/children"))
            .expect("read children");
    children
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn a_killed_worker_is_restarted() {
    let daemon = Daemon::start("restart", 2, 200, &[]);
    daemon.wait_for("two workers", |d| d.stat("workers.running") == 2);
    let before = worker_pids(daemon.child.pid());
    assert_eq!(before.len(), 2, "{before:?}");
    let victim = rustix::process::Pid::from_raw(before[0]).unwrap();
    rustix::process::kill_process(victim, rustix::process::Signal::KILL).unwrap();
    daemon.wait_for("a restart", |d| {
        d.stat("workers.restarts") == 1 && d.stat("workers.running") == 2
    });
    let after = worker_pids(daemon.child.pid());
    assert_eq!(after.len(), 2);
    assert!(
        !after.contains(&before[0]),
        "{after:?} still has {}",
        before[0]
    );
    // Traffic after the restart is counted, whichever worker takes it.
    for _ in 0..20 {
        daemon.send(b"after:1|c");
    }
    daemon.wait_for("the traffic", |d| {
        d.flushed_sum("stats.counters.after.count") == 20.0
    });
}
