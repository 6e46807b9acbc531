//! Ordered, non-blocking file-descriptor passing over AF_UNIX sockets (SCM_RIGHTS).
//!
//! `shoal-fdpass` descends from the Perl module AnyEvent::FDpasser (documentation in
//! `shared/seeds/002_52b470bb45944572.txt`); see `docs/architecture.md` for where it fits in Shoal.
//!
//! **Not built yet.** This crate is a placeholder in the workspace so that the checks
//! (`cargo xtask ci`) cover it from the start; it exports nothing.
