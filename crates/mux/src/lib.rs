//! Pull-based socket multiplexer (next_event) with framing rules.
//!
//! `shoal-mux` descends from the Perl module IO::EventMux and IO::Buffered (documentation in
//! `shared/seeds/003_1ba3221779f298e7.txt`); see `docs/architecture.md` for where it fits in Shoal.
//!
//! **Not built yet.** This crate is a placeholder in the workspace so that the checks
//! (`cargo xtask ci`) cover it from the start; it exports nothing.
