//! Where flushes go: stdout, a file (appended), or Graphite's plaintext protocol over
//! TCP.
//!
//! The Graphite sink never blocks the loop: a non-blocking `connect` registered with the
//! reactor, a connect timeout, reconnection with exponential backoff, and a bounded
//! buffer of whole flushes waiting for a connection (the oldest dropped past it, and
//! counted).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use rustix::net::{AddressFamily, SocketFlags, SocketType};
use shoal_reactor::{Context, Handler, Socket, Token};
use shoal_statsd::cli::Sink;

/// Flush bytes kept while Graphite is unreachable.
const MAX_PENDING: usize = 16 << 20;
/// How long a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// First and longest pause between connection attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(30));

/// Counters of a sink, for the admin `stats`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SinkStats {
    /// Unix time of the last flush written (or handed to the connection).
    pub(crate) last_flush: u64,
    /// Unix time of the last error.
    pub(crate) last_exception: u64,
    /// Bytes of flushes dropped (Graphite unreachable too long, or a write error).
    pub(crate) dropped_bytes: u64,
}

/// An open sink.
pub(crate) enum Output {
    Stdout,
    File(PathBuf),
    Graphite(Rc<RefCell<Graphite>>),
}

impl Output {
    pub(crate) fn new(sink: &Sink) -> Output {
        match sink {
            Sink::Stdout => Output::Stdout,
            Sink::File(path) => Output::File(path.clone()),
            Sink::Graphite(addr) => Output::Graphite(Rc::new(RefCell::new(Graphite {
                addr: addr.clone(),
                conn: Conn::Idle,
                pending: VecDeque::new(),
                pending_bytes: 0,
                backoff: BACKOFF.0,
                waiting: false,
                stats: SinkStats::default(),
            }))),
        }
    }

    /// Writes one flush (`now`: Unix seconds, for the stats).
    pub(crate) fn write(
        &mut self,
        cx: &mut Context,
        text: String,
        now: u64,
        stats: &mut SinkStats,
    ) {
        let written = match self {
            Output::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            }
            Output::File(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes())),
            Output::Graphite(graphite) => {
                Graphite::push(graphite, cx, text.into_bytes(), now);
                *stats = graphite.borrow().stats;
                return;
            }
        };
        match written {
            Ok(()) => stats.last_flush = now,
            Err(err) => {
                eprintln!("shoal-statsd: flush to {}: {err}", self.name());
                stats.last_exception = now;
                stats.dropped_bytes += text.len() as u64;
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Output::Stdout => "stdout".into(),
            Output::File(path) => path.display().to_string(),
            Output::Graphite(g) => g.borrow().addr.clone(),
        }
    }
}

enum Conn {
    /// Not connected; a reconnect timer may be pending.
    Idle,
    Connecting(Token),
    Connected(Token),
}

/// The Graphite connection and what waits for it.
pub(crate) struct Graphite {
    addr: String,
    conn: Conn,
    pending: VecDeque<Vec<u8>>,
    pending_bytes: usize,
    backoff: Duration,
    /// A reconnect timer is pending (flushes do not connect meanwhile).
    waiting: bool,
    stats: SinkStats,
}

impl Graphite {
    fn push(this: &Rc<RefCell<Graphite>>, cx: &mut Context, flush: Vec<u8>, now: u64) {
        {
            let mut g = this.borrow_mut();
            g.pending_bytes += flush.len();
            g.pending.push_back(flush);
            while g.pending_bytes > MAX_PENDING {
                let Some(old) = g.pending.pop_front() else {
                    break;
                };
                g.pending_bytes -= old.len();
                g.stats.dropped_bytes += old.len() as u64;
            }
            g.stats.last_flush = now;
        }
        let idle = matches!(this.borrow().conn, Conn::Idle) && !this.borrow().waiting;
        if idle {
            Graphite::connect(this, cx);
        } else {
            Graphite::send_pending(this, cx);
        }
    }

    fn send_pending(this: &Rc<RefCell<Graphite>>, cx: &mut Context) {
        let mut g = this.borrow_mut();
        let Conn::Connected(token) = g.conn else {
            return;
        };
        let Some(mut sock) = cx.socket(token) else {
            return;
        };
        while let Some(chunk) = g.pending.pop_front() {
            g.pending_bytes -= chunk.len();
            let len = chunk.len();
            if sock.write_vec(chunk).is_err() {
                g.stats.dropped_bytes += len as u64;
            }
        }
    }

    fn connect(this: &Rc<RefCell<Graphite>>, cx: &mut Context) {
        let addr = this.borrow().addr.clone();
        match start_connect(&addr) {
            Ok(fd) => {
                let handler = GraphiteConn {
                    graphite: Rc::clone(this),
                };
                match cx.register_socket(fd, handler) {
                    Ok(token) => {
                        if let Some(mut sock) = cx.socket(token) {
                            sock.watch_write(true);
                        }
                        this.borrow_mut().conn = Conn::Connecting(token);
                        let graphite = Rc::clone(this);
                        cx.add_timer(CONNECT_TIMEOUT, move |cx| {
                            // Still connecting: give up on this attempt.
                            let stuck =
                                matches!(graphite.borrow().conn, Conn::Connecting(t) if t == token);
                            if stuck {
                                cx.close(token, "connect timed out");
                            }
                        });
                    }
                    Err(err) => Graphite::failed(this, cx, &err.to_string()),
                }
            }
            Err(err) => Graphite::failed(this, cx, &err.to_string()),
        }
    }

    /// Schedules the next attempt, after the backoff (doubled each failure).
    fn failed(this: &Rc<RefCell<Graphite>>, cx: &mut Context, why: &str) {
        let pause = {
            let mut g = this.borrow_mut();
            g.conn = Conn::Idle;
            g.waiting = true;
            g.stats.last_exception = super::unix_now();
            let pause = g.backoff;
            g.backoff = (g.backoff * 2).min(BACKOFF.1);
            eprintln!(
                "shoal-statsd: graphite {}: {why}; retrying in {pause:?}",
                g.addr
            );
            pause
        };
        let this = Rc::clone(this);
        cx.add_timer(pause, move |cx| {
            this.borrow_mut().waiting = false;
            let idle = matches!(this.borrow().conn, Conn::Idle);
            if idle && !this.borrow().pending.is_empty() {
                Graphite::connect(&this, cx);
            }
        });
    }
}

/// `socket(SOCK_NONBLOCK)` + `connect`, which is in progress when it returns.
fn start_connect(addr: &str) -> io::Result<OwnedFd> {
    let target: SocketAddr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
    let family = if target.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    match rustix::net::connect(&fd, &target) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) => Ok(fd),
        Err(err) => Err(err.into()),
    }
}

/// The reactor handler of the Graphite connection.
struct GraphiteConn {
    graphite: Rc<RefCell<Graphite>>,
}

impl Handler for GraphiteConn {
    fn on_readable(&mut self, sock: &mut Socket<'_>) {
        // Graphite sends nothing; EOF means it closed.
        let mut buf = [0u8; 512];
        match sock.read_into(&mut buf) {
            Ok(shoal_reactor::Read::Eof) => sock.close("graphite closed the connection"),
            // A refused connect reads as its error (which also clears SO_ERROR).
            Err(err) => sock.close(&format!("connect: {err}")),
            Ok(_) => {}
        }
    }

    fn on_writable(&mut self, sock: &mut Socket<'_>) {
        let connecting = matches!(self.graphite.borrow().conn, Conn::Connecting(_));
        if connecting {
            // Connected only if there is a peer: a failed connect is writable too.
            let peer = sock.fd().map(rustix::net::getpeername);
            if !matches!(peer, Some(Ok(_))) {
                let error = sock
                    .fd()
                    .and_then(|fd| rustix::net::sockopt::socket_error(fd).ok())
                    .and_then(Result::err)
                    .map_or_else(|| "not connected".to_owned(), |e| e.to_string());
                sock.close(&format!("connect: {error}"));
                return;
            }
            let token = sock.token();
            {
                let mut g = self.graphite.borrow_mut();
                g.conn = Conn::Connected(token);
                g.backoff = BACKOFF.0;
            }
            sock.watch_write(false);
            Graphite::send_pending(&self.graphite, sock.context());
        }
        sock.flush();
    }

    fn on_close(&mut self, cx: &mut Context, reason: &shoal_reactor::CloseReason) {
        Graphite::failed(&self.graphite, cx, &reason.to_string());
    }

    fn kind(&self) -> &'static str {
        "graphite"
    }
}
