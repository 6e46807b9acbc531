//! Re-executing the test binary in a role.
//!
//! libtest runs tests on several threads, so a test must never `fork` there. A test that
//! needs another process (or a process-wide setting such as `RLIMIT_NOFILE`) spawns its
//! own test binary instead, running only a role-entry test, with an environment variable
//! naming the role; the role-entry test does nothing unless [`in_role`] says so.

use std::process::Command;

/// `std::env::current_exe() --exact ROLE_TEST --test-threads=1` with `var=value` in its
/// environment: runs only the test `role_test`, on one thread. Add arguments (such as
/// `--nocapture`), stdio and descriptors before spawning.
///
/// # Panics
///
/// If the path of the running test binary is unknown.
pub fn role_command(role_test: &str, var: &str, value: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args(["--exact", role_test, "--test-threads=1"])
        .env(var, value);
    cmd
}

/// True if this process was started by [`role_command`] with `var=value`.
pub fn in_role(var: &str, value: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v == value)
}
