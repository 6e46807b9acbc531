//! End to end: the Graphite sink retries until the server is up, then delivers what
//! was buffered meanwhile.

mod util;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::time::Instant;

use util::{Daemon, PATIENCE};

#[test]
fn graphite_sink_retries_then_delivers_the_buffered_flushes() {
    // A free port with nothing listening on it yet.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sink = format!("graphite://127.0.0.1:{port}");
    let daemon = Daemon::start("graphite", 1, 100, &["--flush", &sink]);
    daemon.send(b"early:5|c");
    // Connections are refused for a while: the sink backs off and keeps the flushes.
    daemon.wait_for("a failed connect", |d| d.stat("sink.last_exception") > 0);
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    let end = Instant::now() + PATIENCE;
    let mut early = 0.0;
    for line in BufReader::new(conn).lines() {
        let line = line.unwrap();
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "{line:?}");
        if fields[0] == "stats.counters.early.count" {
            early += fields[1].parse::<f64>().unwrap();
        }
        if early == 5.0 || Instant::now() > end {
            break;
        }
    }
    assert_eq!(early, 5.0);
    assert_eq!(daemon.stat("sink.dropped_bytes"), 0);
}
