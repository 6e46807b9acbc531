//! End to end: what real clients send is what the daemon flushes, for every type.

mod util;

use util::{Daemon, nc_udp, python_statsd};

#[test]
fn every_metric_type_flushes_what_was_sent() {
    let daemon = Daemon::start("types", 2, 200, &["--percentiles", "90,50"]);
    python_statsd(
        &daemon,
        "for i in range(10):\n    c.incr('hits')\n\
         c.gauge('temp', 50)\n\
         c.timing('lat', 100)\nc.timing('lat', 300)\nc.timing('lat', 200)\n\
         c.set('users', 'ann')\nc.set('users', 'bob')\nc.set('users', 'ann')",
    );
    // nc: a sampled counter and timer, a tagged counter, gauge deltas, several lines per
    // datagram (datagrams taken by different workers are not ordered with each other, so
    // a gauge and its deltas go in one).
    nc_udp(
        &daemon,
        b"delta:10|g\ndelta:+5|g\ndelta:-2|g\nsampled:1|c|@0.1\nsampled:2|c|@0.5\nslow:5|ms|@0.25\nreq:1|c|#route:/a,env:prod\nreq:2|c|#env:prod,route:/a",
    );
    daemon.wait_for("every metric flushed", |d| {
        d.flushed_sum("stats.counters.hits.count") == 10.0
            && d.flushed_sum("stats.counters.sampled.count") == 14.0
            && d.flushed_sum("stats.counters.req.count;env=prod;route=-a") == 3.0
            && d.flushed_sum("stats.timers.lat.count") == 3.0
            && d.flushed_sum("stats.timers.slow.count") == 4.0
            && d.flushed_sum("stats.sets.users.count") == 2.0
            && d.flushed_last("stats.gauges.temp") == Some(50.0)
            && d.flushed_last("stats.gauges.delta") == Some(13.0)
    });
    // The three timer values arrived in one interval (one client, one worker hand-over
    // at most apart): check the statistics where they were flushed together.
    let out = daemon.flushed();
    if out.contains("stats.timers.lat.count 3 ") {
        for expected in [
            "stats.timers.lat.upper 300 ",
            "stats.timers.lat.lower 100 ",
            "stats.timers.lat.mean 200 ",
            "stats.timers.lat.median 200 ",
            "stats.timers.lat.sum 600 ",
            "stats.timers.lat.upper_90 300 ",
            "stats.timers.lat.count_50 2 ",
            "stats.timers.lat.upper_50 200 ",
        ] {
            assert!(out.contains(expected), "{expected:?} not flushed:\n{out}");
        }
    }
    // Rates are per second of the 200 ms interval.
    let rate_line = out
        .lines()
        .find(|l| l.starts_with("stats.counters.hits.count ") && !l.contains(" 0 "))
        .expect("a hits flush");
    let count: f64 = rate_line.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        out.contains(&format!("stats.counters.hits.rate {} ", count * 5.0)),
        "rate of {count} in 200 ms not flushed:\n{out}"
    );
    // Every flushed line is Graphite plaintext: name value timestamp.
    for line in out.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "{line:?}");
        fields[1].parse::<f64>().expect("a value");
        fields[2].parse::<u64>().expect("a timestamp");
    }
    assert!(out.contains("stats.statsd.numStats "));
}

#[test]
fn bad_lines_are_counted_never_fatal() {
    let daemon = Daemon::start("bad", 1, 200, &[]);
    nc_udp(
        &daemon,
        b"no_colon\nx:1|q\nneg:-1|ms\nrate:1|c|@0\nok:1|c\n:1|c",
    );
    daemon.wait_for("the good line", |d| {
        d.flushed_sum("stats.counters.ok.count") == 1.0
    });
    daemon.wait_for("bad lines counted", |d| {
        d.stat("messages.bad_lines_seen") == 5
    });
    daemon.wait_for("bad lines flushed", |d| {
        d.flushed_sum("stats.counters.statsd.bad_lines_seen.count") == 5.0
    });
    assert_eq!(daemon.admin("health"), "health: up\nEND\n\n");
}

#[test]
fn new_names_past_max_metrics_are_dropped_and_counted() {
    let daemon = Daemon::start("bounded", 1, 200, &["--max-metrics", "3"]);
    let lines: Vec<String> = (0..10).map(|i| format!("m{i}:1|c")).collect();
    daemon.send(lines.join("\n").as_bytes());
    daemon.wait_for("drops counted", |d| d.stat("metrics.dropped") == 7);
    assert_eq!(daemon.stat("metrics.held"), 3);
}

#[test]
fn sigterm_flushes_once_and_exits() {
    let mut daemon = Daemon::start("term", 2, 60_000, &[]);
    daemon.send(b"final:4|c");
    // The hand-over period is a tenth of the interval capped at 1 s; wait until the
    // supervisor has it, then stop long before the 60 s flush.
    daemon.wait_for("the packet", |d| d.stat("messages.packets_received") == 1);
    let pid = rustix::process::Pid::from_raw(daemon.child.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = daemon.child.wait_for(util::PATIENCE).unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_eq!(daemon.flushed_sum("stats.counters.final.count"), 4.0);
}
