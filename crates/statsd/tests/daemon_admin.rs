//! End to end: the admin interface over TCP.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;

use util::Daemon;

#[test]
fn etsy_commands_with_end_terminated_replies() {
    let daemon = Daemon::start("admin", 1, 60_000, &[]);
    daemon.send(b"a.b:2|c\na.c:1|c\nt:5|ms\ng:7|g\ns:x|s");
    daemon.wait_for("the packet", |d| d.stat("messages.packets_received") == 1);
    assert!(
        daemon
            .admin("help")
            .starts_with("Commands: stats, counters")
    );
    let counters = daemon.admin("counters");
    assert!(counters.contains("  'a.b': 2,\n"), "{counters}");
    assert_eq!(daemon.admin("timers"), "{\n  t: [ 5 ]\n}\nEND\n\n");
    assert_eq!(daemon.admin("gauges"), "{\n  g: 7\n}\nEND\n\n");
    assert_eq!(daemon.admin("sets"), "{\n  s: [ 'x' ]\n}\nEND\n\n");
    assert_eq!(
        daemon.admin("delcounters a.* nope"),
        "deleted: a.b\ndeleted: a.c\nmetric nope not found\nEND\n\n"
    );
    assert!(!daemon.admin("counters").contains("a.b"));
    assert_eq!(daemon.admin("health down"), "health: down\nEND\n\n");
    assert_eq!(daemon.admin("health"), "health: down\nEND\n\n");
    assert_eq!(daemon.admin("health up"), "health: up\nEND\n\n");
    assert_eq!(daemon.admin("bogus"), "ERROR\nEND\n\n");
    assert!(daemon.admin("config").contains("max-metrics: 100000\n"));
    let stats = daemon.admin("stats");
    for line in [
        "uptime: ",
        "messages.bad_lines_seen: 0\n",
        "workers.running: 1\n",
        "udp.kernel_drops: 0\n",
    ] {
        assert!(stats.contains(line), "{line:?} not in {stats}");
    }
}

#[test]
fn several_commands_on_one_connection_then_quit() {
    let daemon = Daemon::start("quit", 1, 60_000, &[]);
    let mut stream = TcpStream::connect(daemon.admin).unwrap();
    stream.set_read_timeout(Some(util::PATIENCE)).unwrap();
    stream.write_all(b"health\nbogus\nquit\n").unwrap();
    let mut reply = String::new();
    // quit closes the connection: read to EOF.
    stream.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "health: up\nEND\n\nERROR\nEND\n\n");
}

#[test]
fn an_overlong_line_is_refused_and_the_daemon_goes_on() {
    let daemon = Daemon::start("long", 1, 60_000, &[]);
    let mut stream = TcpStream::connect(daemon.admin).unwrap();
    stream.set_read_timeout(Some(util::PATIENCE)).unwrap();
    stream.write_all(&vec![b'x'; 10_000]).unwrap();
    let mut reply = Vec::new();
    // The connection is closed; whatever was written before that is the error reply.
    let _ = stream.read_to_end(&mut reply);
    assert!(
        reply.is_empty() || reply == b"ERROR\nEND\n\n",
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    assert_eq!(daemon.admin("health"), "health: up\nEND\n\n");
}
