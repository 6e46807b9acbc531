//! `cargo xtask bench`: the side-by-side benchmarks, written to `docs/benchmarks.md`.
//!
//! The benchmarks live in `bench/`, a workspace of its own (its peers, mio, tokio-util
//! and libc, never enter the ordinary build). Each binary in `bench/src/bin/` runs one
//! comparison, ours and the peer's in the same run, and prints a Markdown section
//! (starting with `## `) on stdout; logs go to stderr. This command builds them once,
//! runs each in name order and writes the sections under a header that names the
//! machine. `cargo xtask bench NAME` runs one and replaces only its section.

use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::root;
use crate::step::{self, Outcome};

const HEADER_END: &str = "<!-- sections below are written by `cargo xtask bench` -->";

pub(crate) fn run(only: Option<&str>) -> Outcome {
    let bin_dir = root().join("bench/src/bin");
    let mut names: Vec<String> = fs::read_dir(&bin_dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    e.path()
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        return Outcome::Skipped("none yet".into());
    }
    if let Some(one) = only {
        if !names.iter().any(|n| n == one) {
            return Outcome::Failed(format!("no bench {one:?}; have {}", names.join(", ")));
        }
        names.retain(|n| n == one);
    }
    let mut build = Command::new(env!("CARGO"));
    build.args([
        "build",
        "--release",
        "--locked",
        "--manifest-path",
        "bench/Cargo.toml",
        "--bins",
    ]);
    let built = step::run(build.current_dir(root()), Duration::from_secs(20 * 60));
    if built != Outcome::Passed {
        return built;
    }
    let doc_path = root().join("docs/benchmarks.md");
    let old = fs::read_to_string(&doc_path).unwrap_or_default();
    let mut sections = existing_sections(&old);
    for name in &names {
        let exe = bench_target_dir().join("release").join(name);
        match step::output(Command::new(&exe).current_dir(root())) {
            Ok(markdown) => {
                sections.retain(|(n, _)| n != name);
                sections.push((name.clone(), markdown.trim().to_owned()));
            }
            Err(err) => return Outcome::Failed(format!("bench {name}: {err}")),
        }
    }
    sections.sort();
    let mut doc = header();
    for (name, body) in &sections {
        doc.push_str(&format!("\n<!-- bench:{name} -->\n{body}\n"));
    }
    if let Err(err) = fs::write(&doc_path, &doc) {
        return Outcome::Failed(format!("writing {}: {err}", doc_path.display()));
    }
    plot(&doc_path, &doc)
}

/// Draws the tables as SVG bar charts (`bench/plot.py`, standard library Python only)
/// into `docs/bench/` and links each chart at the end of its section.
fn plot(doc_path: &std::path::Path, doc: &str) -> Outcome {
    let mut cmd = Command::new("python3");
    cmd.arg("bench/plot.py")
        .arg(doc_path)
        .arg("docs/bench")
        .current_dir(root());
    let charts = match step::output(&mut cmd) {
        Ok(list) => list,
        Err(err) => return Outcome::Failed(format!("plotting: {err}")),
    };
    let mut linked = doc.to_owned();
    for chart in charts.lines() {
        let file = chart.trim_start_matches("docs/");
        let Some(name) = file
            .strip_prefix("bench/")
            .and_then(|f| f.rsplit_once('-'))
            .map(|(n, _)| n)
        else {
            continue;
        };
        let marker = format!("<!-- bench:{name} -->\n");
        let Some(start) = linked.find(&marker) else {
            continue;
        };
        let end = linked[start + marker.len()..]
            .find("\n<!-- bench:")
            .map_or(linked.len(), |i| start + marker.len() + i);
        linked.insert_str(end, &format!("\n![{name}]({file})\n"));
    }
    match fs::write(doc_path, linked) {
        Ok(()) => Outcome::Passed,
        Err(err) => Outcome::Failed(format!("writing {}: {err}", doc_path.display())),
    }
}

/// Where cargo puts the bench binaries: `CARGO_TARGET_DIR` if set, else `bench/target`.
fn bench_target_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("bench/target"),
    }
}

/// Sections of an earlier `docs/benchmarks.md`, keyed by bench name, so running one
/// bench keeps the others' figures.
fn existing_sections(doc: &str) -> Vec<(String, String)> {
    let mut sections = Vec::new();
    for chunk in doc.split("\n<!-- bench:").skip(1) {
        if let Some((name, body)) = chunk.split_once(" -->\n") {
            // Chart links are re-added after plotting.
            let body: Vec<&str> = body
                .lines()
                .filter(|l| !l.starts_with("![") || !l.contains("(bench/"))
                .collect();
            sections.push((name.to_owned(), body.join("\n").trim().to_owned()));
        }
    }
    sections
}

fn header() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "# Benchmarks\n\n\
         Written by `cargo xtask bench` (sources in `bench/`, one binary per comparison; \
         ours and the peer run side by side in the same invocation). Machine: {cpu}, \
         {cores} cores, Linux {}. The load generator and the server share those cores, \
         so every table gives CPU time per message next to throughput. Figures are \
         medians of a few short runs and move by ±15% between runs.\n\n{HEADER_END}\n",
        kernel.trim()
    )
}
