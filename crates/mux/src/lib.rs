//! Pull-based socket multiplexer (`next_event`) with framing rules.
//!
//! `shoal-mux` descends from the Perl modules IO::EventMux and IO::Buffered
//! (documentation in `shared/seeds/003_1ba3221779f298e7.txt`); see `docs/mux.md` for the
//! guide and `docs/architecture.md` for where it fits in Shoal.
//!
//! - [`framing`]: the framing rules (delimiter, regex capture, length prefix, fixed
//!   size, HTTP/1.x, last), usable on their own by anyone who only wants codecs.

pub mod framing;
