//! What a source asks to be told about ([`Interest`]) and what the poller reported
//! ([`Readiness`]).

/// The readiness a source is watched for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Interest {
    /// Watch for readability (`EPOLLIN | EPOLLRDHUP`).
    pub read: bool,
    /// Watch for writability (`EPOLLOUT`).
    pub write: bool,
}

impl Interest {
    /// Nothing: the fd is not in the poller at all (so `EPOLLHUP`/`EPOLLERR`, which
    /// cannot be masked, cannot spin the loop).
    pub const NONE: Interest = Interest {
        read: false,
        write: false,
    };
    /// Readability only.
    pub const READ: Interest = Interest {
        read: true,
        write: false,
    };
    /// Writability only.
    pub const WRITE: Interest = Interest {
        read: false,
        write: true,
    };
    /// Both.
    pub const BOTH: Interest = Interest {
        read: true,
        write: true,
    };

    /// Whether nothing is watched.
    pub fn is_empty(self) -> bool {
        !self.read && !self.write
    }
}

/// One event for one source, as the poller reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Readiness {
    /// Bytes (or a connection to accept, or EOF) can be read (`EPOLLIN`/`EPOLLPRI`).
    pub readable: bool,
    /// The fd can be written (`EPOLLOUT`).
    pub writable: bool,
    /// An error is pending (`EPOLLERR`; read it with `SO_ERROR`).
    pub error: bool,
    /// Both directions are shut down or the peer reset (`EPOLLHUP`).
    pub hangup: bool,
    /// The peer shut down its writing side (`EPOLLRDHUP`).
    pub read_closed: bool,
}
