//! Kernel-side drops of a UDP socket, from the `drops` column of `/proc/net/udp{,6}`.
//!
//! rustix 1.1 cannot decode the `SO_RXQ_OVFL` control message, so the count the kernel
//! keeps per socket (`sk_drops`: receive buffer full, and checksum or memory failures) is
//! read where the kernel also publishes it, by the socket's inode.

use std::io::{self, Read};
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

/// What the kernel publishes about one UDP socket in `/proc/net/udp{,6}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSocketInfo {
    /// Bytes queued in the receive buffer, not read yet (`rx_queue`, skb truesize).
    pub rx_queue: u64,
    /// Datagrams dropped on arrival (`drops`: receive buffer full, memory, checksum).
    pub drops: u64,
}

/// The `drops` counter of the UDP socket with inode `inode` in this network namespace,
/// or `None` when no table lists it (a unix datagram socket, or one already closed).
///
/// # Errors
/// When a table cannot be read.
pub fn kernel_drops(inode: u64) -> io::Result<Option<u64>> {
    Ok(kernel_socket_info(inode)?.map(|info| info.drops))
}

/// The receive queue and drops of the UDP socket with inode `inode`, or `None` when no
/// table lists it.
///
/// The kernel produces these tables a read at a time and resumes its walk of the socket
/// hash for each, so sockets closing elsewhere meanwhile can shift what a reading shows;
/// a CI run once found no line for a live socket. So each table is read with a large
/// buffer (a page per read, not the few bytes of a first probe), and tables that lack
/// the inode are read again, three readings in all.
///
/// # Errors
/// When a table cannot be read.
pub fn kernel_socket_info(inode: u64) -> io::Result<Option<KernelSocketInfo>> {
    find_in_tables(inode, |table| {
        let mut text = String::with_capacity(TABLE_READ_BUFFER);
        std::fs::File::open(table)?.read_to_string(&mut text)?;
        Ok(text)
    })
}

/// The initial buffer for a table: enough for a few hundred sockets in one go.
const TABLE_READ_BUFFER: usize = 64 * 1024;

/// How many times [`kernel_socket_info`] reads the tables before it concludes that no
/// table lists the socket (a unix datagram socket, or one already closed).
const READINGS: usize = 3;

/// [`kernel_socket_info`] over the tables that `read` returns.
fn find_in_tables(
    inode: u64,
    mut read: impl FnMut(&str) -> io::Result<String>,
) -> io::Result<Option<KernelSocketInfo>> {
    for _ in 0..READINGS {
        for table in TABLES {
            match read(table) {
                Ok(text) => {
                    if let Some(info) = info_in_table(&text, inode) {
                        return Ok(Some(info));
                    }
                }
                // A kernel without IPv6 has no udp6 table.
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
    }
    Ok(None)
}

/// Column positions in a line of `/proc/net/udp` (see `udp4_format_sock` in the kernel):
/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops`.
const QUEUES_COLUMN: usize = 4;
const INODE_COLUMN: usize = 9;
const DROPS_COLUMN: usize = 12;

/// The line whose inode is `inode` in the text of a `/proc/net/udp{,6}` table (header
/// line first); lines that do not parse are skipped.
///
/// Public only for the fuzz harness `udp_pump_proc_table` (`shoal_tests::fuzz`); not
/// part of the API.
#[doc(hidden)]
pub fn info_in_table(text: &str, inode: u64) -> Option<KernelSocketInfo> {
    text.lines().skip(1).find_map(|line| {
        let columns: Vec<&str> = line.split_whitespace().collect();
        let line_inode: u64 = columns.get(INODE_COLUMN)?.parse().ok()?;
        if line_inode != inode {
            return None;
        }
        let (_, rx_queue) = columns.get(QUEUES_COLUMN)?.split_once(':')?;
        Some(KernelSocketInfo {
            rx_queue: u64::from_str_radix(rx_queue, 16).ok()?,
            drops: columns.get(DROPS_COLUMN)?.parse().ok()?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::{KernelSocketInfo, READINGS, find_in_tables, info_in_table};

    fn drops_in_table(text: &str, inode: u64) -> Option<u64> {
        info_in_table(text, inode).map(|info| info.drops)
    }

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

    #[test]
    fn reads_the_receive_queue_in_hex() {
        let info = info_in_table(TABLE, 51234).unwrap();
        assert_eq!(
            info,
            KernelSocketInfo {
                rx_queue: 0x34000,
                drops: 4711
            }
        );
    }

    #[test]
    fn a_line_hidden_from_one_reading_is_found_in_the_next() {
        let mut readings = 0;
        let info = find_in_tables(51234, |table| {
            readings += 1;
            // The first reading of both tables misses the socket's line.
            Ok(if readings > 2 && table.ends_with("udp") {
                TABLE.to_owned()
            } else {
                TABLE.lines().take(2).collect::<Vec<_>>().join("\n")
            })
        })
        .unwrap();
        assert_eq!(info.map(|i| i.drops), Some(4711));
        assert_eq!(readings, 3);
    }

    #[test]
    fn a_socket_no_table_lists_is_looked_for_a_bounded_number_of_times() {
        let mut readings = 0;
        let info = find_in_tables(51234, |_| {
            readings += 1;
            Ok(String::new())
        })
        .unwrap();
        assert_eq!((info, readings), (None, 2 * READINGS));
    }
}
