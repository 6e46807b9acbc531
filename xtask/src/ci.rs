//! `cargo xtask ci`: every check in order, each with a time limit, then one summary.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::step::{self, Outcome};
use crate::{root, tasks};

const MIN: u64 = 60;

/// Runs every step (a failed step does not stop the later ones) and prints the table.
pub(crate) fn run_all() -> ExitCode {
    type Step = (&'static str, Box<dyn Fn() -> Outcome>);
    let steps: Vec<Step> = vec![
        ("setup", Box::new(tasks::setup)),
        ("fmt", Box::new(fmt)),
        (
            "clippy",
            Box::new(|| {
                cargo(
                    &[
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--all-features",
                        "--locked",
                        "--",
                        "-D",
                        "warnings",
                    ],
                    25 * MIN,
                )
            }),
        ),
        (
            "clippy (no default features)",
            Box::new(clippy_no_default_features),
        ),
        ("clippy (bench/)", Box::new(clippy_bench)),
        (
            "test",
            Box::new(|| {
                cargo(
                    &["test", "--workspace", "--all-features", "--locked"],
                    30 * MIN,
                )
            }),
        ),
        ("doc", Box::new(doc)),
        ("loom", Box::new(tasks::loom)),
        ("asan", Box::new(tasks::asan)),
        ("miri", Box::new(tasks::miri)),
        (
            "fuzz",
            Box::new(|| tasks::fuzz(None, tasks::DEFAULT_FUZZ_SECS)),
        ),
        ("deny", Box::new(tasks::deny)),
        (
            "advisories",
            Box::new(|| {
                Outcome::Skipped("the RustSec advisory database cannot be fetched here (no network but the package registries)".into())
            }),
        ),
        ("c-free", Box::new(tasks::c_free)),
    ];
    let mut results = Vec::new();
    for (name, run) in &steps {
        eprintln!("\n==== xtask ci: {name}");
        let start = Instant::now();
        let outcome = run();
        eprintln!("==== xtask ci: {name}: {outcome}");
        results.push((*name, outcome, start.elapsed()));
    }
    print_summary(&results)
}

fn print_summary(results: &[(&str, Outcome, Duration)]) -> ExitCode {
    println!("\n| step | result | seconds |\n|---|---|---|");
    for (name, outcome, took) in results {
        println!("| {name} | {outcome} | {:.0} |", took.as_secs_f64());
    }
    let count = |f: fn(&Outcome) -> bool| results.iter().filter(|(_, o, _)| f(o)).count();
    let passed = count(|o| matches!(o, Outcome::Passed));
    let failed = count(|o| matches!(o, Outcome::Failed(_)));
    let skipped = count(|o| matches!(o, Outcome::Skipped(_)));
    println!("\nxtask ci: {passed} passed, {failed} failed, {skipped} skipped");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `cargo ARGS` in the workspace root with a time limit.
pub(crate) fn cargo(args: &[&str], limit_secs: u64) -> Outcome {
    step::run(
        Command::new(env!("CARGO")).args(args).current_dir(root()),
        Duration::from_secs(limit_secs),
    )
}

fn fmt() -> Outcome {
    for manifest in ["Cargo.toml", "fuzz/Cargo.toml", "bench/Cargo.toml"] {
        // The fuzz package has no target (and so no valid manifest) until the first one.
        if manifest == "fuzz/Cargo.toml" && tasks::fuzz_targets().is_empty() {
            continue;
        }
        let outcome = cargo(
            &["fmt", "--all", "--manifest-path", manifest, "--", "--check"],
            2 * MIN,
        );
        if outcome != Outcome::Passed {
            return outcome;
        }
    }
    Outcome::Passed
}

/// Feature-gated code (the reactor integrations, `regex`, `polling`, `serde`) must also
/// build cleanly without the features.
fn clippy_no_default_features() -> Outcome {
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--no-default-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        25 * MIN,
    )
}

fn clippy_bench() -> Outcome {
    cargo(
        &[
            "clippy",
            "--manifest-path",
            "bench/Cargo.toml",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        20 * MIN,
    )
}

fn doc() -> Outcome {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "doc",
        "--workspace",
        "--no-deps",
        "--all-features",
        "--locked",
    ])
    .env("RUSTDOCFLAGS", "-D warnings")
    .current_dir(root());
    step::run(&mut cmd, Duration::from_secs(10 * MIN))
}
