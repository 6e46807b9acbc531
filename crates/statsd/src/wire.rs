//! A compact binary form of [`Metrics`], for handing aggregates between processes
//! through shared memory.
//!
//! A sequence of records, each complete on its own, so a writer can hand over as many
//! as fit and keep the rest, and a reader can stop at the first damaged one:
//!
//! | tag | record |
//! |-----|--------|
//! | 1 | counter: key, `f64` sum |
//! | 2 | gauge: key, `u8` has-base, `f64` base, `f64` delta |
//! | 3 | timer: key, `f64` count, `u32` n, n × `f64` |
//! | 4 | set: key, `u32` n, n × (`u16` length, bytes) |
//! | 5 | counts: 5 × `u64` |
//!
//! Keys are a `u16` length and UTF-8 bytes; numbers are little-endian. Decoding trusts
//! nothing: every length is checked against what is left, and a bad record is an error
//! that leaves the records before it applied.

use std::fmt;

use crate::metrics::{Counts, Gauge, Limits, Metrics, SET_MEMBER_OVERHEAD, Timer};

const COUNTER: u8 = 1;
const GAUGE: u8 = 2;
const TIMER: u8 = 3;
const SET: u8 = 4;
const COUNTS: u8 = 5;

/// Bytes of a counts record.
const COUNTS_LEN: usize = 1 + 5 * 8;

/// A record that does not decode; the records before it were applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireError {
    /// Offset of the bad record.
    pub offset: usize,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "damaged aggregate record at byte {}", self.offset)
    }
}

impl std::error::Error for WireError {}

/// Moves as much of `metrics` as fits in `room` bytes into records appended to `out`;
/// what does not fit stays in `metrics` for a later call. Timers and sets too large for
/// the room are split (a timer's count goes with its first part).
pub fn encode_some(metrics: &mut Metrics, room: usize, out: &mut Vec<u8>) {
    let limit = out.len() + room;
    if metrics.counts != Counts::default() && out.len() + COUNTS_LEN <= limit {
        out.push(COUNTS);
        let c = metrics.counts;
        for v in [
            c.packets_received,
            c.metrics_received,
            c.bad_lines_seen,
            c.metrics_dropped,
            c.samples_dropped,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        metrics.counts = Counts::default();
    }
    metrics.counters.retain(|key, value| {
        if out.len() + 1 + 2 + key.len() + 8 > limit {
            return true;
        }
        put_key(out, COUNTER, key);
        out.extend_from_slice(&value.to_le_bytes());
        false
    });
    metrics.gauges.retain(|key, gauge| {
        if out.len() + 1 + 2 + key.len() + 17 > limit {
            return true;
        }
        put_key(out, GAUGE, key);
        out.push(u8::from(gauge.base.is_some()));
        out.extend_from_slice(&gauge.base.unwrap_or(0.0).to_le_bytes());
        out.extend_from_slice(&gauge.delta.to_le_bytes());
        false
    });
    let mut freed = 0;
    metrics.timers.retain(|key, timer| {
        let head = 1 + 2 + key.len() + 8 + 4;
        let Some(space) = limit.checked_sub(out.len() + head) else {
            return true;
        };
        let n = timer.values.len().min(space / 8).min(u32::MAX as usize);
        if n == 0 && !timer.values.is_empty() {
            return true;
        }
        put_key(out, TIMER, key);
        out.extend_from_slice(&timer.count.to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        for v in timer.values.drain(..n) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        freed += n * 8;
        timer.count = 0.0;
        !timer.values.is_empty()
    });
    metrics.sets.retain(|key, members| {
        let head = 1 + 2 + key.len() + 4;
        if out.len() + head > limit {
            return true;
        }
        let count_at = out.len() + 1 + 2 + key.len();
        put_key(out, SET, key);
        out.extend_from_slice(&0u32.to_le_bytes());
        let mut written: Vec<Box<[u8]>> = Vec::new();
        for member in members.iter() {
            if out.len() + 2 + member.len() > limit {
                break;
            }
            out.extend_from_slice(&(member.len() as u16).to_le_bytes());
            out.extend_from_slice(member);
            written.push(member.clone());
        }
        if written.is_empty() && !members.is_empty() {
            out.truncate(count_at - 1 - 2 - key.len());
            return true;
        }
        out[count_at..count_at + 4].copy_from_slice(&(written.len() as u32).to_le_bytes());
        for member in &written {
            freed += member.len() + SET_MEMBER_OVERHEAD;
            members.remove(member);
        }
        !members.is_empty()
    });
    metrics.sample_bytes = metrics.sample_bytes.saturating_sub(freed);
}

fn put_key(out: &mut Vec<u8>, tag: u8, key: &str) {
    out.push(tag);
    // Keys are at most MAX_KEY_LEN (1024) bytes: parse refuses longer ones.
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
}

/// Decodes records into a new, unbounded [`Metrics`] (its size is bounded by the input);
/// merge it into a bounded one with [`Metrics::merge`].
///
/// # Errors
/// [`WireError`] at the first damaged record; the result then holds the records before
/// it, returned alongside.
pub fn decode(bytes: &[u8]) -> (Metrics, Result<(), WireError>) {
    let mut metrics = Metrics::new(Limits {
        max_metrics: usize::MAX,
        max_sample_bytes: usize::MAX,
    });
    let mut reader = Reader { bytes, at: 0 };
    while reader.at < bytes.len() {
        let start = reader.at;
        if decode_record(&mut reader, &mut metrics).is_none() {
            return (metrics, Err(WireError { offset: start }));
        }
    }
    (metrics, Ok(()))
}

fn decode_record(r: &mut Reader<'_>, into: &mut Metrics) -> Option<()> {
    let tag = r.u8()?;
    if tag == COUNTS {
        let mut c = [0u64; 5];
        for v in &mut c {
            *v = r.u64()?;
        }
        into.counts.add(&Counts {
            packets_received: c[0],
            metrics_received: c[1],
            bad_lines_seen: c[2],
            metrics_dropped: c[3],
            samples_dropped: c[4],
        });
        return Some(());
    }
    let len = usize::from(r.u16()?);
    let key = std::str::from_utf8(r.take(len)?).ok()?.to_owned();
    let mut one = Metrics::new(into.limits());
    match tag {
        COUNTER => {
            one.counters.insert(key, r.f64()?);
        }
        GAUGE => {
            let has_base = r.u8()? != 0;
            let base = r.f64()?;
            let delta = r.f64()?;
            one.gauges.insert(
                key,
                Gauge {
                    base: has_base.then_some(base),
                    delta,
                },
            );
        }
        TIMER => {
            let count = r.f64()?;
            let n = r.u32()? as usize;
            let raw = r.take(n.checked_mul(8)?)?;
            let values = raw
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))
                .collect();
            one.timers.insert(key, Timer { values, count });
        }
        SET => {
            let n = r.u32()? as usize;
            let mut members = std::collections::HashSet::new();
            for _ in 0..n {
                let len = usize::from(r.u16()?);
                members.insert(Box::<[u8]>::from(r.take(len)?));
            }
            one.sets.insert(key, members);
        }
        _ => return None,
    }
    into.merge(one);
    Some(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metrics {
        let mut m = Metrics::new(Limits::default());
        m.ingest_packet(b"c:2|c\ng:+4|g\nt:1|ms\nt:2|ms|@0.5\ns:a|s\ns:b|s\nbad\ntag:1|c|#a:b");
        m
    }

    #[test]
    fn round_trip_in_small_pieces() {
        let expected = sample();
        for room in [41, 60, 100, 1 << 20] {
            let mut source = sample();
            let mut total = Metrics::new(Limits::default());
            let mut rounds = 0;
            while !source.is_empty() {
                let mut out = Vec::new();
                encode_some(&mut source, room, &mut out);
                assert!(out.len() <= room, "{} > {room}", out.len());
                let (decoded, result) = decode(&out);
                result.unwrap();
                total.merge(decoded);
                rounds += 1;
                assert!(rounds < 100, "no progress with room {room}");
            }
            assert_eq!(total.counters, expected.counters);
            assert_eq!(total.gauges, expected.gauges);
            assert_eq!(total.sets, expected.sets);
            assert_eq!(total.counts, expected.counts);
            let mut values = total.timers["t"].values.clone();
            values.sort_by(f64::total_cmp);
            assert_eq!(values, [1.0, 2.0]);
            assert_eq!(total.timers["t"].count, 3.0);
            assert_eq!(source.sample_bytes(), 0);
        }
    }

    #[test]
    fn damage_is_an_error_after_the_good_records() {
        let mut source = sample();
        let mut out = Vec::new();
        encode_some(&mut source, 1 << 20, &mut out);
        let good = out.len();
        out.extend_from_slice(&[
            TIMER, 1, 0, b'x', 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255,
        ]);
        let (decoded, result) = decode(&out);
        assert_eq!(result, Err(WireError { offset: good }));
        assert_eq!(decoded.counters["c"], 2.0);
        for cut in 0..good {
            let _ = decode(&out[..cut]);
        }
    }
}
