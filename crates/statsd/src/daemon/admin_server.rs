//! The admin TCP interface on `shoal-mux`: the listener and its connections in a
//! [`Mux`] with line framing (`\n`, a `\r` before it dropped, at most [`MAX_LINE`]
//! bytes), replies from [`shoal_statsd::admin`].
//!
//! The supervisor's loop is the reactor; neither the reactor nor the mux exposes its
//! epoll descriptor, so the mux cannot be registered in the reactor and is polled
//! (without waiting) after every reactor iteration, which itself waits at most
//! [`POLL`]. See `docs/statsd.md` ("Feedback to the other crates").

use std::cell::RefCell;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Duration;

use shoal_mux::framing::Rule;
use shoal_mux::{Event, Handle, Mux, Options};
use shoal_reactor::Context;
use shoal_statsd::admin::{self, Action, AdminView};

use super::supervisor::{self, Supervisor};

/// Longest command line; a longer one is an error event and the connection is closed.
const MAX_LINE: usize = 4096;
/// The longest a reactor iteration waits before the admin mux is polled again.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// The admin listener and its connections.
pub(crate) struct AdminServer {
    mux: Mux,
    listener: Option<Handle>,
}

impl AdminServer {
    /// Serves the admin interface on `listener`.
    pub(crate) fn new(listener: OwnedFd) -> io::Result<AdminServer> {
        let lines = Rule::delimiter(b"\n", MAX_LINE)
            .map_err(io::Error::other)?
            .strip_cr(true);
        let mut mux = Mux::new()?;
        let listener = mux.add(listener, Options::default().framing(lines))?;
        Ok(AdminServer {
            mux,
            listener: Some(listener),
        })
    }

    /// Handles every admin event that is ready, without waiting.
    pub(crate) fn poll(
        &mut self,
        shared: &Rc<RefCell<Supervisor>>,
        cx: &mut Context,
    ) -> io::Result<()> {
        loop {
            match self.mux.next_event(Some(Duration::ZERO))? {
                Event::Timeout => return Ok(()),
                Event::Read { handle, data, .. } | Event::ReadLast { handle, data } => {
                    self.command(shared, cx, handle, &data)?;
                }
                // A line over MAX_LINE (or a broken connection): answer and hang up.
                Event::Error { handle, .. } if Some(handle) != self.listener => {
                    let _ = self.mux.send(handle, b"ERROR\nEND\n\n");
                    let _ = self.mux.close(handle);
                }
                _ => {}
            }
        }
    }

    fn command(
        &mut self,
        shared: &Rc<RefCell<Supervisor>>,
        cx: &mut Context,
        handle: Handle,
        line: &[u8],
    ) -> io::Result<()> {
        let line = String::from_utf8_lossy(line);
        let command = admin::parse_command(&line);
        let (reply, action) = {
            let mut sup = shared.borrow_mut();
            sup.collect();
            let extra = sup.extra_stats();
            let config = sup.config().describe();
            let uptime = sup.uptime();
            let since = sup.since_last_msg();
            let sup = &mut *sup;
            admin::execute(
                &command,
                AdminView {
                    metrics: &mut sup.store,
                    totals: &sup.totals,
                    uptime_secs: uptime,
                    since_last_msg_secs: since,
                    health_up: &mut sup.health_up,
                    extra_stats: &extra,
                    config: &config,
                },
            )
        };
        if !reply.is_empty() {
            self.mux.send(handle, reply.as_bytes())?;
        }
        match action {
            Action::None => {}
            Action::Quit => self.mux.close(handle)?,
            Action::Reload => supervisor::reload(shared, cx),
        }
        if shared.borrow().handed_over() {
            self.stop_listening();
        }
        Ok(())
    }

    /// Closes our copy of the listener (after a hand-over: the next generation accepts).
    pub(crate) fn stop_listening(&mut self) {
        if let Some(listener) = self.listener.take() {
            drop(self.mux.remove(listener));
        }
    }
}
