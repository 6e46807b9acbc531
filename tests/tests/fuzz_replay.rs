//! Replays every committed fuzz seed and past crash through its harness on stable Rust.
//!
//! `fuzz/seeds/<target>/*` are the starting corpora, `fuzz/crashes/<target>/*` the
//! minimised inputs of crashes that were fixed. A directory whose name is not a
//! registered target is an error, so a renamed harness cannot silently stop replaying.

use std::path::Path;

use shoal_tests::fuzz::{TARGETS, harness};

fn replay_dir(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind);
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return 0;
    };
    let mut replayed = 0;
    for dir in dirs {
        let dir = dir.expect("read fuzz dir entry").path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let run =
            harness(&name).unwrap_or_else(|| panic!("{} has no registered harness", dir.display()));
        for input in std::fs::read_dir(&dir).expect("read corpus dir") {
            let path = input.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("read corpus file");
            run(&data);
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn seeds_and_crashes_replay_without_panicking() {
    let replayed = replay_dir("seeds") + replay_dir("crashes");
    // Every registered target must have at least one seed.
    if !TARGETS.is_empty() {
        assert!(
            replayed >= TARGETS.len(),
            "every fuzz target needs committed seeds"
        );
    }
    for (name, _) in TARGETS {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/seeds")
            .join(name);
        assert!(
            seeds.is_dir(),
            "fuzz target {name} has no fuzz/seeds/{name}/"
        );
        let target = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        assert!(
            target.is_file(),
            "harness {name} has no fuzz/fuzz_targets/{name}.rs"
        );
    }
}
