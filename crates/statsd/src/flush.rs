//! The flush: an interval's [`Metrics`] written as Graphite plaintext
//! (`name value unix_ts` lines) under Etsy's non-legacy names.
//!
//! - counters: `stats.counters.NAME.rate` (per second) and `.count`;
//! - timers: `stats.timers.NAME.{count_P, mean_P, upper_P, sum_P, sum_squares_P, …,
//!   std, upper, lower, count, count_ps, sum, sum_squares, mean, median}` as Etsy's
//!   `process_metrics` computes them (a negative percentile `-P` gives
//!   `lower_topP` and the `_topP` suffix);
//! - gauges: `stats.gauges.NAME`; sets: `stats.sets.NAME.count`;
//! - statsd's own: the counters `statsd.bad_lines_seen`, `statsd.packets_received`,
//!   `statsd.metrics_received` (and ours, `statsd.metrics_dropped`,
//!   `statsd.samples_dropped`) in the counters section, the gauge
//!   `statsd.timestamp_lag`, and `stats.statsd.numStats`,
//!   `stats.statsd.graphiteStats.calculationtime` and `stats.statsd.processing_time`.
//!
//! A tagged key `name;tag=value` keeps its tags after the whole path:
//! `stats.counters.name.count;tag=value`. Keys are written sorted (Etsy writes them
//! in arrival order).

use std::time::Instant;

use crate::metrics::Metrics;
use crate::number::write_js;

/// What the flush needs besides the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct FlushConfig {
    /// The flush interval in milliseconds (rates are per second of it).
    pub interval_ms: u64,
    /// Percentile thresholds (Etsy's `percentThreshold`), each in `-100..=100` but 0.
    pub percentiles: Vec<f64>,
}

/// Writes one flush of `metrics` at `timestamp` (Unix seconds) into `out`.
///
/// `timestamp_lag` is Etsy's `statsd.timestamp_lag` gauge (seconds late against the
/// interval; none on the first flush). Returns `numStats`, the number of metrics
/// written.
pub fn write_flush(
    out: &mut String,
    metrics: &Metrics,
    timestamp: u64,
    timestamp_lag: Option<f64>,
    config: &FlushConfig,
) -> usize {
    let started = Instant::now();
    let ts = format!(" {timestamp}\n");
    let per_second = config.interval_ms as f64 / 1000.0;
    let mut num_stats = 0;

    for (name, count) in metrics.counts.named() {
        write_counter(out, name, count as f64, per_second, &ts);
        num_stats += 1;
    }
    for (key, value) in sorted(&metrics.counters) {
        write_counter(out, key, *value, per_second, &ts);
        num_stats += 1;
    }
    for (key, timer) in sorted(&metrics.timers) {
        let mut values = timer.values.clone();
        for (stat, value) in timer_stats(&mut values, timer.count, config) {
            line(out, "stats.timers.", key, &format!(".{stat}"), value, &ts);
        }
        num_stats += 1;
    }
    if let Some(lag) = timestamp_lag {
        line(out, "stats.gauges.", "statsd.timestamp_lag", "", lag, &ts);
        num_stats += 1;
    }
    for (key, gauge) in sorted(&metrics.gauges) {
        line(out, "stats.gauges.", key, "", gauge.value(), &ts);
        num_stats += 1;
    }
    for (key, members) in sorted(&metrics.sets) {
        line(out, "stats.sets.", key, ".count", members.len() as f64, &ts);
        num_stats += 1;
    }
    let elapsed_ms = started.elapsed().as_millis() as f64;
    line(out, "stats.", "statsd.numStats", "", num_stats as f64, &ts);
    line(
        out,
        "stats.",
        "statsd.graphiteStats.calculationtime",
        "",
        elapsed_ms,
        &ts,
    );
    line(out, "stats.", "statsd.processing_time", "", elapsed_ms, &ts);
    num_stats
}

fn write_counter(out: &mut String, key: &str, value: f64, per_second: f64, ts: &str) {
    line(out, "stats.counters.", key, ".rate", value / per_second, ts);
    line(out, "stats.counters.", key, ".count", value, ts);
}

/// Appends `PREFIX NAME SUFFIX[;tags] VALUE TS`.
fn line(out: &mut String, prefix: &str, key: &str, suffix: &str, value: f64, ts: &str) {
    let (name, tags) = match key.split_once(';') {
        Some((name, tags)) => (name, Some(tags)),
        None => (key, None),
    };
    out.push_str(prefix);
    out.push_str(name);
    out.push_str(suffix);
    if let Some(tags) = tags {
        out.push(';');
        out.push_str(tags);
    }
    out.push(' ');
    write_js(out, value);
    out.push_str(ts);
}

fn sorted<V>(map: &std::collections::HashMap<String, V>) -> Vec<(&str, &V)> {
    let mut entries: Vec<(&str, &V)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries
}

/// The percentile's name suffix as Etsy makes it: the number as JavaScript prints it,
/// its `.` made `_` and its `-` made `top` (`99.9` → `99_9`, `-10` → `top10`).
pub fn percentile_suffix(pct: f64) -> String {
    crate::number::js(pct)
        .replacen('.', "_", 1)
        .replacen('-', "top", 1)
}

/// A timer's statistics in Etsy's order (see the module docs). `values` is sorted in
/// place; `count` is the rate-scaled count. An empty timer yields only `count` and
/// `count_ps` (both 0), as Etsy's does.
pub fn timer_stats(values: &mut [f64], count: f64, config: &FlushConfig) -> Vec<(String, f64)> {
    let per_second = config.interval_ms as f64 / 1000.0;
    let n = values.len();
    if n == 0 {
        return vec![("count".into(), 0.0), ("count_ps".into(), 0.0)];
    }
    values.sort_unstable_by(f64::total_cmp);
    let mut cumulative = Vec::with_capacity(n);
    let mut cumulative_squares = Vec::with_capacity(n);
    let (mut sum, mut squares) = (0.0, 0.0);
    for &v in values.iter() {
        sum += v;
        squares += v * v;
        cumulative.push(sum);
        cumulative_squares.push(squares);
    }
    let (min, max) = (values[0], values[n - 1]);
    let mut stats = Vec::with_capacity(config.percentiles.len() * 5 + 9);
    for &pct in &config.percentiles {
        let (num, boundary, sum, squares) = if n > 1 {
            let num = (pct.abs() / 100.0 * n as f64).round() as usize;
            if num == 0 {
                continue;
            }
            let num = num.min(n);
            if pct > 0.0 {
                (
                    num,
                    values[num - 1],
                    cumulative[num - 1],
                    cumulative_squares[num - 1],
                )
            } else {
                let before = n - num;
                let (below, below_squares) = match before.checked_sub(1) {
                    Some(i) => (cumulative[i], cumulative_squares[i]),
                    None => (0.0, 0.0),
                };
                (
                    num,
                    values[before],
                    cumulative[n - 1] - below,
                    cumulative_squares[n - 1] - below_squares,
                )
            }
        } else {
            (1, max, min, min * min)
        };
        let suffix = percentile_suffix(pct);
        let bound = if pct > 0.0 { "upper" } else { "lower" };
        stats.push((format!("count_{suffix}"), num as f64));
        stats.push((format!("mean_{suffix}"), sum / num as f64));
        stats.push((format!("{bound}_{suffix}"), boundary));
        stats.push((format!("sum_{suffix}"), sum));
        stats.push((format!("sum_squares_{suffix}"), squares));
    }
    let sum = cumulative[n - 1];
    let mean = sum / n as f64;
    let diffs: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    let mid = n / 2;
    let median = if n % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    };
    stats.push(("std".into(), (diffs / n as f64).sqrt()));
    stats.push(("upper".into(), max));
    stats.push(("lower".into(), min));
    stats.push(("count".into(), count));
    stats.push(("count_ps".into(), count / per_second));
    stats.push(("sum".into(), sum));
    stats.push(("sum_squares".into(), cumulative_squares[n - 1]));
    stats.push(("mean".into(), mean));
    stats.push(("median".into(), median));
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Limits;

    fn config() -> FlushConfig {
        FlushConfig {
            interval_ms: 10_000,
            percentiles: vec![90.0],
        }
    }

    fn stat(stats: &[(String, f64)], name: &str) -> f64 {
        stats
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} in {stats:?}"))
            .1
    }

    #[test]
    fn timer_stats_as_etsy_computes_them() {
        // Etsy's process_metrics test: values 1..=10 with the 90th percentile.
        let mut values: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let stats = timer_stats(&mut values, 10.0, &config());
        assert_eq!(stat(&stats, "count_90"), 9.0);
        assert_eq!(stat(&stats, "mean_90"), 5.0);
        assert_eq!(stat(&stats, "upper_90"), 9.0);
        assert_eq!(stat(&stats, "sum_90"), 45.0);
        assert_eq!(stat(&stats, "sum_squares_90"), 285.0);
        assert_eq!(stat(&stats, "upper"), 10.0);
        assert_eq!(stat(&stats, "lower"), 1.0);
        assert_eq!(stat(&stats, "count"), 10.0);
        assert_eq!(stat(&stats, "count_ps"), 1.0);
        assert_eq!(stat(&stats, "sum"), 55.0);
        assert_eq!(stat(&stats, "mean"), 5.5);
        assert_eq!(stat(&stats, "median"), 5.5);
        assert_eq!(stat(&stats, "std"), 8.25f64.sqrt());
        let top = FlushConfig {
            interval_ms: 10_000,
            percentiles: vec![-10.0, 99.9],
        };
        let stats = timer_stats(&mut values, 10.0, &top);
        assert_eq!(stat(&stats, "lower_top10"), 10.0);
        assert_eq!(stat(&stats, "sum_top10"), 10.0);
        assert_eq!(stat(&stats, "upper_99_9"), 10.0);
    }

    #[test]
    fn flush_writes_etsy_names() {
        let mut metrics = Metrics::new(Limits::default());
        metrics.ingest_packet(b"a:3|c\ng:5|g\nt:7|ms\nu:x|s\nr:1|c|#env:prod\nbad");
        let mut out = String::new();
        let n = write_flush(&mut out, &metrics, 1000, None, &config());
        for expected in [
            "stats.counters.a.count 3 1000\n",
            "stats.counters.a.rate 0.3 1000\n",
            "stats.counters.r.count;env=prod 1 1000\n",
            "stats.gauges.g 5 1000\n",
            "stats.timers.t.upper_90 7 1000\n",
            "stats.timers.t.median 7 1000\n",
            "stats.sets.u.count 1 1000\n",
            "stats.counters.statsd.bad_lines_seen.count 1 1000\n",
            "stats.counters.statsd.packets_received.count 1 1000\n",
            "stats.counters.statsd.metrics_received.count 6 1000\n",
            "stats.statsd.numStats 10 1000\n",
        ] {
            assert!(out.contains(expected), "{expected:?} not in\n{out}");
        }
        assert_eq!(n, 10);
    }
}
