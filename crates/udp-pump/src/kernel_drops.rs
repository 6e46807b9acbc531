//! Kernel-side drops of a UDP socket, from the `drops` column of `/proc/net/udp{,6}`.
//!
//! rustix 1.1 cannot decode the `SO_RXQ_OVFL` control message, so the count the kernel
//! keeps per socket (`sk_drops`: receive buffer full, and checksum or memory failures) is
//! read where the kernel also publishes it, by the socket's inode.

use std::io;
use std::os::fd::AsFd;

/// The tables searched, IPv4 then IPv6.
const TABLES: [&str; 2] = ["/proc/net/udp", "/proc/net/udp6"];

/// `fstat`—The inode number that names a socket in `/proc/net/*`.
///
/// # Errors
/// What `fstat` fails with.
pub fn socket_inode(fd: impl AsFd) -> io::Result<u64> {
    Ok(rustix::fs::fstat(fd)?.st_ino)
}

/// The `drops` counter of the UDP socket with inode `inode` in this network namespace,
/// or `None` when no table lists it (a unix datagram socket, or one already closed).
///
/// # Errors
/// When a table cannot be read.
pub fn kernel_drops(inode: u64) -> io::Result<Option<u64>> {
    for table in TABLES {
        match std::fs::read_to_string(table) {
            Ok(text) => {
                if let Some(drops) = drops_in_table(&text, inode) {
                    return Ok(Some(drops));
                }
            }
            // A kernel without IPv6 has no udp6 table.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(None)
}

/// Column positions in a line of `/proc/net/udp` (see `udp4_format_sock` in the kernel):
/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops`.
const INODE_COLUMN: usize = 9;
const DROPS_COLUMN: usize = 12;

/// The `drops` of the line whose inode is `inode`; lines that do not parse are skipped.
pub(crate) fn drops_in_table(text: &str, inode: u64) -> Option<u64> {
    text.lines().skip(1).find_map(|line| {
        let columns: Vec<&str> = line.split_whitespace().collect();
        let line_inode: u64 = columns.get(INODE_COLUMN)?.parse().ok()?;
        if line_inode != inode {
            return None;
        }
        columns.get(DROPS_COLUMN)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::drops_in_table;

    const TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  204: 0100007F:A1B2 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 48123 2 0000000000000000 0
  977: 00000000:1FBD 00000000:0000 07 00000000:00034000 00:00000000 00000000     0        0 51234 2 0000000000000000 4711
  980: garbage line
";

    #[test]
    fn finds_the_drops_of_the_socket_with_that_inode() {
        assert_eq!(drops_in_table(TABLE, 51234), Some(4711));
        assert_eq!(drops_in_table(TABLE, 48123), Some(0));
        assert_eq!(drops_in_table(TABLE, 1), None);
    }
}
