//! The statsd line protocol: `name:value|type[|@rate][|#tag:v,…]`, one or more lines per
//! datagram.
//!
//! The rules follow Etsy's statsd (`stats.js` and `lib/helpers.js`'s
//! `is_valid_packet`), with the differences listed in `docs/statsd.md`:
//! - lines are split on `\n`; empty lines are skipped;
//! - the name is everything before the first `:`, sanitised as Etsy does ([`sanitize`]);
//!   after it come one or more `value|type[|@rate]` groups separated by `:`
//!   (`a:1|c:2|c` counts twice), each one valid or bad on its own;
//! - types `c` (counter), `g` (gauge; a value starting with `+` or `-` is a delta),
//!   `ms` and `h` (timer: histogram is an alias, as in DogStatsD) and `s` (set);
//! - a DogStatsD tag section `|#name:value,…` applies to the whole line and becomes a
//!   Graphite 1.1 tagged name `name;tag=value` (tags sorted by name, the last of
//!   duplicates kept, a tag without a value gets the value `true`).
//!
//! Nothing here panics on any input; a bad group is a [`LineError`].

use std::fmt;

/// Longest metric key (sanitised name plus tags) accepted, in bytes; longer lines are
/// bad lines, so that the number of metrics times this bounds the memory of the names.
pub const MAX_KEY_LEN: usize = 1024;

/// The kind of a metric, which decides how its samples aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `c`: summed over the flush interval, scaled by `1/rate`.
    Counter,
    /// `g`: the last value, or the previous value plus a signed delta; kept across
    /// flushes.
    Gauge,
    /// `ms` or `h`: every value kept for the interval's statistics.
    Timer,
    /// `s`: the number of distinct values in the interval.
    Set,
}

/// One parsed `value|type[|@rate]` group.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample<'a> {
    /// A counter increment, not yet scaled by the sample rate.
    Counter {
        /// The value sent.
        value: f64,
        /// The sample rate (`@0.1`), 1 when absent.
        rate: f64,
    },
    /// A gauge value.
    Gauge {
        /// The value sent.
        value: f64,
        /// True when the value started with `+` or `-`: add it to the current value.
        delta: bool,
    },
    /// A timer (or histogram) value.
    Timer {
        /// The value sent (never negative).
        value: f64,
        /// The sample rate, 1 when absent; the timer's count grows by `1/rate`.
        rate: f64,
    },
    /// A set member: the raw bytes sent (`0` when empty, as Etsy does).
    Set(&'a [u8]),
}

impl Sample<'_> {
    /// The kind of metric this sample belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            Sample::Counter { .. } => Kind::Counter,
            Sample::Gauge { .. } => Kind::Gauge,
            Sample::Timer { .. } => Kind::Timer,
            Sample::Set(_) => Kind::Set,
        }
    }
}

/// Why a line (or one group of a line) is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// No `:` after the name, or a group without `|type`.
    MissingType,
    /// The name is empty once sanitised.
    EmptyName,
    /// Name plus tags are longer than [`MAX_KEY_LEN`].
    KeyTooLong,
    /// The value is not a finite decimal number.
    BadValue,
    /// A timer value below zero.
    NegativeTimer,
    /// The third field is not `@` followed by a finite number above zero.
    BadSampleRate,
    /// The type is none of `c`, `g`, `ms`, `h`, `s`.
    UnknownType,
    /// A tag whose name is empty once sanitised.
    BadTag,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LineError::MissingType => "missing `|type`",
            LineError::EmptyName => "empty metric name",
            LineError::KeyTooLong => "metric name and tags too long",
            LineError::BadValue => "value is not a finite number",
            LineError::NegativeTimer => "negative timer value",
            LineError::BadSampleRate => "sample rate is not `@` and a number above zero",
            LineError::UnknownType => "unknown metric type",
            LineError::BadTag => "tag with an empty name",
        })
    }
}

impl std::error::Error for LineError {}

/// The lines of a datagram: split on `\n`, empty lines skipped.
pub fn lines(packet: &[u8]) -> impl Iterator<Item = &[u8]> {
    packet.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// A line whose name (and tags) parsed; its groups are parsed by [`Line::samples`].
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    key: String,
    groups: &'a [u8],
}

impl<'a> Line<'a> {
    /// The metric key: the sanitised name, then `;tag=value` for each tag.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The line's `value|type[|@rate]` groups, each parsed on its own.
    pub fn samples(&self) -> impl Iterator<Item = Result<Sample<'a>, LineError>> + 'a {
        self.groups.split(|&b| b == b':').map(parse_group)
    }
}

/// Parses a line's name and tags.
///
/// # Errors
/// [`LineError::MissingType`] when there is no `:`, and the name and tag errors.
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, LineError> {
    let (body, tags) = match find(line, b"|#") {
        Some(at) => {
            let rest = &line[at + 2..];
            // Fields after the tag section (DogStatsD's `|c:` container id, `|T`
            // timestamp) are ignored, as Etsy ignores fields past the sample rate.
            let end = rest.iter().position(|&b| b == b'|').unwrap_or(rest.len());
            (&line[..at], Some(&rest[..end]))
        }
        None => (line, None),
    };
    let colon = body
        .iter()
        .position(|&b| b == b':')
        .ok_or(LineError::MissingType)?;
    let mut key = sanitize(&body[..colon]);
    if key.is_empty() {
        return Err(LineError::EmptyName);
    }
    if let Some(tags) = tags {
        append_tags(&mut key, tags)?;
    }
    if key.len() > MAX_KEY_LEN {
        return Err(LineError::KeyTooLong);
    }
    Ok(Line {
        key,
        groups: &body[colon + 1..],
    })
}

/// Sanitises a name as Etsy's statsd does (`sanitizeKeyName`): each run of whitespace
/// becomes `_`, `/` becomes `-`, and every byte outside `[A-Za-z0-9_.-]` is removed.
///
/// Etsy works on decoded text, where Unicode whitespace also counts; here only ASCII
/// whitespace does (every other non-ASCII byte is removed either way).
pub fn sanitize(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_space = false;
    for &b in name {
        if b.is_ascii_whitespace() {
            if !in_space {
                out.push('_');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        match b {
            b'/' => out.push('-'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => out.push(b as char),
            _ => {}
        }
    }
    out
}

/// Appends `;name=value` for each tag of a `name:value,…` list, sorted by name with the
/// last of duplicates kept.
fn append_tags(key: &mut String, tags: &[u8]) -> Result<(), LineError> {
    // Checked before the (quadratic) duplicate removal, which it keeps small.
    if tags.len() > MAX_KEY_LEN {
        return Err(LineError::KeyTooLong);
    }
    let mut parsed: Vec<(String, String)> = Vec::new();
    for tag in tags.split(|&b| b == b',').filter(|t| !t.is_empty()) {
        let (name, value) = match tag.iter().position(|&b| b == b':') {
            Some(at) => (sanitize(&tag[..at]), sanitize(&tag[at + 1..])),
            None => (sanitize(tag), String::new()),
        };
        if name.is_empty() {
            return Err(LineError::BadTag);
        }
        let value = if value.is_empty() {
            "true".to_owned()
        } else {
            value
        };
        parsed.retain(|(n, _)| *n != name);
        parsed.push((name, value));
    }
    parsed.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in parsed {
        key.push(';');
        key.push_str(&name);
        key.push('=');
        key.push_str(&value);
    }
    Ok(())
}

/// Parses one `value|type[|@rate]` group (Etsy's `is_valid_packet` plus the dispatch).
fn parse_group(group: &[u8]) -> Result<Sample<'_>, LineError> {
    let mut fields = group.split(|&b| b == b'|');
    let value = fields.next().unwrap_or_default();
    let kind = fields.next().ok_or(LineError::MissingType)?;
    let rate = match fields.next() {
        None => 1.0,
        Some(field) => parse_rate(field)?,
    };
    match trim(kind) {
        b"c" => Ok(Sample::Counter {
            value: parse_number(value)?,
            rate,
        }),
        b"g" => Ok(Sample::Gauge {
            value: parse_number(value)?,
            delta: matches!(value.first(), Some(b'+' | b'-')),
        }),
        b"ms" | b"h" => {
            let value = parse_number(value)?;
            if value < 0.0 {
                return Err(LineError::NegativeTimer);
            }
            Ok(Sample::Timer { value, rate })
        }
        b"s" => Ok(Sample::Set(if value.is_empty() { b"0" } else { value })),
        _ => Err(LineError::UnknownType),
    }
}

fn parse_rate(field: &[u8]) -> Result<f64, LineError> {
    match field.split_first() {
        Some((b'@', number)) => match parse_number(number) {
            Ok(rate) if rate > 0.0 => Ok(rate),
            _ => Err(LineError::BadSampleRate),
        },
        _ => Err(LineError::BadSampleRate),
    }
}

/// A finite decimal number, surrounding ASCII whitespace allowed (as JavaScript's
/// `Number()` allows it). Unlike `Number()`, hexadecimal and `Infinity` are refused.
fn parse_number(raw: &[u8]) -> Result<f64, LineError> {
    let text = std::str::from_utf8(trim(raw)).map_err(|_| LineError::BadValue)?;
    if text.is_empty()
        || text
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
    {
        return Err(LineError::BadValue);
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(LineError::BadValue),
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<(String, Sample<'_>), LineError> {
        let parsed = parse_line(line.as_bytes())?;
        let key = parsed.key().to_owned();
        let sample = parsed.samples().next().expect("a group")?;
        Ok((key, sample))
    }

    #[test]
    fn every_type_parses() {
        assert_eq!(
            one("a.b:2|c").unwrap(),
            (
                "a.b".into(),
                Sample::Counter {
                    value: 2.0,
                    rate: 1.0
                }
            )
        );
        assert_eq!(
            one("a:1|c|@0.1").unwrap().1,
            Sample::Counter {
                value: 1.0,
                rate: 0.1
            }
        );
        assert_eq!(
            one("g:-3|g").unwrap().1,
            Sample::Gauge {
                value: -3.0,
                delta: true
            }
        );
        assert_eq!(
            one("g:3|g").unwrap().1,
            Sample::Gauge {
                value: 3.0,
                delta: false
            }
        );
        assert_eq!(
            one("t:320|ms|@0.5").unwrap().1,
            Sample::Timer {
                value: 320.0,
                rate: 0.5
            }
        );
        assert_eq!(
            one("t:1.5|h").unwrap().1,
            Sample::Timer {
                value: 1.5,
                rate: 1.0
            }
        );
        assert_eq!(one("s:abc|s").unwrap().1, Sample::Set(b"abc"));
        assert_eq!(one("s:|s").unwrap().1, Sample::Set(b"0"));
    }

    #[test]
    fn names_are_sanitised_as_etsy_does() {
        assert_eq!(sanitize(b"a  b/c\td$%^.e-f_G9"), "a_b-c_d.e-f_G9");
        assert_eq!(sanitize("héllo".as_bytes()), "hllo");
    }

    #[test]
    fn tags_become_graphite_tags_sorted() {
        let (key, _) = one("req:1|c|#route:/a b,env:prod,canary,env:dev").unwrap();
        assert_eq!(key, "req;canary=true;env=dev;route=-a_b");
        let (key, _) = one("req:1|c|@0.5|#x:y").unwrap();
        assert_eq!(key, "req;x=y");
        assert_eq!(one("req:1|c|#:v").unwrap_err(), LineError::BadTag);
    }

    #[test]
    fn bad_lines_are_typed_errors() {
        assert_eq!(one("nocolon").unwrap_err(), LineError::MissingType);
        assert_eq!(one("a:1").unwrap_err(), LineError::MissingType);
        assert_eq!(one("%%:1|c").unwrap_err(), LineError::EmptyName);
        assert_eq!(one("a:x|c").unwrap_err(), LineError::BadValue);
        assert_eq!(one("a:|c").unwrap_err(), LineError::BadValue);
        assert_eq!(one("a:inf|g").unwrap_err(), LineError::BadValue);
        assert_eq!(one("a:0x10|c").unwrap_err(), LineError::BadValue);
        assert_eq!(one("a:-1|ms").unwrap_err(), LineError::NegativeTimer);
        assert_eq!(one("a:1|c|0.1").unwrap_err(), LineError::BadSampleRate);
        assert_eq!(one("a:1|c|@0").unwrap_err(), LineError::BadSampleRate);
        assert_eq!(one("a:1|c|@").unwrap_err(), LineError::BadSampleRate);
        assert_eq!(one("a:1|x").unwrap_err(), LineError::UnknownType);
        let long = format!("{}:1|c", "a".repeat(MAX_KEY_LEN + 1));
        assert_eq!(one(&long).unwrap_err(), LineError::KeyTooLong);
    }

    #[test]
    fn several_groups_and_lines() {
        let line = parse_line(b"a:1|c:2|c:x|c").unwrap();
        let results: Vec<_> = line.samples().collect();
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok() && results[1].is_ok());
        assert_eq!(results[2], Err(LineError::BadValue));
        let all: Vec<_> = lines(b"a:1|c\n\nb:2|g\r\n").collect();
        assert_eq!(all, [&b"a:1|c"[..], &b"b:2|g\r"[..]]);
        assert_eq!(
            one("b:2|g\r").unwrap().1,
            Sample::Gauge {
                value: 2.0,
                delta: false
            }
        );
    }
}
