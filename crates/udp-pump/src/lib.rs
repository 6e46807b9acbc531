//! UDP receive pump: a thread blocks in recvfrom and hands packet batches to an event loop; many processes can share a port.
//!
//! `shoal-udp-pump` descends from the Perl module Event::Lib::UDPPump (documentation in
//! `shared/seeds/000_046f3fde8bde7c1f.txt`); see `docs/architecture.md` for where it fits in Shoal.
//!
//! **Not built yet.** This crate is a placeholder in the workspace so that the checks
//! (`cargo xtask ci`) cover it from the start; it exports nothing.
