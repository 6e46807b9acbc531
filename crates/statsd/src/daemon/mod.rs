//! The daemon: a supervisor process per generation and its worker processes (see
//! `docs/statsd.md`). The library crate stays free of processes and signals; this
//! binary-only module may use `libc` through `signal-hook` (rustix 1.1 has no
//! `sigaction`).

mod admin_server;
mod inherit;
mod signals;
mod sink;
mod supervisor;
mod worker;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use shoal_statsd::cli::Config;

/// Runs the role this process was started in: a fresh daemon, a worker, or the next
/// generation of a reload.
pub(crate) fn main(config: Config) -> ExitCode {
    let role = std::env::var(supervisor::ROLE_VAR).unwrap_or_default();
    match role.as_str() {
        "worker" => worker::run(config),
        "generation" => supervisor::run_reloaded(config),
        _ => supervisor::run_fresh(config),
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
