//! Properties of the parser and the aggregation.

use proptest::prelude::*;
use shoal_statsd::metrics::{Limits, Metrics};
use shoal_statsd::parse::{self, MAX_KEY_LEN, Sample};

/// A valid statsd line and what it must add.
#[derive(Debug, Clone)]
enum Sent {
    Counter(String, i32, u8),
    Gauge(String, i32),
    Timer(String, u16),
    Set(String, u8),
}

impl Sent {
    fn line(&self) -> String {
        match self {
            Sent::Counter(n, v, 0) => format!("{n}:{v}|c"),
            Sent::Counter(n, v, r) => format!("{n}:{v}|c|@{}", 1.0 / f64::from(*r)),
            Sent::Gauge(n, v) => format!("{n}:{v}|g"),
            Sent::Timer(n, v) => format!("{n}:{v}|ms"),
            Sent::Set(n, v) => format!("{n}:m{v}|s"),
        }
    }
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b.c", "d-e", "f_g"]).prop_map(str::to_owned)
}

fn sent() -> impl Strategy<Value = Sent> {
    prop_oneof![
        (name(), -1000..1000i32, 0..4u8).prop_map(|(n, v, r)| Sent::Counter(n, v, r)),
        (name(), -1000..1000i32).prop_map(|(n, v)| Sent::Gauge(n, v)),
        (name(), 0..1000u16).prop_map(|(n, v)| Sent::Timer(n, v)),
        (name(), 0..20u8).prop_map(|(n, v)| Sent::Set(n, v)),
    ]
}

proptest! {
    /// Arbitrary bytes never panic, and every non-empty line is counted once.
    #[test]
    fn any_bytes_parse_without_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut metrics = Metrics::new(Limits::default());
        metrics.ingest_packet(&data);
        let lines = parse::lines(&data).count() as u64;
        prop_assert_eq!(metrics.counts.metrics_received, lines);
        for line in parse::lines(&data) {
            if let Ok(line) = parse::parse_line(line) {
                prop_assert!(line.key().len() <= MAX_KEY_LEN);
                prop_assert!(!line.key().is_empty());
            }
        }
    }

    /// Near-valid lines (valid pieces glued in any order) never panic either.
    #[test]
    fn glued_pieces_parse_without_panic(
        pieces in prop::collection::vec(
            prop::sample::select(vec!["a", ":", "|", "c", "ms", "g", "s", "h", "@", "0.5", "-",
                "+", "1", "#", ",", "t:v", "\n", " ", "e9", "."]), 0..30)
    ) {
        let data = pieces.concat();
        let mut metrics = Metrics::new(Limits::default());
        metrics.ingest_packet(data.as_bytes());
        for line in parse::lines(data.as_bytes()) {
            if let Ok(line) = parse::parse_line(line) {
                for sample in line.samples().flatten() {
                    if let Sample::Timer { value, rate } = sample {
                        prop_assert!(value >= 0.0 && rate > 0.0);
                    }
                }
            }
        }
    }

    /// However the lines are split into datagrams and across workers, merging the
    /// workers' aggregates gives the totals of what was sent.
    #[test]
    fn split_across_workers_merges_to_the_totals(
        sent in prop::collection::vec(sent(), 0..60),
        cuts in prop::collection::vec(0..3usize, 60),
    ) {
        let mut workers: Vec<Metrics> = (0..3).map(|_| Metrics::new(Limits::default())).collect();
        for (i, s) in sent.iter().enumerate() {
            workers[cuts[i]].ingest_packet(s.line().as_bytes());
        }
        let mut total = Metrics::new(Limits::default());
        for worker in workers {
            total.merge(worker);
        }
        let mut expected_counter = std::collections::HashMap::<String, f64>::new();
        let mut expected_timer = std::collections::HashMap::<String, usize>::new();
        let mut expected_set = std::collections::HashMap::<String, std::collections::HashSet<u8>>::new();
        for s in &sent {
            match s {
                Sent::Counter(n, v, r) => {
                    *expected_counter.entry(n.clone()).or_default() += f64::from(*v) * f64::from((*r).max(1));
                }
                Sent::Timer(n, _) => *expected_timer.entry(n.clone()).or_default() += 1,
                Sent::Set(n, v) => { expected_set.entry(n.clone()).or_default().insert(*v); }
                Sent::Gauge(..) => {}
            }
        }
        prop_assert_eq!(total.counts.packets_received, sent.len() as u64);
        prop_assert_eq!(total.counts.bad_lines_seen, 0);
        for (name, value) in expected_counter {
            let got = total.counters[&name];
            prop_assert!((got - value).abs() < 1e-6, "{} {} {}", name, got, value);
        }
        for (name, count) in expected_timer {
            prop_assert_eq!(total.timers[&name].values.len(), count);
            prop_assert!((total.timers[&name].count - count as f64).abs() < 1e-9);
        }
        for (name, members) in expected_set {
            prop_assert_eq!(total.sets[&name].len(), members.len());
        }
    }

    /// Gauges sent to one worker in order end at the value the sequence gives.
    #[test]
    fn gauge_sequence_in_one_worker(values in prop::collection::vec((any::<bool>(), -100..100i32), 1..20)) {
        let mut metrics = Metrics::new(Limits::default());
        let mut expected = 0.0;
        for (delta, v) in &values {
            let line = if *delta { format!("g:{v:+}|g") } else { format!("g:{}|g", v.abs()) };
            metrics.ingest_packet(line.as_bytes());
            expected = if *delta { expected + f64::from(*v) } else { f64::from(v.abs()) };
        }
        // Handed over in two halves to the flusher: the same value.
        let mut flusher = Metrics::new(Limits::default());
        flusher.merge(metrics);
        prop_assert_eq!(flusher.gauges["g"].value(), expected);
    }

    /// Past `max_metrics`, new names are dropped and counted, old ones still count.
    #[test]
    fn metrics_are_bounded(names in prop::collection::vec(0..50u32, 1..200), max in 1..20usize) {
        let limits = Limits { max_metrics: max, ..Limits::default() };
        let mut metrics = Metrics::new(limits);
        for n in &names {
            metrics.ingest_packet(format!("n{n}:1|c").as_bytes());
        }
        prop_assert!(metrics.len() <= max);
        let held: f64 = metrics.counters.values().sum();
        prop_assert_eq!(held as u64 + metrics.counts.metrics_dropped, names.len() as u64);
        let mut flusher = Metrics::new(limits);
        flusher.merge(metrics);
        prop_assert!(flusher.len() <= max);
    }
}
