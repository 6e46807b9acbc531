//! The `udp_sink` example driven by a real sender (python3): the JSON totals of all its
//! worker processes add up to what was sent.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use shoal_test_util::{Reaped, example_path, read_listening_line};

/// `target/<profile>/examples/udp_sink`, built by `cargo test` with the tests.
fn sink_binary() -> PathBuf {
    let path = example_path("udp_sink");
    assert!(
        path.is_file(),
        "{} missing: run through `cargo test -p shoal-udp-pump`, which builds examples",
        path.display()
    );
    path
}

const SENDER: &str = r#"
import socket, sys
host, port, sockets, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
payload = b"x" * 64
for _ in range(sockets):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(per):
        s.sendto(payload, (host, port))
    s.close()
"#;

fn drive(workers: u32, sockets: u64, per_socket: u64) -> serde_json::Value {
    let mut sink = Reaped(
        Command::new(sink_binary())
            .args(["--addr", "127.0.0.1:0", "--rcvbuf", "4194304"])
            .args(["--idle-exit", "1", "--max-secs", "30"])
            .args(["--workers", &workers.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (addr, mut stdout) = read_listening_line(sink.take_stdout().unwrap()).unwrap();
    let (host, port) = addr.rsplit_once(':').unwrap();
    let sender = Command::new("python3")
        .args(["-c", SENDER, host, port])
        .args([sockets.to_string(), per_socket.to_string()])
        .status()
        .unwrap();
    assert!(sender.success());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let status = sink.wait_for(Duration::from_secs(30)).unwrap();
    assert!(status.is_some_and(|s| s.success()), "sink exit: {status:?}");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

fn field(json: &serde_json::Value, name: &str) -> u64 {
    json[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no integer {name} in {json}"))
}

fn check(json: &serde_json::Value, sent: u64) {
    let received = field(json, "received");
    assert_eq!(received + field(json, "kernel_drops"), sent, "{json}");
    assert_eq!(
        field(json, "delivered") + field(json, "dropped"),
        received,
        "{json}"
    );
    assert_eq!(field(json, "in_flight"), 0, "{json}");
    assert_eq!(
        (field(json, "truncated"), field(json, "errors")),
        (0, 0),
        "{json}"
    );
}

#[test]
fn one_worker_counts_everything_sent() {
    check(&drive(1, 4, 500), 2000);
}

#[test]
fn three_workers_count_everything_sent_together() {
    let json = drive(3, 16, 250);
    check(&json, 4000);
    assert_eq!(field(&json, "workers"), 3);
}
