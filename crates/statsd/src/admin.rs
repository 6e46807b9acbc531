//! The admin (management) interface: Etsy's commands and reply text, one command per
//! line.
//!
//! Differences from Etsy's statsd, on purpose (see `docs/statsd.md`):
//! - every reply ends with a line `END` and an empty line — `help`, `health` and
//!   `ERROR` included, where Etsy writes none — so a script can always read up to it;
//! - `sets` and `delsets` exist (Etsy has neither), and `reload` starts a new
//!   generation of the daemon;
//! - dumps (`counters`, `gauges`, `timers`, `sets`) are written like Node's
//!   `util.inspect` of an object, one key per line and keys sorted;
//! - `stats` adds our own lines after Etsy's `uptime` and `messages.*`.

use std::fmt::Write;

use crate::metrics::{Counts, Metrics};
use crate::number::write_js;
use crate::parse::Kind;

/// The help text (Etsy's, with our extra commands).
pub const HELP: &str = "Commands: stats, counters, timers, gauges, sets, delcounters, deltimers, \
delgauges, delsets, health, config, reload, quit";

/// Most values a dump shows per timer or set before `... N more items` (as Node does).
const MAX_ITEMS: usize = 100;

/// A parsed admin command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `help`.
    Help,
    /// `stats`.
    Stats,
    /// `counters`, `gauges`, `timers`, `sets`: dump one kind.
    Dump(Kind),
    /// `delcounters NAME…` and the other `del…`: delete keys (a name ending in `.*`
    /// deletes a folder).
    Delete(Kind, Vec<String>),
    /// `health`, `health up`, `health down` (`None`: only report).
    Health(Option<bool>),
    /// `config`.
    Config,
    /// `reload`.
    Reload,
    /// `quit`.
    Quit,
    /// Anything else (the reply is `ERROR`).
    Unknown(String),
}

/// Parses one command line (surrounding whitespace ignored, words split on
/// whitespace).
pub fn parse_command(line: &str) -> Command {
    let mut words = line.split_whitespace();
    let Some(cmd) = words.next() else {
        return Command::Unknown(String::new());
    };
    let args = || words.clone().map(str::to_owned).collect::<Vec<_>>();
    match cmd {
        "help" => Command::Help,
        "stats" => Command::Stats,
        "counters" => Command::Dump(Kind::Counter),
        "gauges" => Command::Dump(Kind::Gauge),
        "timers" => Command::Dump(Kind::Timer),
        "sets" => Command::Dump(Kind::Set),
        "delcounters" => Command::Delete(Kind::Counter, args()),
        "delgauges" => Command::Delete(Kind::Gauge, args()),
        "deltimers" => Command::Delete(Kind::Timer, args()),
        "delsets" => Command::Delete(Kind::Set, args()),
        "health" => match words.next().map(str::to_ascii_lowercase).as_deref() {
            Some("up") => Command::Health(Some(true)),
            Some("down") => Command::Health(Some(false)),
            _ => Command::Health(None),
        },
        "config" => Command::Config,
        "reload" => Command::Reload,
        "quit" => Command::Quit,
        other => Command::Unknown(other.to_owned()),
    }
}

/// What the daemon must do after writing a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing more.
    None,
    /// Close this admin connection.
    Quit,
    /// Start a new generation of the daemon.
    Reload,
}

/// The daemon state that admin commands read and change.
#[derive(Debug)]
pub struct AdminView<'a> {
    /// The flusher's metrics (the current interval, gauges kept).
    pub metrics: &'a mut Metrics,
    /// Counts since start (the interval's not yet added are in `metrics.counts`).
    pub totals: &'a Counts,
    /// Seconds since the daemon (its first generation) started.
    pub uptime_secs: u64,
    /// Seconds since the last datagram was seen.
    pub since_last_msg_secs: u64,
    /// `health` status: up when true.
    pub health_up: &'a mut bool,
    /// Extra `name: value` lines for `stats` (workers, sink).
    pub extra_stats: &'a [(String, String)],
    /// `name: value` lines for `config`.
    pub config: &'a [(String, String)],
}

/// Runs `command` and returns the reply text and what to do next.
pub fn execute(command: &Command, view: AdminView<'_>) -> (String, Action) {
    let mut out = String::new();
    let mut action = Action::None;
    match command {
        Command::Help => {
            out.push_str(HELP);
            out.push('\n');
        }
        Command::Stats => {
            let mut counts = *view.totals;
            counts.add(&view.metrics.counts);
            let _ = writeln!(out, "uptime: {}", view.uptime_secs);
            let _ = writeln!(out, "messages.last_msg_seen: {}", view.since_last_msg_secs);
            let _ = writeln!(out, "messages.bad_lines_seen: {}", counts.bad_lines_seen);
            let _ = writeln!(
                out,
                "messages.packets_received: {}",
                counts.packets_received
            );
            let _ = writeln!(
                out,
                "messages.metrics_received: {}",
                counts.metrics_received
            );
            let _ = writeln!(out, "metrics.held: {}", view.metrics.len());
            let _ = writeln!(out, "metrics.dropped: {}", counts.metrics_dropped);
            let _ = writeln!(out, "metrics.samples_dropped: {}", counts.samples_dropped);
            for (name, value) in view.extra_stats {
                let _ = writeln!(out, "{name}: {value}");
            }
        }
        Command::Dump(kind) => dump(&mut out, view.metrics, *kind),
        Command::Delete(kind, names) => {
            for name in names {
                let removed = view.metrics.delete(*kind, name);
                if removed.is_empty() {
                    let _ = writeln!(out, "metric {name} not found");
                }
                for key in removed {
                    let _ = writeln!(out, "deleted: {key}");
                }
            }
        }
        Command::Health(set) => {
            if let Some(up) = set {
                *view.health_up = *up;
            }
            let status = if *view.health_up { "up" } else { "down" };
            let _ = writeln!(out, "health: {status}");
        }
        Command::Config => {
            for (name, value) in view.config {
                let _ = writeln!(out, "{name}: {value}");
            }
        }
        Command::Reload => {
            out.push_str("reloading\n");
            action = Action::Reload;
        }
        Command::Quit => return (String::new(), Action::Quit),
        Command::Unknown(_) => out.push_str("ERROR\n"),
    }
    out.push_str("END\n\n");
    (out, action)
}

/// A dump as Node's `util.inspect` writes an object broken over lines.
fn dump(out: &mut String, metrics: &Metrics, kind: Kind) {
    let mut entries: Vec<(String, String)> = match kind {
        Kind::Counter => {
            let mut all: Vec<(String, String)> = metrics
                .counts
                .named()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            all.extend(
                metrics
                    .counters
                    .iter()
                    .map(|(k, v)| (k.clone(), crate::number::js(*v))),
            );
            all
        }
        Kind::Gauge => metrics
            .gauges
            .iter()
            .map(|(k, g)| (k.clone(), crate::number::js(g.value())))
            .collect(),
        Kind::Timer => metrics
            .timers
            .iter()
            .map(|(k, t)| {
                let mut items = String::new();
                list(&mut items, t.values.iter(), |s, v| write_js(s, *v));
                (k.clone(), items)
            })
            .collect(),
        Kind::Set => metrics
            .sets
            .iter()
            .map(|(k, members)| {
                let mut sorted: Vec<&[u8]> = members.iter().map(|m| &m[..]).collect();
                sorted.sort_unstable();
                let mut items = String::new();
                list(&mut items, sorted.into_iter(), |s, m| {
                    quote(s, &String::from_utf8_lossy(m))
                });
                (k.clone(), items)
            })
            .collect(),
    };
    entries.sort();
    if entries.is_empty() {
        out.push_str("{}\n");
        return;
    }
    out.push_str("{\n");
    let last = entries.len() - 1;
    for (i, (key, value)) in entries.into_iter().enumerate() {
        out.push_str("  ");
        if is_identifier(&key) {
            out.push_str(&key);
        } else {
            quote(out, &key);
        }
        out.push_str(": ");
        out.push_str(&value);
        out.push_str(if i == last { "\n" } else { ",\n" });
    }
    out.push_str("}\n");
}

/// `[ a, b, … ]`, at most [`MAX_ITEMS`] shown, as Node prints an array.
fn list<T>(
    out: &mut String,
    items: impl ExactSizeIterator<Item = T>,
    each: impl Fn(&mut String, T),
) {
    let total = items.len();
    if total == 0 {
        out.push_str("[]");
        return;
    }
    out.push_str("[ ");
    for (i, item) in items.take(MAX_ITEMS).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        each(out, item);
    }
    if total > MAX_ITEMS {
        let _ = write!(out, ", ... {} more items", total - MAX_ITEMS);
    }
    out.push_str(" ]");
}

/// A JavaScript single-quoted string literal.
fn quote(out: &mut String, text: &str) {
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Limits;

    fn run(metrics: &mut Metrics, line: &str) -> (String, Action) {
        let mut health = true;
        execute(
            &parse_command(line),
            AdminView {
                metrics,
                totals: &Counts::default(),
                uptime_secs: 5,
                since_last_msg_secs: 1,
                health_up: &mut health,
                extra_stats: &[("workers.running".into(), "2".into())],
                config: &[],
            },
        )
    }

    #[test]
    fn replies_end_with_end_and_an_empty_line() {
        let mut metrics = Metrics::new(Limits::default());
        for cmd in [
            "help",
            "stats",
            "counters",
            "health",
            "health down",
            "nope",
            "",
        ] {
            let (reply, _) = run(&mut metrics, cmd);
            assert!(reply.ends_with("END\n\n"), "{cmd}: {reply:?}");
        }
        assert_eq!(run(&mut metrics, "nope").0, "ERROR\nEND\n\n");
        assert_eq!(run(&mut metrics, "health").0, "health: up\nEND\n\n");
        assert_eq!(run(&mut metrics, "quit"), (String::new(), Action::Quit));
        assert_eq!(run(&mut metrics, "reload").1, Action::Reload);
    }

    #[test]
    fn dumps_and_deletes() {
        let mut metrics = Metrics::new(Limits::default());
        metrics.ingest_packet(b"a.b:2|c\na.c:1|c\nt:3|ms\nt:1|ms\ns:x|s\ng:1|g");
        let (counters, _) = run(&mut metrics, "counters");
        assert!(counters.contains("  'a.b': 2,\n"), "{counters}");
        assert!(counters.contains("  'statsd.packets_received': 1,\n"));
        assert_eq!(
            run(&mut metrics, "timers").0,
            "{\n  t: [ 3, 1 ]\n}\nEND\n\n"
        );
        assert_eq!(run(&mut metrics, "sets").0, "{\n  s: [ 'x' ]\n}\nEND\n\n");
        assert_eq!(
            run(&mut metrics, "delcounters a.* zz").0,
            "deleted: a.b\ndeleted: a.c\nmetric zz not found\nEND\n\n"
        );
        assert!(metrics.counters.is_empty());
        assert_eq!(run(&mut metrics, "delgauges g").0, "deleted: g\nEND\n\n");
        let (stats, _) = run(&mut metrics, "stats");
        assert!(stats.starts_with("uptime: 5\nmessages.last_msg_seen: 1\n"));
        assert!(stats.contains("workers.running: 2\n"));
    }
}
