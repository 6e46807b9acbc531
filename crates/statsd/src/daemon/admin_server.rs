//! The admin TCP interface: one command per line, replies from [`shoal_statsd::admin`].

use std::cell::RefCell;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use shoal_reactor::{Context, Read, Socket, Token};
use shoal_statsd::admin::{self, Action, AdminView};

use super::supervisor::{self, Supervisor};

/// Longest command line; a longer one gets `ERROR` and the connection is closed.
const MAX_LINE: usize = 4096;

/// Registers the listener; each accepted connection is served by [`serve`].
pub(crate) fn listen(
    cx: &mut Context,
    listener: OwnedFd,
    shared: Rc<RefCell<Supervisor>>,
) -> io::Result<Token> {
    cx.register_socket(listener, move |sock: &mut Socket<'_>| {
        while let Ok(Some(fd)) = sock.accept() {
            let shared = Rc::clone(&shared);
            let mut pending = Vec::new();
            let conn = move |conn: &mut Socket<'_>| serve(conn, &shared, &mut pending);
            let _ = sock.context().register_socket(fd, conn);
        }
    })
}

/// Reads what arrived, runs each complete line, writes the replies.
fn serve(conn: &mut Socket<'_>, shared: &Rc<RefCell<Supervisor>>, pending: &mut Vec<u8>) {
    match conn.read(MAX_LINE) {
        Ok(Read::Data(bytes)) => pending.extend_from_slice(&bytes),
        Ok(Read::WouldBlock) => return,
        Ok(Read::Eof) | Err(_) => {
            conn.close("admin client done");
            return;
        }
    }
    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).collect();
        let line = String::from_utf8_lossy(&line);
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
            let _ = conn.write(reply.as_bytes());
        }
        match action {
            Action::None => {}
            Action::Quit => {
                conn.close("quit");
                return;
            }
            Action::Reload => supervisor::reload(shared, conn.context()),
        }
    }
    if pending.len() > MAX_LINE {
        let _ = conn.write(b"ERROR\nEND\n\n");
        conn.close("admin line too long");
    }
}
