//! Paths tests need: example binaries and private temporary directories.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `target/[<triple>/]<profile>/examples/<name>`: the example binary cargo builds next to
/// this test binary (`target/…/<profile>/deps/<test>`). `cargo test` builds a package's
/// examples before running its tests; `cargo test --tests` does not, so the path may not
/// exist yet.
///
/// # Panics
///
/// If the path of the running test binary is unknown or has no grandparent.
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("profile dir above deps/")
        .join("examples")
        .join(name)
}

/// A private directory under [`std::env::temp_dir`], removed with its contents when
/// dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `shoal-TAG-PID-N` (N counts the directories of this process), emptying a
    /// leftover of a previous process with the same PID first.
    ///
    /// # Panics
    ///
    /// If the directory cannot be created.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("shoal-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
