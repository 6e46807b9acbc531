//! Aggregation of samples over a flush interval, bounded in the number of metrics and
//! in the memory of kept samples.
//!
//! The same [`Metrics`] type is a worker's local aggregate (the delta since it last
//! handed over) and the flusher's state (the deltas of every worker merged):
//! [`Metrics::merge`] composes two in order. Gauges carry their delta form so that a
//! worker's `+3` is applied to the flusher's current value, not to the worker's.

use std::collections::{HashMap, HashSet};

use crate::parse::{self, Kind, Sample};

/// Memory bounds of one [`Metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Distinct metric keys held (all kinds together). A sample for a new key past it
    /// is counted in [`Counts::metrics_dropped`] and dropped.
    pub max_metrics: usize,
    /// Bytes of kept samples: 8 per timer value, the member's length plus
    /// [`SET_MEMBER_OVERHEAD`] per set member. A timer value past it still counts in
    /// the timer's `count` but is not kept for the other statistics; a new set member
    /// past it is dropped. Both are counted in [`Counts::samples_dropped`].
    pub max_sample_bytes: usize,
}

/// What a set member is charged against [`Limits::max_sample_bytes`] beyond its bytes.
pub const SET_MEMBER_OVERHEAD: usize = 32;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_metrics: 100_000,
            max_sample_bytes: 64 << 20,
        }
    }
}

/// The daemon's own counts over an interval (Etsy's `statsd.*` counters and more).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Datagrams received.
    pub packets_received: u64,
    /// Non-empty lines received.
    pub metrics_received: u64,
    /// Bad lines (one per bad group of a line, as Etsy counts).
    pub bad_lines_seen: u64,
    /// Samples dropped because their key was new past [`Limits::max_metrics`].
    pub metrics_dropped: u64,
    /// Timer values or set members not kept past [`Limits::max_sample_bytes`].
    pub samples_dropped: u64,
}

impl Counts {
    /// Adds `other` field by field.
    pub fn add(&mut self, other: &Counts) {
        self.packets_received += other.packets_received;
        self.metrics_received += other.metrics_received;
        self.bad_lines_seen += other.bad_lines_seen;
        self.metrics_dropped += other.metrics_dropped;
        self.samples_dropped += other.samples_dropped;
    }

    /// The counts as Etsy names them (under `statsd.`), in Etsy's order, then ours.
    pub fn named(&self) -> [(&'static str, u64); 5] {
        [
            ("statsd.bad_lines_seen", self.bad_lines_seen),
            ("statsd.packets_received", self.packets_received),
            ("statsd.metrics_received", self.metrics_received),
            ("statsd.metrics_dropped", self.metrics_dropped),
            ("statsd.samples_dropped", self.samples_dropped),
        ]
    }
}

/// A gauge as an update: set to `base` (when some) then add `delta`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauge {
    /// The last absolute value set, if one was.
    pub base: Option<f64>,
    /// Sum of the deltas since then.
    pub delta: f64,
}

impl Gauge {
    /// The gauge's value on its own (a missing base counts as 0, as in Etsy).
    pub fn value(&self) -> f64 {
        self.base.unwrap_or(0.0) + self.delta
    }

    /// This update followed by `later`.
    pub fn then(self, later: Gauge) -> Gauge {
        match later.base {
            Some(_) => later,
            None => Gauge {
                base: self.base,
                delta: self.delta + later.delta,
            },
        }
    }
}

/// A timer's interval: the kept values and the count scaled by the sample rates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timer {
    /// Values kept, in arrival order.
    pub values: Vec<f64>,
    /// Number of values sent, each counting `1/rate`.
    pub count: f64,
}

/// Counters, gauges, timers and sets under their keys, plus the interval's [`Counts`].
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    limits: Limits,
    /// Counter sums (already scaled by `1/rate`).
    pub counters: HashMap<String, f64>,
    /// Gauges, as updates.
    pub gauges: HashMap<String, Gauge>,
    /// Timers.
    pub timers: HashMap<String, Timer>,
    /// Set members.
    pub sets: HashMap<String, HashSet<Box<[u8]>>>,
    /// The interval's own counts.
    pub counts: Counts,
    pub(crate) sample_bytes: usize,
}

impl Metrics {
    /// An empty aggregate with these bounds.
    pub fn new(limits: Limits) -> Self {
        Metrics {
            limits,
            ..Metrics::default()
        }
    }

    /// The bounds.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Number of distinct keys held, all kinds together.
    pub fn len(&self) -> usize {
        self.counters.len() + self.gauges.len() + self.timers.len() + self.sets.len()
    }

    /// True when no key is held and nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.counts == Counts::default()
    }

    /// Bytes of kept samples, as charged against [`Limits::max_sample_bytes`].
    pub fn sample_bytes(&self) -> usize {
        self.sample_bytes
    }

    /// Parses a datagram and aggregates every good sample; bad lines are counted.
    pub fn ingest_packet(&mut self, packet: &[u8]) {
        self.counts.packets_received += 1;
        for line in parse::lines(packet) {
            self.counts.metrics_received += 1;
            match parse::parse_line(line) {
                Ok(line) => {
                    for sample in line.samples() {
                        match sample {
                            Ok(sample) => self.record(line.key(), &sample),
                            Err(_) => self.counts.bad_lines_seen += 1,
                        }
                    }
                }
                Err(_) => self.counts.bad_lines_seen += 1,
            }
        }
    }

    /// Whether a sample of `kind` for `key` may be held: the key is known, or there is
    /// room for a new one (otherwise the drop is counted).
    fn admit(&mut self, kind: Kind, key: &str) -> bool {
        let known = match kind {
            Kind::Counter => self.counters.contains_key(key),
            Kind::Gauge => self.gauges.contains_key(key),
            Kind::Timer => self.timers.contains_key(key),
            Kind::Set => self.sets.contains_key(key),
        };
        if known || self.len() < self.limits.max_metrics {
            true
        } else {
            self.counts.metrics_dropped += 1;
            false
        }
    }

    /// Aggregates one sample under `key`.
    pub fn record(&mut self, key: &str, sample: &Sample<'_>) {
        if !self.admit(sample.kind(), key) {
            return;
        }
        match *sample {
            Sample::Counter { value, rate } => {
                *entry(&mut self.counters, key) += value / rate;
            }
            Sample::Gauge { value, delta } => {
                let update = if delta {
                    Gauge {
                        base: None,
                        delta: value,
                    }
                } else {
                    Gauge {
                        base: Some(value),
                        delta: 0.0,
                    }
                };
                let gauge = entry(&mut self.gauges, key);
                *gauge = gauge.then(update);
            }
            Sample::Timer { value, rate } => {
                let keep = self.sample_bytes + 8 <= self.limits.max_sample_bytes;
                let timer = entry(&mut self.timers, key);
                timer.count += 1.0 / rate;
                if keep {
                    timer.values.push(value);
                    self.sample_bytes += 8;
                } else {
                    self.counts.samples_dropped += 1;
                }
            }
            Sample::Set(member) => {
                let cost = member.len() + SET_MEMBER_OVERHEAD;
                let fits = self.sample_bytes + cost <= self.limits.max_sample_bytes;
                let set = entry(&mut self.sets, key);
                if set.contains(member) {
                    return;
                }
                if fits {
                    set.insert(member.into());
                    self.sample_bytes += cost;
                } else {
                    self.counts.samples_dropped += 1;
                }
            }
        }
    }

    /// Merges `later` (a delta that happened after this one) into this aggregate,
    /// within this aggregate's bounds.
    pub fn merge(&mut self, later: Metrics) {
        self.counts.add(&later.counts);
        for (key, value) in later.counters {
            if self.admit(Kind::Counter, &key) {
                *self.counters.entry(key).or_default() += value;
            }
        }
        for (key, update) in later.gauges {
            if self.admit(Kind::Gauge, &key) {
                let gauge = self.gauges.entry(key).or_default();
                *gauge = gauge.then(update);
            }
        }
        for (key, timer) in later.timers {
            if !self.admit(Kind::Timer, &key) {
                continue;
            }
            let room = self
                .limits
                .max_sample_bytes
                .saturating_sub(self.sample_bytes)
                / 8;
            let kept = timer.values.len().min(room);
            self.counts.samples_dropped += (timer.values.len() - kept) as u64;
            self.sample_bytes += kept * 8;
            let ours = self.timers.entry(key).or_default();
            ours.count += timer.count;
            ours.values.extend_from_slice(&timer.values[..kept]);
        }
        for (key, members) in later.sets {
            if !self.admit(Kind::Set, &key) {
                continue;
            }
            let ours = self.sets.entry(key).or_default();
            for member in members {
                let cost = member.len() + SET_MEMBER_OVERHEAD;
                if ours.contains(&member) {
                    continue;
                }
                if self.sample_bytes + cost <= self.limits.max_sample_bytes {
                    self.sample_bytes += cost;
                    ours.insert(member);
                } else {
                    self.counts.samples_dropped += 1;
                }
            }
        }
    }

    /// Starts a new interval as Etsy does by default: counters back to 0, timers and
    /// sets emptied (their keys kept, so they flush zeros), gauges kept (as absolute
    /// values), counts zeroed.
    pub fn reset_interval(&mut self) {
        self.counters.values_mut().for_each(|v| *v = 0.0);
        for timer in self.timers.values_mut() {
            *timer = Timer::default();
        }
        self.sets.values_mut().for_each(HashSet::clear);
        for gauge in self.gauges.values_mut() {
            *gauge = Gauge {
                base: Some(gauge.value()),
                delta: 0.0,
            };
        }
        self.counts = Counts::default();
        self.sample_bytes = 0;
    }

    /// Takes everything out (keys too), leaving an empty aggregate with the same bounds:
    /// what a worker hands over.
    pub fn take(&mut self) -> Metrics {
        std::mem::replace(self, Metrics::new(self.limits))
    }

    /// Removes the keys of `kind` named by `pattern`: the exact key, and when it ends in
    /// `.*`, every key that starts with what comes before the `*` (Etsy's
    /// `delete_stats`). Returns the removed keys, sorted.
    pub fn delete(&mut self, kind: Kind, pattern: &str) -> Vec<String> {
        let folder = pattern.strip_suffix('*').filter(|f| f.ends_with('.'));
        let matches = |key: &str| key == pattern || folder.is_some_and(|f| key.starts_with(f));
        let mut removed: Vec<String> = match kind {
            Kind::Counter => keys_of(remove_matching(&mut self.counters, matches)),
            Kind::Gauge => keys_of(remove_matching(&mut self.gauges, matches)),
            Kind::Timer => {
                let removed = remove_matching(&mut self.timers, matches);
                self.sample_bytes -= removed
                    .iter()
                    .map(|(_, t)| t.values.len() * 8)
                    .sum::<usize>();
                keys_of(removed)
            }
            Kind::Set => {
                let removed = remove_matching(&mut self.sets, matches);
                self.sample_bytes -= removed
                    .iter()
                    .flat_map(|(_, members)| members.iter())
                    .map(|m| m.len() + SET_MEMBER_OVERHEAD)
                    .sum::<usize>();
                keys_of(removed)
            }
        };
        removed.sort();
        removed
    }
}

/// Removes and returns the entries whose key matches.
fn remove_matching<V>(
    map: &mut HashMap<String, V>,
    matches: impl Fn(&str) -> bool,
) -> Vec<(String, V)> {
    let keys: Vec<String> = map.keys().filter(|k| matches(k)).cloned().collect();
    keys.into_iter()
        .filter_map(|k| map.remove(&k).map(|v| (k, v)))
        .collect()
}

fn keys_of<V>(entries: Vec<(String, V)>) -> Vec<String> {
    entries.into_iter().map(|(k, _)| k).collect()
}

/// The entry for `key`, inserted with the default value when missing; the key is only
/// allocated when it is new.
fn entry<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}
