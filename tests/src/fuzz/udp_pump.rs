//! `shoal-udp-pump`'s `/proc/net/udp{,6}` table parser ([`info_in_table`], the lookup
//! behind `kernel_socket_info`) on arbitrary text and on tables rendered in the kernel's
//! format from the input.

use std::fmt::Write as _;

use shoal_udp_pump::{KernelSocketInfo, info_in_table};

/// Column of `tx_queue:rx_queue` (hex), of the inode and of the drops (decimal) in a
/// table line, counted in whitespace-separated fields (`udp4_format_sock`).
const QUEUES: usize = 4;
const INODE: usize = 9;
const DROPS: usize = 12;

/// Most inodes looked up per input in the raw pass, so that long inputs stay linear.
const MAX_QUERIES: usize = 16;

/// Most lines rendered in the structured pass.
const MAX_ROWS: usize = 8;

/// Bytes of input per rendered line: flags, inode, drops, `rx_queue`.
const ROW_BYTES: usize = 1 + 8 + 8 + 8;

const HEADER_V4: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops";
const HEADER_V6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops";

/// Input layout: the whole input is read twice.
///
/// 1. As text (lossy UTF-8), looked up under an arbitrary inode (the first 8 bytes,
///    little-endian), 0, `u64::MAX` and every inode its lines name: the answer must be
///    exactly that of [`reference`], an independent reading of the table (the first
///    line after the header whose inode matches and whose `rx_queue` and drops parse).
/// 2. As a table to render: byte 0 picks the header (bit 0: IPv6) and line endings
///    (bit 1: `\r\n`, bit 2: no final newline), then up to `MAX_ROWS` (8) rows of
///    `ROW_BYTES` (25) bytes; every rendered inode must be found with the values of its
///    first row, and an inode no row has must not be.
pub fn udp_pump_proc_table(data: &[u8]) {
    raw_text(data);
    rendered_table(data);
}

/// Pass 1: arbitrary text against the reference reading.
fn raw_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut first = [0u8; 8];
    let n = data.len().min(8);
    first[..n].copy_from_slice(&data[..n]);
    let mut queries = vec![u64::from_le_bytes(first), 0, u64::MAX];
    // The first line too: it is the header, never a match, even when it looks like a row.
    for line in text.split('\n') {
        if queries.len() >= MAX_QUERIES {
            break;
        }
        if let Some(inode) = fields(line).get(INODE).and_then(|f| f.parse().ok())
            && !queries.contains(&inode)
        {
            queries.push(inode);
        }
    }
    for inode in queries {
        assert_eq!(
            info_in_table(&text, inode),
            reference(&text, inode),
            "inode {inode} in {text:?}"
        );
    }
}

/// The whitespace-separated fields of a line.
fn fields(line: &str) -> Vec<&str> {
    line.split(char::is_whitespace)
        .filter(|f| !f.is_empty())
        .collect()
}

/// What the table says about `inode`, read independently of the parser: lines are split
/// on `\n` (a `\r` before it is whitespace), the first is the header, and a line counts
/// only when its inode, hex `rx_queue` (after the first `:` of the queues field) and
/// decimal drops all parse.
fn reference(text: &str, inode: u64) -> Option<KernelSocketInfo> {
    for line in text.split('\n').skip(1) {
        let f = fields(line);
        let field = |i: usize| f.get(i).copied().unwrap_or("");
        if field(INODE).parse::<u64>() != Ok(inode) {
            continue;
        }
        let queues = field(QUEUES);
        let Some(colon) = queues.find(':') else {
            continue;
        };
        let (Ok(rx_queue), Ok(drops)) = (
            u64::from_str_radix(&queues[colon + 1..], 16),
            field(DROPS).parse::<u64>(),
        ) else {
            continue;
        };
        return Some(KernelSocketInfo { rx_queue, drops });
    }
    None
}

/// One row to render.
struct Row {
    ipv6: bool,
    inode: u64,
    info: KernelSocketInfo,
    /// Emit first a copy of the line cut after the inode column, which must be skipped.
    decoy: bool,
}

impl Row {
    /// `[flags][inode][drops][rx_queue]`, little-endian. Flags: bit 0 IPv6 addresses,
    /// bit 1 a small inode (`% 4`, so that rows share inodes), bit 2 a decoy line, bits
    /// 3 and 4 keep drops and `rx_queue` to 32 bits (what the kernel prints).
    fn from_bytes(bytes: &[u8; ROW_BYTES]) -> Row {
        let flags = bytes[0];
        let word = |i: usize| u64::from_le_bytes(bytes[1 + 8 * i..9 + 8 * i].try_into().unwrap());
        let mut inode = word(0);
        if flags & 2 != 0 {
            inode %= 4;
        }
        let mut drops = word(1);
        if flags & 8 != 0 {
            drops &= u64::from(u32::MAX);
        }
        let mut rx_queue = word(2);
        if flags & 16 != 0 {
            rx_queue &= u64::from(u32::MAX);
        }
        Row {
            ipv6: flags & 1 != 0,
            inode,
            info: KernelSocketInfo { rx_queue, drops },
            decoy: flags & 4 != 0,
        }
    }

    /// The line as `udp4_format_sock` / `ip6_dgram_sock_seq_show` print it.
    fn render(&self, sl: usize) -> String {
        let (local, remote) = if self.ipv6 {
            (
                "00000000000000000000000001000000:1FBD",
                "00000000000000000000000000000000:0000",
            )
        } else {
            ("0100007F:1FBD", "00000000:0000")
        };
        format!(
            "{sl:5}: {local} {remote} 07 00000000:{:08X} 00:00000000 00000000 {:5} {:8} {} 2 0000000000000000 {}",
            self.info.rx_queue, 1000, 0, self.inode, self.info.drops
        )
    }
}

/// Pass 2: a table rendered from the input is read back exactly.
fn rendered_table(data: &[u8]) {
    let Some((&layout, rest)) = data.split_first() else {
        return;
    };
    let rows: Vec<Row> = rest
        .chunks_exact(ROW_BYTES)
        .take(MAX_ROWS)
        .map(|c| Row::from_bytes(c.try_into().unwrap()))
        .collect();
    let eol = if layout & 2 != 0 { "\r\n" } else { "\n" };
    let mut text = String::from(if layout & 1 != 0 {
        HEADER_V6
    } else {
        HEADER_V4
    });
    for (sl, row) in rows.iter().enumerate() {
        text.push_str(eol);
        let line = row.render(sl);
        if row.decoy {
            let cut: Vec<&str> = line.split(' ').filter(|f| !f.is_empty()).collect();
            write!(text, "{}{eol}", cut[..=INODE].join(" ")).unwrap();
        }
        text.push_str(&line);
    }
    if layout & 4 == 0 {
        text.push_str(eol);
    }
    for row in &rows {
        let first = rows.iter().find(|r| r.inode == row.inode).unwrap();
        assert_eq!(
            info_in_table(&text, row.inode),
            Some(first.info),
            "inode {} in {text:?}",
            row.inode
        );
    }
    let absent = (0..=rows.len() as u64)
        .map(|i| u64::MAX - i)
        .find(|i| rows.iter().all(|r| r.inode != *i))
        .unwrap();
    assert_eq!(
        info_in_table(&text, absent),
        None,
        "inode {absent} in {text:?}"
    );
}
