//! Ordered, non-blocking file-descriptor passing over AF_UNIX sockets (`SCM_RIGHTS`).
//!
//! `shoal-fdpass` descends from the Perl module AnyEvent::FDpasser (documentation in
//! `shared/seeds/002_52b470bb45944572.txt`); see `docs/fdpass.md` for the guide and
//! `docs/architecture.md` for where it fits in Shoal.
//!
//! An [`FdPasser`] owns one connected socket (`SOCK_SEQPACKET` by default, or
//! `SOCK_STREAM` speaking the original's one-descriptor-plus-one-byte framing), an
//! order-preserving send queue and an order-preserving queue of receive callbacks. It
//! never blocks unless you call its blocking methods, and any event loop can drive it
//! through [`AsFd`](std::os::fd::AsFd), [`FdPasser::interest`] and
//! [`FdPasser::on_readable`] / [`FdPasser::on_writable`]; with the default feature
//! `reactor`, `FdPasser::register` puts it in a `shoal-reactor` loop (`ReactorPasser`).
//!
//! ```
//! use std::io::{Read, Write};
//! use shoal_fdpass::FdPasser;
//!
//! let (mut parent, mut child) = FdPasser::socketpair()?;
//! let (mut reader, mut writer) = std::io::pipe()?;
//! parent.send_fd(writer.try_clone()?.into())?; // our copy is closed once sent
//! drop(writer);
//! let mut received = std::fs::File::from(child.recv_fd()?);
//! received.write_all(b"hello")?;
//! drop(received);
//! let mut text = String::new();
//! reader.read_to_string(&mut text)?;
//! assert_eq!(text, "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Robustness: every receive uses `MSG_CMSG_CLOEXEC`; a truncated message (`MSG_CTRUNC`
//! or `MSG_TRUNC`) is an error for that message only, with every descriptor that did
//! arrive closed; a reserve descriptor keeps a table slot free for `recvmsg`; sends use
//! `MSG_NOSIGNAL`; the peer's close is an orderly [`End`], distinct from a fatal error.

mod error;
mod message;
mod passer;
#[cfg(feature = "reactor")]
mod reactor;
mod reserve;
mod socket;
mod wire;

pub use error::{End, Error};
pub use message::{
    FD_ONLY_PAYLOAD, MAX_FDS_PER_MESSAGE, Message, Mode, Outgoing, RawMessage, decode,
};
pub use passer::{FdPasser, Interest, RECV_BUDGET};
#[cfg(feature = "reactor")]
pub use reactor::ReactorPasser;
pub use reserve::RESERVE_RETRY;
pub use socket::{Listener, MAX_PATH_LEN, Options, PeerCredentials};
