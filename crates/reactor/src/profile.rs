//! On-demand profiling: calls and thread CPU time per handler kind and event kind.
//!
//! Danga::Socket used `getrusage` (user and system time); rustix has no `getrusage`, so
//! the loop thread's CPU time comes from `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, which
//! is user + system together.

use std::collections::HashMap;
use std::time::Duration;

use rustix::time::{ClockId, clock_gettime};

/// Calls and CPU time of one (handler kind, event kind) pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProfileEntry {
    /// Number of callback invocations.
    pub calls: u64,
    /// Thread CPU time spent in them (user + system).
    pub cpu: Duration,
}

/// Profiling data: `(handler kind, event kind) → entry`. Handler kinds are
/// [`crate::Handler::kind`] for sockets and `"fd"`, `"timer"`, `"waker"`, `"post-loop"`
/// for the other callbacks; event kinds are `"read"`, `"write"`, `"error"`, `"hangup"`,
/// `"event"`, `"fire"`, `"wake"`, `"close"`.
pub type Profile = HashMap<(&'static str, &'static str), ProfileEntry>;

/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`: CPU time used by the calling thread.
pub fn thread_cpu_time() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

pub(crate) fn record(profile: &mut Profile, key: (&'static str, &'static str), start: Duration) {
    let entry = profile.entry(key).or_default();
    entry.calls += 1;
    entry.cpu += thread_cpu_time().saturating_sub(start);
}
