//! The library half of `shoal-statsd`, a statsd-compatible, multi-process metrics
//! aggregator: everything that does not depend on processes, sockets or signals, so it
//! can be tested, fuzzed and reused on its own.
//!
//! - [`parse`]: the statsd line protocol, Etsy's rules plus DogStatsD tags;
//! - [`metrics`]: aggregation over a flush interval, bounded in metrics and memory;
//! - [`flush`]: the Graphite plaintext flush under Etsy's non-legacy names;
//! - [`admin`]: the admin interface's commands and replies;
//! - [`cli`]: the command line;
//! - [`number`]: numbers written as JavaScript writes them;
//! - [`wire`]: a binary form of [`metrics::Metrics`] for handing aggregates over;
//! - [`area`]: a worker's hand-over area in shared memory (`shoal-shm-share`).
//!
//! The daemon itself (supervisor, workers, sinks, reload) is the `shoal-statsd`
//! binary; see `docs/statsd.md`.
//!
//! ```
//! use shoal_statsd::flush::{FlushConfig, write_flush};
//! use shoal_statsd::metrics::{Limits, Metrics};
//!
//! let mut metrics = Metrics::new(Limits::default());
//! metrics.ingest_packet(b"requests:1|c|@0.5\nlatency:20|ms\nqueue:+3|g");
//! let mut out = String::new();
//! let config = FlushConfig { interval_ms: 10_000, percentiles: vec![90.0] };
//! write_flush(&mut out, &metrics, 1_700_000_000, None, &config);
//! assert!(out.contains("stats.counters.requests.count 2 1700000000\n"));
//! assert!(out.contains("stats.timers.latency.upper_90 20 1700000000\n"));
//! assert!(out.contains("stats.gauges.queue 3 1700000000\n"));
//! ```

pub mod admin;
pub mod area;
pub mod cli;
pub mod flush;
pub mod metrics;
pub mod number;
pub mod parse;
pub mod wire;
