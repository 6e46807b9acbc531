//! Tidy checks of the tree itself, run as ordinary tests (as rust-analyzer does).

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn library_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for krate in fs::read_dir(root().join("crates")).expect("crates/") {
        rust_files(&krate.expect("crate dir").path().join("src"), &mut files);
    }
    files
}

/// Every `unsafe` block, impl or fn in library code carries a `SAFETY` comment (or a
/// `# Safety` doc section) within the three lines above it.
#[test]
fn unsafe_has_safety_comment() {
    let mut missing = Vec::new();
    for file in library_sources() {
        let text = fs::read_to_string(&file).expect("read source");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let is_unsafe = ["unsafe {", "unsafe impl", "unsafe fn"]
                .iter()
                .any(|pat| code.contains(pat));
            if !is_unsafe {
                continue;
            }
            let window = lines[i.saturating_sub(3)..=i].join("\n");
            if !(window.contains("SAFETY") || window.contains("# Safety")) {
                missing.push(format!("{}:{}", file.display(), i + 1));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "unsafe without a SAFETY comment:\n{}",
        missing.join("\n")
    );
}

/// Library code has no `todo!()` or `unimplemented!()`.
#[test]
fn no_todo_in_library_code() {
    let mut found = Vec::new();
    for file in library_sources() {
        let text = fs::read_to_string(&file).expect("read source");
        for (i, line) in text.lines().enumerate() {
            if line.contains("todo!(") || line.contains("unimplemented!(") {
                found.push(format!("{}:{}", file.display(), i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "todo!/unimplemented! in library code:\n{}",
        found.join("\n")
    );
}

/// `unsafe_code` is allowed only at module level, in modules that say why.
#[test]
fn unsafe_opt_in_is_per_module() {
    for krate in fs::read_dir(root().join("crates")).expect("crates/") {
        let lib = krate.expect("crate dir").path().join("src/lib.rs");
        let Ok(text) = fs::read_to_string(&lib) else {
            continue;
        };
        assert!(
            !text.contains("#![allow(unsafe_code)]"),
            "{}: opt into unsafe_code per module, not for the whole crate",
            lib.display()
        );
    }
}

/// Every crate that is built (no "Not built yet" marker) has its guide in `docs/`.
#[test]
fn built_crates_have_guides() {
    for krate in fs::read_dir(root().join("crates")).expect("crates/") {
        let dir = krate.expect("crate dir").path();
        let lib = fs::read_to_string(dir.join("src/lib.rs")).unwrap_or_default();
        if lib.contains("**Not built yet.**") {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let guide = root().join("docs").join(format!("{name}.md"));
        assert!(
            guide.is_file(),
            "crate {name} has no guide at {}",
            guide.display()
        );
        let arch = fs::read_to_string(root().join("docs/architecture.md")).expect("architecture");
        assert!(
            arch.contains(&format!("crates/{name}")),
            "docs/architecture.md has no code map entry for crates/{name}"
        );
    }
}

/// `.ci/run` runs exactly the test command the README gives.
#[test]
fn ci_runs_the_readme_test_command() {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    let ci = fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
    assert!(
        readme.contains("cargo xtask ci"),
        "README must give `cargo xtask ci`"
    );
    let commands: Vec<&str> = ci
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("set ") && !l.trim().is_empty())
        .collect();
    assert_eq!(
        commands,
        ["cargo xtask ci"],
        ".ci/run must run only the README's test command"
    );
}
