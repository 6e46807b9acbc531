//! Descriptor counting for leak checks.

/// Number of open file descriptors of this process (entries of `/proc/self/fd`, less the
/// one used to read the directory).
///
/// # Panics
///
/// If `/proc/self/fd` cannot be read.
pub fn open_fd_count() -> usize {
    let entries = std::fs::read_dir("/proc/self/fd").expect("read /proc/self/fd");
    entries.count().saturating_sub(1)
}
