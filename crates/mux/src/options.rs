//! Per-handle options (the seed's `add` options).

use crate::framing::Rule;
use crate::socket::SockKind;

/// Default bytes per read (the seed's `ReadSize`).
pub const DEFAULT_READ_SIZE: usize = 64 * 1024;

/// Options of one handle, given to [`crate::Mux::add`] and inherited by the
/// connections a listener accepts.
#[derive(Clone, Debug)]
pub struct Options {
    /// Listening socket: `None` detects it (`SO_ACCEPTCONN`).
    pub listen: Option<bool>,
    /// Stream or datagram: `None` detects it (`SO_TYPE`).
    pub kind: Option<SockKind>,
    /// Report `Accepting` instead of accepting connections.
    pub manual_accept: bool,
    /// Report `CanRead` instead of reading.
    pub manual_read: bool,
    /// Report `CanWrite` instead of flushing the send queue.
    pub manual_write: bool,
    /// Bytes per read (per datagram for datagram sockets). At least 1.
    pub read_size: usize,
    /// Framing rule for a stream (`None`: each read is one `Read` event). Datagram
    /// handles keep message boundaries and take no rule.
    pub framing: Option<Rule>,
    /// Most bytes a stream's send queue holds; `send` beyond it fails.
    pub send_limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: None,
            kind: None,
            manual_accept: false,
            manual_read: false,
            manual_write: false,
            read_size: DEFAULT_READ_SIZE,
            framing: None,
            send_limit: 16 << 20,
        }
    }
}

impl Options {
    /// Sets the framing rule.
    #[must_use]
    pub fn framing(mut self, rule: Rule) -> Self {
        self.framing = Some(rule);
        self
    }

    /// Sets the read size.
    #[must_use]
    pub fn read_size(mut self, bytes: usize) -> Self {
        self.read_size = bytes;
        self
    }
}
