//! Shared memory for forked and unrelated processes, with a futex lock that survives the death of its holder.
//!
//! `shoal-shm-share` descends from the Perl module IPC::Mmap::Share (documentation in
//! `shared/seeds/004_063647297cd27892.txt`); see `docs/architecture.md` for where it fits in Shoal.
//!
//! **Not built yet.** This crate is a placeholder in the workspace so that the checks
//! (`cargo xtask ci`) cover it from the start; it exports nothing.
