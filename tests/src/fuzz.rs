//! Fuzz harnesses: one function per target, shared by `fuzz/` and the stable replay test.
//!
//! A harness takes arbitrary bytes and panics only when an invariant of the code under
//! test is broken (the fuzzer reports a panic as a crash). Register each harness in
//! [`TARGETS`] under the name of its file in `fuzz/fuzz_targets/`; seeds live in
//! `fuzz/seeds/<name>/` and minimised crashes in `fuzz/crashes/<name>/`.

/// A fuzz harness: runs the code under test on one input.
pub type Harness = fn(&[u8]);

/// Every fuzz target, by name (the file stem in `fuzz/fuzz_targets/`).
pub const TARGETS: &[(&str, Harness)] = &[];

/// The harness registered under `name`, if any.
pub fn harness(name: &str) -> Option<Harness> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}
