//! `shoal-statsd`: the daemon. See `docs/statsd.md`.

mod daemon;

use std::process::ExitCode;

use shoal_statsd::cli::{self, Invocation};

fn main() -> ExitCode {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    match cli::parse_args(std::env::args().skip(1), workers) {
        Ok(Invocation::Help) => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Invocation::Version) => {
            println!("shoal-statsd {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Invocation::Run(config)) => daemon::main(config),
        Err(err) => {
            eprintln!("shoal-statsd: {err}");
            ExitCode::from(2)
        }
    }
}
