//! Pull-based socket multiplexer (`next_event`) with framing rules.
//!
//! `shoal-mux` descends from the Perl modules IO::EventMux and IO::Buffered
//! (documentation in `shared/seeds/003_1ba3221779f298e7.txt`); see `docs/mux.md` for the
//! guide and `docs/architecture.md` for where it fits in Shoal.
//!
//! - [`Mux`]: add sockets (or [`Mux::connect`] / [`Mux::listen`] with a URL), then call
//!   [`Mux::next_event`] in a loop; each call returns one [`Event`]. Handles live in the
//!   reactor's generational [`shoal_reactor::Registry`] and send through its
//!   [`shoal_reactor::WriteQueue`].
//! - [`framing`]: the framing rules (delimiter, regex capture, length prefix, fixed
//!   size, HTTP/1.x, last), usable on their own by anyone who only wants codecs.
//!
//! ```no_run
//! use shoal_mux::{Event, Mux, Options, framing::Rule};
//!
//! let mut mux: Mux = Mux::new()?;
//! let lines = Options::default().framing(Rule::delimiter(b"\n", 1024)?);
//! mux.listen("tcp://127.0.0.1:7000", lines)?;
//! loop {
//!     match mux.next_event(None)? {
//!         Event::Read { handle, mut data, .. } => {
//!             data.push(b'\n');
//!             mux.send(handle, &data)?;
//!         }
//!         Event::ReadLast { handle, data } => mux.send(handle, &data)?,
//!         _ => {}
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod endpoint;
mod event;
pub mod framing;
mod mux;
mod options;
pub mod socket;
pub mod url;

pub use event::{Event, Handle};
pub use mux::{Mux, READS_PER_WAKE};
pub use options::{DEFAULT_READ_SIZE, Options};
pub use socket::{PeerCreds, SockKind, nonblock, socket_creds, socket_listening, socket_type};
pub use url::Endpoint;
