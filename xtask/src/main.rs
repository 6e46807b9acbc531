//! Shoal's project commands. `cargo xtask help` lists them.

mod bench;
mod cfree;
mod ci;
mod step;
mod tasks;

use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <command>

  ci                 every check: setup, fmt, clippy, tests, docs, loom, asan, miri,
                     fuzz, deny, c-free; a summary table; non-zero exit on failure
  c-free             library crates' normal dependency graph is pure Rust
  loom               the loom models (crates/*/tests/loom*.rs), bounded
  asan               tests of crates with unsafe modules under AddressSanitizer
  fuzz [T] [--secs N] a short fuzz run of target T (default: every target)
  deny               cargo deny check bans licenses sources
  setup              install the tools the checks need (cargo-deny, cargo-fuzz,
                     socat, netcat, Python packages)
  bench [NAME]       side-by-side benchmarks; rewrites docs/benchmarks.md
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{HELP}");
        return ExitCode::FAILURE;
    };
    let rest = &args[1..];
    let outcome = match command.as_str() {
        "ci" => return ci::run_all(),
        "c-free" => tasks::c_free(),
        "loom" => tasks::loom(),
        "asan" => tasks::asan(),
        "fuzz" => match parse_fuzz_args(rest) {
            Ok((target, secs)) => tasks::fuzz(target.as_deref(), secs),
            Err(msg) => {
                eprintln!("xtask fuzz: {msg}");
                return ExitCode::FAILURE;
            }
        },
        "deny" => tasks::deny(),
        "setup" => tasks::setup(),
        "bench" => bench::run(rest.first().map(String::as_str)),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("xtask: unknown command {other:?}\n\n{HELP}");
            return ExitCode::FAILURE;
        }
    };
    println!("xtask {command}: {outcome}");
    match outcome {
        step::Outcome::Failed(_) => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    }
}

fn parse_fuzz_args(args: &[String]) -> Result<(Option<String>, u64), String> {
    let mut target = None;
    let mut secs = tasks::DEFAULT_FUZZ_SECS;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--secs" {
            let value = iter.next().ok_or("--secs needs a number")?;
            secs = value
                .parse()
                .map_err(|_| format!("--secs: not a number: {value}"))?;
        } else if target.is_none() {
            target = Some(arg.clone());
        } else {
            return Err(format!("unexpected argument {arg:?}"));
        }
    }
    Ok((target, secs))
}

/// The workspace root (the xtask lives one level below it).
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent")
        .to_owned()
}

/// Whether we run under CI (`CI=true`): missing tools are failures, never skips.
pub(crate) fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}
