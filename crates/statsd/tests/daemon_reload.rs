//! End to end: a reload during traffic loses nothing and carries the state over.

mod util;

use std::time::Duration;

use util::Daemon;

#[test]
fn reload_during_traffic_loses_nothing() {
    let mut daemon = Daemon::start("reload", 2, 100, &["--rcvbuf", "4194304"]);
    daemon.send(b"kept:42|g");
    daemon.wait_for("the gauge", |d| {
        d.flushed_last("stats.gauges.kept") == Some(42.0)
    });
    let first = daemon.supervisor_pid();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let total: u32 = 4000;
    for i in 0..total {
        sender.send_to(b"during:1|c", daemon.udp).unwrap();
        if i == total / 4 {
            assert_eq!(daemon.admin("reload"), "reloading\nEND\n\n");
        }
        if i == total / 2 {
            // The second reload by signal, to the generation the first one started.
            let pid = daemon.supervisor_pid();
            assert_ne!(pid, first, "the first reload made a new generation");
            let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
            rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
        }
        if i % 100 == 0 {
            // Paced so the socket buffer never overflows: loss here would be the kernel's.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    daemon.wait_for("every packet flushed", |d| {
        d.flushed_sum("stats.counters.during.count") == f64::from(total)
    });
    daemon.wait_for("the third generation", |d| {
        d.stat("supervisor.generation") == 3
    });
    // State carried over: the gauge, and the totals since the first start.
    daemon.wait_for("the gauge still flushed", |d| {
        d.flushed()
            .lines()
            .rev()
            .take(50)
            .any(|l| l.starts_with("stats.gauges.kept 42 "))
    });
    assert_eq!(
        daemon.stat("messages.packets_received"),
        u64::from(total) + 1
    );
    // The first generation exited once it had handed over.
    let status = daemon.child.0.try_wait();
    let status = match status {
        Ok(Some(s)) => Some(s),
        _ => daemon.child.0.wait().ok(),
    };
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

#[test]
fn reload_after_the_binary_was_replaced_starts_the_new_file() {
    let dir = util::TempDir::new("statsd-upgrade");
    let binary = dir.join("shoal-statsd");
    std::fs::copy(env!("CARGO_BIN_EXE_shoal-statsd"), &binary).unwrap();
    let daemon = Daemon::start_in(dir, binary.clone(), 1, 100, &[]);
    // Replace the file as an upgrade does (a new inode renamed over the old path):
    // /proc/self/exe of the running daemon now reads "PATH (deleted)".
    let staged = binary.with_extension("new");
    std::fs::copy(env!("CARGO_BIN_EXE_shoal-statsd"), &staged).unwrap();
    std::fs::rename(&staged, &binary).unwrap();
    assert_eq!(daemon.admin("reload"), "reloading\nEND\n\n");
    daemon.wait_for("the second generation", |d| {
        d.stat("supervisor.generation") == 2
    });
    daemon.send(b"upgraded:1|c");
    daemon.wait_for("traffic after the upgrade", |d| {
        d.flushed_sum("stats.counters.upgraded.count") == 1.0
    });
}
