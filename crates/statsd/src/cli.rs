//! Command-line options of `shoal-statsd`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::metrics::Limits;

/// Where flushes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Standard output.
    Stdout,
    /// Appended to a file.
    File(PathBuf),
    /// Graphite's plaintext protocol over TCP to `HOST:PORT`.
    Graphite(String),
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sink::Stdout => f.write_str("stdout"),
            Sink::File(path) => write!(f, "file:{}", path.display()),
            Sink::Graphite(addr) => write!(f, "graphite://{addr}"),
        }
    }
}

/// The daemon's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `--udp ADDR`: where statsd datagrams arrive.
    pub udp: SocketAddr,
    /// `--admin ADDR`: the admin TCP interface.
    pub admin: SocketAddr,
    /// `--workers N`: receiving processes.
    pub workers: usize,
    /// `--flush-interval MS`.
    pub flush_interval_ms: u64,
    /// `--flush SINK`.
    pub sink: Sink,
    /// `--rcvbuf BYTES`: the UDP socket's receive buffer.
    pub rcvbuf: usize,
    /// `--percentiles 90,99`.
    pub percentiles: Vec<f64>,
    /// `--max-metrics N` and the sample memory bound.
    pub limits: Limits,
}

impl Config {
    /// The defaults, with `workers` workers.
    pub fn with_workers(workers: usize) -> Self {
        Config {
            udp: SocketAddr::from(([127, 0, 0, 1], 8125)),
            admin: SocketAddr::from(([127, 0, 0, 1], 8126)),
            workers,
            flush_interval_ms: 10_000,
            sink: Sink::Stdout,
            rcvbuf: 4 << 20,
            percentiles: vec![90.0],
            limits: Limits::default(),
        }
    }

    /// The options as `--flag value` arguments, which [`parse_args`] reads back (how a
    /// reload passes the configuration on).
    pub fn to_args(&self) -> Vec<String> {
        let percentiles: Vec<String> = self
            .percentiles
            .iter()
            .map(|p| crate::number::js(*p))
            .collect();
        [
            ("--udp", self.udp.to_string()),
            ("--admin", self.admin.to_string()),
            ("--workers", self.workers.to_string()),
            ("--flush-interval", self.flush_interval_ms.to_string()),
            ("--flush", self.sink.to_string()),
            ("--rcvbuf", self.rcvbuf.to_string()),
            ("--percentiles", percentiles.join(",")),
            ("--max-metrics", self.limits.max_metrics.to_string()),
            (
                "--max-sample-bytes",
                self.limits.max_sample_bytes.to_string(),
            ),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect()
    }

    /// `name: value` lines for the admin `config` command.
    pub fn describe(&self) -> Vec<(String, String)> {
        let args = self.to_args();
        args.chunks(2)
            .map(|pair| (pair[0].trim_start_matches('-').to_owned(), pair[1].clone()))
            .collect()
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// Run the daemon.
    Run(Config),
    /// Print [`USAGE`] and exit.
    Help,
    /// Print the version and exit.
    Version,
}

/// The `--help` text.
pub const USAGE: &str = "\
shoal-statsd: a statsd-compatible, multi-process metrics aggregator

Usage: shoal-statsd [OPTIONS]

Options:
  --udp ADDR              statsd datagrams (default 127.0.0.1:8125; port 0 picks one)
  --admin ADDR            admin TCP interface (default 127.0.0.1:8126)
  --workers N             receiving worker processes (default: CPU count)
  --flush-interval MS     flush every MS milliseconds (default 10000)
  --flush SINK            stdout | file:PATH (appends) | graphite://HOST:PORT
                          (default stdout)
  --rcvbuf BYTES          UDP receive buffer (default 4194304)
  --percentiles LIST      timer percentiles, comma separated (default 90)
  --max-metrics N         distinct metrics held; new names past it are dropped and
                          counted (default 100000)
  --max-sample-bytes N    memory for timer values and set members per interval
                          (default 67108864)
  -h, --help              this text
  -V, --version           the version

After binding, one line on stderr names the bound addresses:
  shoal-statsd: udp 127.0.0.1:8125 admin 127.0.0.1:8126
Signals: SIGHUP (or the admin command `reload`) starts a new generation without
losing a packet; SIGTERM or SIGINT flushes once and exits.
";

/// A command-line error, with the message to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Parses the arguments (without the program name); `--flag value` and
/// `--flag=value` both work.
///
/// # Errors
/// A [`UsageError`] naming the flag and what was wrong with its value.
pub fn parse_args<I: IntoIterator<Item = String>>(
    args: I,
    default_workers: usize,
) -> Result<Invocation, UsageError> {
    let mut config = Config::with_workers(default_workers.max(1));
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Invocation::Help),
            "-V" | "--version" => return Ok(Invocation::Version),
            _ => {}
        }
        let value = match inline.or_else(|| args.next()) {
            Some(value) => value,
            None => return Err(UsageError(format!("{flag} needs a value (see --help)"))),
        };
        let bad = |what: &str| UsageError(format!("{flag} {value:?}: {what}"));
        match flag.as_str() {
            "--udp" => config.udp = value.parse().map_err(|_| bad("not an IP:PORT address"))?,
            "--admin" => config.admin = value.parse().map_err(|_| bad("not an IP:PORT address"))?,
            "--workers" => {
                config.workers = positive(&value).ok_or_else(|| bad("not a count from 1"))?;
                if config.workers > 256 {
                    return Err(bad("at most 256 workers"));
                }
            }
            "--flush-interval" => {
                config.flush_interval_ms =
                    positive(&value).ok_or_else(|| bad("not milliseconds from 1"))? as u64;
            }
            "--flush" => {
                config.sink = parse_sink(&value)
                    .ok_or_else(|| bad("not stdout, file:PATH or graphite://HOST:PORT"))?
            }
            "--rcvbuf" => {
                config.rcvbuf = positive(&value).ok_or_else(|| bad("not a byte count from 1"))?
            }
            "--percentiles" => {
                config.percentiles = parse_percentiles(&value)
                    .ok_or_else(|| bad("not a list of numbers in -100..=100 other than 0"))?
            }
            "--max-metrics" => {
                config.limits.max_metrics =
                    positive(&value).ok_or_else(|| bad("not a count from 1"))?
            }
            "--max-sample-bytes" => {
                config.limits.max_sample_bytes =
                    value.parse().map_err(|_| bad("not a byte count"))?
            }
            _ => return Err(UsageError(format!("unknown option {flag} (see --help)"))),
        }
    }
    Ok(Invocation::Run(config))
}

fn positive(value: &str) -> Option<usize> {
    value.parse().ok().filter(|n| *n > 0)
}

fn parse_sink(value: &str) -> Option<Sink> {
    if value == "stdout" {
        Some(Sink::Stdout)
    } else if let Some(path) = value.strip_prefix("file:") {
        (!path.is_empty()).then(|| Sink::File(PathBuf::from(path)))
    } else if let Some(addr) = value.strip_prefix("graphite://") {
        let (host, port) = addr.rsplit_once(':')?;
        (!host.is_empty() && port.parse::<u16>().is_ok()).then(|| Sink::Graphite(addr.to_owned()))
    } else {
        None
    }
}

fn parse_percentiles(value: &str) -> Option<Vec<f64>> {
    let list: Option<Vec<f64>> = value
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite() && *p != 0.0 && p.abs() <= 100.0)
        })
        .collect();
    list.filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation, UsageError> {
        parse_args(args.iter().map(|s| s.to_string()), 2)
    }

    #[test]
    fn defaults_and_flags() {
        let Invocation::Run(config) = parse(&[]).unwrap() else {
            panic!("expected a run");
        };
        assert_eq!(config, Config::with_workers(2));
        assert_eq!(config.udp.to_string(), "127.0.0.1:8125");
        assert_eq!(config.admin.to_string(), "127.0.0.1:8126");
        let Invocation::Run(config) = parse(&[
            "--udp",
            "127.0.0.1:0",
            "--admin=[::1]:0",
            "--workers",
            "3",
            "--flush-interval",
            "250",
            "--flush",
            "file:/tmp/x",
            "--percentiles",
            "90,99.9,-10",
            "--max-metrics",
            "7",
        ])
        .unwrap() else {
            panic!("expected a run");
        };
        assert_eq!(config.workers, 3);
        assert_eq!(config.flush_interval_ms, 250);
        assert_eq!(config.sink, Sink::File("/tmp/x".into()));
        assert_eq!(config.percentiles, [90.0, 99.9, -10.0]);
        assert_eq!(config.limits.max_metrics, 7);
        let again = parse_args(config.to_args(), 1).unwrap();
        assert_eq!(again, Invocation::Run(config));
        assert_eq!(parse(&["--help"]).unwrap(), Invocation::Help);
    }

    #[test]
    fn bad_flags_are_errors() {
        assert!(parse(&["--workers", "0"]).is_err());
        assert!(parse(&["--udp", "nowhere"]).is_err());
        assert!(parse(&["--flush", "graphite://host"]).is_err());
        assert!(parse(&["--percentiles", "0"]).is_err());
        assert!(parse(&["--percentiles", "101"]).is_err());
        assert!(parse(&["--bogus", "1"]).is_err());
        assert!(parse(&["--flush-interval"]).is_err());
    }
}
