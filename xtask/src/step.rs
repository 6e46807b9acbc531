//! Running one external command as a CI step: own process group, time limit, outcome.

use std::fmt;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed => f.write_str("passed"),
            Outcome::Failed(why) => write!(f, "FAILED: {why}"),
            Outcome::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

/// Runs `cmd` in a process group of its own, inheriting stdio. If it is still running
/// after `limit`, the whole group is killed (cargo's children included) and the step
/// fails with a time-out.
pub(crate) fn run(cmd: &mut Command, limit: Duration) -> Outcome {
    eprintln!("xtask: $ {}", describe(cmd));
    let mut child = match cmd.process_group(0).spawn() {
        Ok(child) => child,
        Err(err) => return Outcome::Failed(format!("cannot start {}: {err}", describe(cmd))),
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return from_status(status),
            Ok(None) => {}
            Err(err) => return Outcome::Failed(format!("wait: {err}")),
        }
        if start.elapsed() >= limit {
            kill_group(child.id());
            let _ = child.wait();
            return Outcome::Failed(format!("timed out after {} s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Like [`run`], but captures stdout (stderr is inherited) and returns it on success.
pub(crate) fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot start {}: {err}", describe(cmd)))?;
    if out.status.success() {
        String::from_utf8(out.stdout).map_err(|err| format!("non-UTF-8 output: {err}"))
    } else {
        Err(format!("{} exited with {}", describe(cmd), out.status))
    }
}

/// Whether `program args…` starts and exits 0 (output discarded): "is this tool here?".
pub(crate) fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn from_status(status: ExitStatus) -> Outcome {
    if status.success() {
        Outcome::Passed
    } else {
        Outcome::Failed(status.to_string())
    }
}

fn kill_group(pgid: u32) {
    // `kill -KILL -PGID` signals the whole group; no libc needed in the xtask.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status();
}

fn describe(cmd: &Command) -> String {
    let mut text = String::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            text.push_str(&format!(
                "{}={} ",
                key.to_string_lossy(),
                value.to_string_lossy()
            ));
        }
    }
    text.push_str(&cmd.get_program().to_string_lossy());
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}
