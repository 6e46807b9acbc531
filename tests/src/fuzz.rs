//! Fuzz harnesses: one function per target, shared by `fuzz/` and the stable replay test.
//!
//! A harness takes arbitrary bytes and panics only when an invariant of the code under
//! test is broken (the fuzzer reports a panic as a crash). Register each harness in
//! [`TARGETS`] under the name of its file in `fuzz/fuzz_targets/`; seeds live in
//! `fuzz/seeds/<name>/` and minimised crashes in `fuzz/crashes/<name>/`.

pub mod fdpass;
pub mod mux;
pub mod shm;
pub mod udp_pump;

/// A fuzz harness: runs the code under test on one input.
pub type Harness = fn(&[u8]);

/// `shoal-statsd`'s line parser, aggregation, flush formatter and admin commands on one
/// datagram: never a panic, bounds held, every flushed line `name value timestamp`.
pub fn statsd_line(data: &[u8]) {
    use shoal_statsd::flush::{FlushConfig, write_flush};
    use shoal_statsd::metrics::{Limits, Metrics};
    let limits = Limits {
        max_metrics: 16,
        max_sample_bytes: 1024,
    };
    let mut metrics = Metrics::new(limits);
    metrics.ingest_packet(data);
    assert!(metrics.len() <= limits.max_metrics);
    assert!(metrics.sample_bytes() <= limits.max_sample_bytes);
    let lines = shoal_statsd::parse::lines(data).count() as u64;
    assert_eq!(metrics.counts.metrics_received, lines);
    let config = FlushConfig {
        interval_ms: 1000,
        percentiles: vec![90.0, -50.0],
    };
    let mut out = String::new();
    write_flush(&mut out, &metrics, 1, Some(0.0), &config);
    for line in out.lines() {
        assert_eq!(line.split(' ').count(), 3, "flushed line {line:?}");
    }
    let command = shoal_statsd::admin::parse_command(&String::from_utf8_lossy(data));
    let mut health = true;
    let (reply, _) = shoal_statsd::admin::execute(
        &command,
        shoal_statsd::admin::AdminView {
            metrics: &mut metrics,
            totals: &Default::default(),
            uptime_secs: 0,
            since_last_msg_secs: 0,
            health_up: &mut health,
            extra_stats: &[],
            config: &[],
        },
    );
    assert!(reply.is_empty() || reply.ends_with("END\n\n"));
}

/// Every fuzz target, by name (the file stem in `fuzz/fuzz_targets/`).
pub const TARGETS: &[(&str, Harness)] = &[
    ("statsd_line", statsd_line),
    ("fdpass_decode", fdpass::fdpass_decode),
    ("shm_from_fd", shm::shm_from_fd),
    ("mux_delimiter", mux::mux_delimiter),
    ("mux_fixed", mux::mux_fixed),
    ("mux_http", mux::mux_http),
    ("mux_last", mux::mux_last),
    ("mux_length", mux::mux_length),
    ("mux_regex", mux::mux_regex),
    ("udp_pump_proc_table", udp_pump::udp_pump_proc_table),
];

/// The harness registered under `name`, if any.
pub fn harness(name: &str) -> Option<Harness> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}
