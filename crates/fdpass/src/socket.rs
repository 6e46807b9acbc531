//! Creating the AF_UNIX sockets: pairs, connecting, and the listening socket whose file
//! is created owner-only, replaces only a stale socket and is removed on drop.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode as FileMode};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::error::Error;
use crate::message::{MAX_FDS_PER_MESSAGE, Mode};
use crate::passer::FdPasser;

/// The longest socket path the kernel accepts (`sizeof sun_path`, no NUL needed).
pub const MAX_PATH_LEN: usize = 108;

/// How a passer (or a listener's accepted passers) is set up.
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) mode: Mode,
    pub(crate) set_nonblocking: bool,
    pub(crate) max_fds: usize,
    pub(crate) max_payload: usize,
    pub(crate) reserve_fd: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::SeqPacket,
            set_nonblocking: true,
            max_fds: MAX_FDS_PER_MESSAGE,
            max_payload: 4096,
            reserve_fd: true,
        }
    }
}

impl Options {
    /// The defaults: [`Mode::SeqPacket`], non-blocking, 253 descriptors and 4096 payload
    /// bytes per message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Socket type and framing.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether to put the socket in non-blocking mode (the default, as the original's).
    ///
    /// `false` is the seed's `dont_set_nonblocking`: it saves a system call for a socket
    /// you know is non-blocking already. The passer itself never blocks either way (it
    /// sends and receives with `MSG_DONTWAIT`); the flag matters for whoever else uses
    /// the descriptor.
    pub fn set_nonblocking(mut self, yes: bool) -> Self {
        self.set_nonblocking = yes;
        self
    }

    /// Most descriptors per message, sent or received (1 to 253; clamped). The receive
    /// control buffer has room for exactly this many: a message with more is reported as
    /// [`Error::FdsTruncated`] and its descriptors are closed.
    pub fn max_fds(mut self, max: usize) -> Self {
        self.max_fds = max.clamp(1, MAX_FDS_PER_MESSAGE);
        self
    }

    /// Most payload bytes per message, sent or received (at least 1). A longer received
    /// payload is [`Error::PayloadTruncated`].
    pub fn max_payload(mut self, max: usize) -> Self {
        self.max_payload = max.max(1);
        self
    }

    /// Whether to keep a reserve descriptor (the default, as the original did): a spare
    /// table slot closed just before each `recvmsg` and re-opened after, so a full
    /// descriptor table does not make the kernel drop received descriptors. It costs two
    /// system calls per received message; turn it off only where the process can never
    /// run out of descriptors (the `fdpass_vs_raw` benchmark shows the difference).
    pub fn reserve_fd(mut self, yes: bool) -> Self {
        self.reserve_fd = yes;
        self
    }

    fn socket_type(&self) -> SocketType {
        match self.mode {
            Mode::SeqPacket => SocketType::SEQPACKET,
            Mode::Stream => SocketType::STREAM,
        }
    }
}

/// Peer credentials (`SO_PEERCRED`): the peer's process and user when it connected (or
/// when the pair was created).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCredentials {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// `getsockopt(SO_PEERCRED)`—credentials of the process at the other end of `socket`.
pub(crate) fn peer_credentials(socket: BorrowedFd<'_>) -> Result<PeerCredentials, Error> {
    let cred = rustix::net::sockopt::socket_peercred(socket)
        .map_err(|e| Error::io("getsockopt(SO_PEERCRED)", e))?;
    Ok(PeerCredentials {
        pid: cred.pid.as_raw_nonzero().get(),
        uid: cred.uid.as_raw(),
        gid: cred.gid.as_raw(),
    })
}

fn unix_address(path: &Path) -> Result<SocketAddrUnix, Error> {
    SocketAddrUnix::new(path).map_err(|e| match e {
        Errno::NAMETOOLONG => Error::PathTooLong {
            len: path.as_os_str().len(),
            max: MAX_PATH_LEN,
        },
        e => Error::io("socket path", e),
    })
}

fn new_socket(options: &Options, nonblocking: bool) -> Result<OwnedFd, Error> {
    let mut flags = SocketFlags::CLOEXEC;
    if nonblocking {
        flags |= SocketFlags::NONBLOCK;
    }
    rustix::net::socket_with(AddressFamily::UNIX, options.socket_type(), flags, None)
        .map_err(|e| Error::io("socket", e))
}

/// `socketpair(AF_UNIX)`—two connected ends.
pub(crate) fn pair(options: &Options) -> Result<(OwnedFd, OwnedFd), Error> {
    let mut flags = SocketFlags::CLOEXEC;
    if options.set_nonblocking {
        flags |= SocketFlags::NONBLOCK;
    }
    rustix::net::socketpair(AddressFamily::UNIX, options.socket_type(), flags, None)
        .map_err(|e| Error::io("socketpair", e))
}

/// `socket` + `connect(path)`—connected in blocking mode (a non-blocking AF_UNIX
/// connect fails with `EAGAIN` when the listener's backlog is full), then switched to
/// non-blocking if asked.
pub(crate) fn connect(path: &Path, options: &Options) -> Result<OwnedFd, Error> {
    let addr = unix_address(path)?;
    let socket = new_socket(options, false)?;
    loop {
        match rustix::net::connect(&socket, &addr) {
            Ok(()) => break,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(Error::io("connect", e)),
        }
    }
    if options.set_nonblocking {
        rustix::io::ioctl_fionbio(&socket, true).map_err(|e| Error::io("ioctl(FIONBIO)", e))?;
    }
    Ok(socket)
}

/// A listening AF_UNIX socket that accepts passers.
///
/// The socket file is created with mode `0600` whatever the umask: the socket's own
/// inode is `fchmod`ed to `0600` *before* `bind` (Linux creates the file with the
/// socket inode's mode less the umask), so there is no moment when another user could
/// connect; a `chmod` after `bind` then restores the owner bits a strict umask removed.
/// A file already at the path is replaced only if it is a socket nobody listens on
/// (`connect` says `ECONNREFUSED`); anything else is [`Error::PathOccupied`]. The file
/// is removed when the listener is dropped, if it is still ours (same device and inode).
#[derive(Debug)]
pub struct Listener {
    socket: OwnedFd,
    path: PathBuf,
    identity: (u64, u64),
    options: Options,
}

impl Listener {
    /// `socket` + `bind(path)` + `listen(backlog)` with the default [`Options`].
    ///
    /// # Errors
    ///
    /// [`Error::PathTooLong`], [`Error::PathOccupied`], or the failed system call.
    pub fn bind(path: impl AsRef<Path>, backlog: i32) -> Result<Self, Error> {
        Self::bind_with(path, backlog, Options::default())
    }

    /// Like [`bind`](Self::bind), with `options` for the listener (its mode, blocking or
    /// not) and for every passer it accepts.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn bind_with(
        path: impl AsRef<Path>,
        backlog: i32,
        options: Options,
    ) -> Result<Self, Error> {
        let path = path.as_ref();
        let addr = unix_address(path)?;
        let socket = new_socket(&options, options.set_nonblocking)?;
        rustix::fs::fchmod(&socket, FileMode::from_raw_mode(0o600))
            .map_err(|e| Error::io("fchmod(socket)", e))?;
        match rustix::net::bind(&socket, &addr) {
            Ok(()) => {}
            Err(Errno::ADDRINUSE) => {
                remove_stale_socket(path, &options)?;
                // Another process may have bound in between: that bind wins, ours fails.
                rustix::net::bind(&socket, &addr).map_err(|e| Error::io("bind", e))?;
            }
            Err(e) => return Err(Error::io("bind", e)),
        }
        let listener = Listener {
            identity: identity(path).map_err(|e| Error::io("stat(socket path)", e))?,
            socket,
            path: path.to_owned(),
            options,
        };
        // Only adds owner bits a strict umask took away; the file never had more than 0600.
        rustix::fs::chmod(path, FileMode::from_raw_mode(0o600))
            .map_err(|e| Error::io("chmod(socket path)", e))?;
        rustix::net::listen(&listener.socket, backlog).map_err(|e| Error::io("listen", e))?;
        Ok(listener)
    }

    /// `accept`—the next connection as a passer (with the listener's options).
    ///
    /// # Errors
    ///
    /// The failed system call; on a non-blocking listener with nobody waiting, an error
    /// for which [`Error::is_would_block`] is true.
    pub fn accept(&self) -> Result<FdPasser, Error> {
        let mut flags = SocketFlags::CLOEXEC;
        if self.options.set_nonblocking {
            flags |= SocketFlags::NONBLOCK;
        }
        let socket = loop {
            match rustix::net::accept_with(&self.socket, flags) {
                Err(Errno::INTR) => continue,
                other => break other.map_err(|e| Error::io("accept", e))?,
            }
        };
        FdPasser::from_socket(socket, &self.options.clone().set_nonblocking(false))
    }

    /// The socket file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Remove the file only if it is still the one we bound: a successor may own the
        // path by now.
        if identity(&self.path).ok() == Some(self.identity) {
            let _ = rustix::fs::unlink(&self.path);
        }
    }
}

fn identity(path: &Path) -> Result<(u64, u64), Errno> {
    let stat = rustix::fs::lstat(path)?;
    Ok((stat.st_dev, stat.st_ino))
}

/// Unlinks `path` if it is a socket that nobody listens on.
fn remove_stale_socket(path: &Path, options: &Options) -> Result<(), Error> {
    let stat = match rustix::fs::lstat(path) {
        Ok(stat) => stat,
        // Gone already: the second bind will tell.
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(Error::io("lstat(socket path)", e)),
    };
    if FileType::from_raw_mode(stat.st_mode) != FileType::Socket {
        return Err(Error::PathOccupied {
            what: "not a socket",
        });
    }
    let probe = new_socket(options, true)?;
    match rustix::net::connect(&probe, &unix_address(path)?) {
        // Nobody listens: stale.
        Err(Errno::CONNREFUSED) => {}
        // Connected, backlog full (EAGAIN) or another socket type (EPROTOTYPE): alive.
        _ => {
            return Err(Error::PathOccupied {
                what: "a live server",
            });
        }
    }
    match rustix::fs::unlink(path) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(Error::io("unlink(stale socket)", e)),
    }
}
