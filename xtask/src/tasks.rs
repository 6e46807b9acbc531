//! The individual checks behind `cargo xtask ci`, each also a command of its own.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::step::{self, Outcome};
use crate::{cfree, root, under_ci};

/// Seconds each fuzz target runs in `cargo xtask ci`.
pub(crate) const DEFAULT_FUZZ_SECS: u64 = 15;

/// The target triple the sanitizer build is pinned to, so that build scripts and proc
/// macros are not instrumented.
pub(crate) const HOST: &str = "x86_64-unknown-linux-gnu";

const MIN: u64 = 60;

pub(crate) fn c_free() -> Outcome {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "metadata",
        "--format-version",
        "1",
        "--locked",
        "--filter-platform",
        HOST,
    ])
    .current_dir(root());
    let text = match step::output(&mut cmd) {
        Ok(text) => text,
        Err(err) => return Outcome::Failed(err),
    };
    let metadata: serde_json::Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(err) => return Outcome::Failed(format!("cargo metadata is not JSON: {err}")),
    };
    let mut print_cfg = Command::new("rustc");
    print_cfg.args(["--print", "cfg", "--target", HOST]);
    let target_cfg: Vec<String> = match step::output(&mut print_cfg) {
        Ok(text) => text.lines().map(|l| l.replace(' ', "")).collect(),
        Err(err) => return Outcome::Failed(err),
    };
    match cfree::check(&metadata, &target_cfg) {
        Ok(libraries) => {
            eprintln!(
                "c-free: normal dependencies of {} are pure Rust",
                libraries.join(", ")
            );
            Outcome::Passed
        }
        Err(violations) => {
            for v in &violations {
                eprintln!("c-free: {} {}", v.path.join(" -> "), v.reason);
            }
            Outcome::Failed(format!(
                "{} package(s) bring C into a library crate",
                violations.len()
            ))
        }
    }
}

/// Packages (by directory under `crates/`) with at least one file in `dir_in_crate`
/// matching `pred`.
fn crates_with(dir_in_crate: &str, pred: impl Fn(&Path, &str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(crates) = fs::read_dir(root().join("crates")) else {
        return found;
    };
    let mut crates: Vec<PathBuf> = crates.filter_map(|e| e.ok().map(|e| e.path())).collect();
    crates.sort();
    for krate in crates {
        let mut files = Vec::new();
        collect_rs(&krate.join(dir_in_crate), &mut files);
        if files
            .iter()
            .any(|f| pred(f, &fs::read_to_string(f).unwrap_or_default()))
        {
            found.push(package_name(&krate));
        }
    }
    found
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn package_name(krate: &Path) -> String {
    let manifest = fs::read_to_string(krate.join("Cargo.toml")).unwrap_or_default();
    manifest
        .lines()
        .find_map(|l| {
            l.strip_prefix("name = ")
                .map(|n| n.trim_matches('"').to_owned())
        })
        .unwrap_or_default()
}

/// Crates with a module that opts into `unsafe_code`.
fn unsafe_crates() -> Vec<String> {
    crates_with("src", |_, text| text.contains("allow(unsafe_code)"))
}

/// `crates/*/tests/loom*.rs`, run with `--cfg loom` in release mode, bounded.
pub(crate) fn loom() -> Outcome {
    let models = crates_with("tests", |path, _| {
        path.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("loom"))
    });
    if models.is_empty() {
        return Outcome::Skipped("none yet".into());
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "test",
        "--release",
        "--locked",
        "--target-dir",
        "target/loom",
    ]);
    for pkg in &models {
        cmd.args(["-p", pkg]);
    }
    cmd.args(["--test", "loom*"])
        .env("RUSTFLAGS", "--cfg loom")
        .env("LOOM_MAX_PREEMPTIONS", "2")
        .current_dir(root());
    step::run(&mut cmd, Duration::from_secs(20 * MIN))
}

/// Library and integration tests of crates with unsafe modules under AddressSanitizer.
pub(crate) fn asan() -> Outcome {
    let crates = unsafe_crates();
    if crates.is_empty() {
        return Outcome::Skipped("none yet (no crate opts into unsafe_code)".into());
    }
    let mut cmd = Command::new(env!("CARGO"));
    // --all-features: the polling backend is one of the modules that opt into unsafe.
    cmd.args([
        "test",
        "--locked",
        "--all-features",
        "--lib",
        "--tests",
        "--target",
        HOST,
        "--target-dir",
        "target/asan",
    ]);
    for pkg in &crates {
        cmd.args(["-p", pkg]);
    }
    // The one toolchain here is stable: RUSTC_BOOTSTRAP unlocks -Z flags.
    cmd.env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTFLAGS", "-Zsanitizer=address")
        .env("ASAN_OPTIONS", "detect_leaks=1")
        .current_dir(root());
    step::run(&mut cmd, Duration::from_secs(20 * MIN))
}

/// Miri over the unsafe crates where it is installed.
pub(crate) fn miri() -> Outcome {
    if !step::succeeds(env!("CARGO"), &["miri", "--version"]) {
        return Outcome::Skipped(
            "Miri is not installed (no rustup component for this toolchain); the unsafe crates run under ASan instead".into(),
        );
    }
    let crates = unsafe_crates();
    if crates.is_empty() {
        return Outcome::Skipped("none yet (no crate opts into unsafe_code)".into());
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["miri", "test", "--lib"]);
    for pkg in &crates {
        cmd.args(["-p", pkg]);
    }
    step::run(cmd.current_dir(root()), Duration::from_secs(20 * MIN))
}

/// Fuzz targets: file stems of `fuzz/fuzz_targets/*.rs`, sorted.
pub(crate) fn fuzz_targets() -> Vec<String> {
    let mut files = Vec::new();
    collect_rs(&root().join("fuzz/fuzz_targets"), &mut files);
    let mut names: Vec<String> = files
        .iter()
        .filter_map(|f| Some(f.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// Builds every target once, then runs each for `secs` seconds on a copy of its seeds.
pub(crate) fn fuzz(only: Option<&str>, secs: u64) -> Outcome {
    let all = fuzz_targets();
    if all.is_empty() {
        return Outcome::Skipped("none yet".into());
    }
    let targets: Vec<String> = match only {
        Some(t) if all.iter().any(|a| a == t) => vec![t.to_owned()],
        Some(t) => {
            return Outcome::Failed(format!("no fuzz target {t:?}; have {}", all.join(", ")));
        }
        None => all,
    };
    if !step::succeeds(env!("CARGO"), &["fuzz", "--version"]) {
        return missing_tool("cargo-fuzz (run `cargo xtask setup`)");
    }
    let fuzz_cmd = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO"));
        // Stable toolchain: RUSTC_BOOTSTRAP unlocks the -Z flags cargo-fuzz passes.
        cmd.arg("fuzz")
            .args(args)
            .env("RUSTC_BOOTSTRAP", "1")
            .current_dir(root());
        cmd
    };
    // The harnesses are safe Rust: no sanitizer, so the short run spends its time fuzzing.
    let build = step::run(
        &mut fuzz_cmd(&["build", "-O", "-s", "none"]),
        Duration::from_secs(15 * MIN),
    );
    if build != Outcome::Passed {
        return build;
    }
    let scratch = std::env::temp_dir().join(format!("shoal-fuzz-{}", std::process::id()));
    let mut failures = Vec::new();
    for target in &targets {
        let corpus = scratch.join(target);
        if let Err(err) = copy_dir(&root().join("fuzz/seeds").join(target), &corpus) {
            failures.push(format!("{target}: copying seeds: {err}"));
            continue;
        }
        let artifacts = format!("-artifact_prefix={}/", scratch.display());
        let max_time = format!("-max_total_time={secs}");
        let corpus_arg = corpus.to_string_lossy().into_owned();
        let args = [
            "run",
            "-O",
            "-s",
            "none",
            target,
            &corpus_arg,
            "--",
            &max_time,
            &artifacts,
        ];
        let outcome = step::run(&mut fuzz_cmd(&args), Duration::from_secs(secs + 5 * MIN));
        if outcome != Outcome::Passed {
            failures.push(format!(
                "{target}: {outcome} (artifacts in {})",
                scratch.display()
            ));
        }
    }
    if failures.is_empty() {
        let _ = fs::remove_dir_all(&scratch);
        Outcome::Passed
    } else {
        Outcome::Failed(failures.join("; "))
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    if let Ok(entries) = fs::read_dir(from) {
        for entry in entries {
            let entry = entry?;
            fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

pub(crate) fn deny() -> Outcome {
    if !step::succeeds(env!("CARGO"), &["deny", "--version"]) {
        return missing_tool("cargo-deny (run `cargo xtask setup`)");
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "deny",
        "--all-features",
        "--locked",
        "check",
        "bans",
        "licenses",
        "sources",
    ])
    .current_dir(root());
    step::run(&mut cmd, Duration::from_secs(5 * MIN))
}

/// A tool that is not here: a failure under CI, a skip with the reason elsewhere.
fn missing_tool(what: &str) -> Outcome {
    if under_ci() {
        Outcome::Failed(format!("{what} is missing"))
    } else {
        Outcome::Skipped(format!("{what} is missing"))
    }
}

/// Installs what the checks need and is not there yet.
pub(crate) fn setup() -> Outcome {
    let mut problems = Vec::new();
    for (tool, krate) in [("deny", "cargo-deny"), ("fuzz", "cargo-fuzz")] {
        if !step::succeeds(env!("CARGO"), &[tool, "--version"]) {
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["install", "--locked", krate]);
            if step::run(&mut cmd, Duration::from_secs(40 * MIN)) != Outcome::Passed {
                problems.push(format!("cargo install {krate} failed"));
            }
        }
    }
    let missing_debs: Vec<&str> = [("socat", "socat"), ("nc", "netcat-openbsd")]
        .into_iter()
        .filter(|(bin, _)| !step::succeeds("sh", &["-c", &format!("command -v {bin}")]))
        .map(|(_, deb)| deb)
        .collect();
    if !missing_debs.is_empty() {
        let script = format!(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {}",
            missing_debs.join(" ")
        );
        if step::run(
            Command::new("sh").args(["-c", &script]),
            Duration::from_secs(10 * MIN),
        ) != Outcome::Passed
        {
            problems.push(format!("apt-get install {} failed", missing_debs.join(" ")));
        }
    }
    let python_packages = ["statsd"];
    let import_all = python_packages.map(|p| format!("import {p}")).join("; ");
    if !step::succeeds("python3", &["-c", &import_all]) {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "pip", "install", "--quiet"])
            .args(python_packages);
        if step::run(&mut cmd, Duration::from_secs(5 * MIN)) != Outcome::Passed {
            problems.push(format!("pip install {} failed", python_packages.join(" ")));
        }
    }
    if problems.is_empty() {
        Outcome::Passed
    } else if under_ci() {
        Outcome::Failed(problems.join("; "))
    } else {
        Outcome::Skipped(format!("could not install: {}", problems.join("; ")))
    }
}
