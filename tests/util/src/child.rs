//! Spawned children reaped by PID, and the `listening on ADDR` handshake.

use std::io::{self, BufRead, BufReader};
use std::process::{Child, ChildStdout, ExitStatus};
use std::time::{Duration, Instant};

/// A child process that is killed and reaped (by its PID) when dropped, so a failing test
/// never leaves a server running.
#[derive(Debug)]
pub struct Reaped(pub Child);

impl Reaped {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Takes the child's piped stdout.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.0.stdout.take()
    }

    /// Waits up to `limit` for the child to exit by itself and returns its status, or
    /// `None` if it was still running (it is then killed and reaped on drop).
    ///
    /// # Errors
    ///
    /// What `waitpid` (through [`Child::try_wait`]) reports.
    pub fn wait_for(&mut self, limit: Duration) -> io::Result<Option<ExitStatus>> {
        let end = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= end {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Reads the first line of `stdout`, which must be `listening on ADDR`, and returns ADDR
/// with the reader for the rest of the output.
///
/// Servers and examples in this project print exactly that line once they are bound, so
/// tests can use port 0.
///
/// # Errors
///
/// A read error, or [`io::ErrorKind::InvalidData`] naming what was read instead.
pub fn read_listening_line(stdout: ChildStdout) -> io::Result<(String, BufReader<ChildStdout>)> {
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    match line.trim_end().strip_prefix("listening on ") {
        Some(addr) => Ok((addr.to_owned(), reader)),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("expected `listening on ADDR`, read {line:?}"),
        )),
    }
}
