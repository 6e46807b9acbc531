//! Tests that `fork`: a `harness = false` binary whose single-threaded `main` forks, so
//! no child inherits a lock held by another thread.
fn main() {}
