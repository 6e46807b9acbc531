//! The admin TCP interface on `shoal-mux`: the listener and its connections in a
//! [`Mux`] with line framing (`\n`, a `\r` before it dropped, at most [`MAX_LINE`]
//! bytes), replies from [`shoal_statsd::admin`].
//!
//! The supervisor's loop is the reactor; [`watch`] registers (a `dup` of) the mux's
//! epoll fd in it as an other fd, whose closure drains the mux without waiting. The
//! mux's queued events are not on that fd, so the supervisor also drains whenever
//! [`AdminServer::has_events`] after an iteration. See `docs/statsd.md`.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use shoal_mux::framing::Rule;
use shoal_mux::{Event, Handle, Mux, Options};
use shoal_reactor::{Context, Interest};
use shoal_statsd::admin::{self, Action, AdminView};

use super::supervisor::{self, Supervisor};

/// Longest command line; a longer one is an error event and the connection is closed.
const MAX_LINE: usize = 4096;

/// The admin listener and its connections.
pub(crate) struct AdminServer {
    mux: Mux,
    listener: Option<Handle>,
    /// An error of a drain run by the reactor's closure, for the supervisor to return.
    failed: Option<io::Error>,
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
            failed: None,
        })
    }

    /// Whether the mux holds queued events (not shown by its fd: drain before waiting).
    pub(crate) fn has_events(&self) -> bool {
        self.mux.has_events()
    }

    /// The error a drain from the reactor's closure met (it also stopped the loop).
    pub(crate) fn take_failure(&mut self) -> Option<io::Error> {
        self.failed.take()
    }

    /// Handles every admin event that is ready, without waiting; returns once
    /// `next_event` reports `Timeout`, so the mux's queue is empty.
    pub(crate) fn drain(
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

/// Registers the admin mux in the supervisor's reactor: a `dup` of the mux's epoll fd
/// (the same epoll instance: registrations follow the open file) is an other fd whose
/// closure drains the mux each time it is readable. A drain error stops the loop and is
/// kept for [`AdminServer::take_failure`].
///
/// # Errors
/// `dup` or `epoll_ctl` failed.
pub(crate) fn watch(
    admin: &Rc<RefCell<AdminServer>>,
    shared: &Rc<RefCell<Supervisor>>,
    cx: &mut Context,
) -> io::Result<()> {
    let mux_fd = admin.borrow().mux.as_fd().try_clone_to_owned()?;
    let (admin, shared) = (Rc::clone(admin), Rc::clone(shared));
    cx.register_fd(mux_fd, Interest::READ, move |cx, _, _| {
        let mut admin = admin.borrow_mut();
        if let Err(err) = admin.drain(&shared, cx) {
            admin.failed = Some(err);
            cx.stop();
        }
    })?;
    Ok(())
}
