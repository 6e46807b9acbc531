//! The `line_echo` example end to end, with real clients (socat, nc, Python).

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use shoal_test_util::{Reaped, example_path, read_listening_line};

fn start(max_line: Option<usize>) -> (Reaped, String) {
    let mut cmd = Command::new(example_path("line_echo"));
    cmd.args(["--addr", "127.0.0.1:0"]);
    if let Some(max) = max_line {
        cmd.args(["--max-line", &max.to_string()]);
    }
    let mut server = Reaped(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn line_echo (built by cargo test)"),
    );
    let (addr, _) = read_listening_line(server.take_stdout().unwrap()).unwrap();
    (server, addr)
}

/// Runs a client command with `input` on stdin and returns its stdout.
fn client(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Reaped(
        Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}")),
    );
    child.0.stdin.take().unwrap().write_all(input).unwrap();
    let mut out = Vec::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert!(child.wait_for(util::PATIENCE).unwrap().is_some());
    out
}

const TEXT: &[u8] = b"plain\ncrlf\r\n\nlone\rcr\nno newline at end";

#[test]
fn socat_gets_every_line_back_byte_for_byte_and_the_partial_line() {
    let (_server, addr) = start(None);
    let out = client("socat", &["-t", "5", "-", &format!("TCP:{addr}")], TEXT);
    assert_eq!(out, TEXT);
}

#[test]
fn nc_gets_every_line_back() {
    let (_server, addr) = start(None);
    let (host, port) = addr.rsplit_once(':').unwrap();
    // `-N`: shut the socket down at end of input, so the server sees EOF.
    let out = client("nc", &["-N", host, port], TEXT);
    assert_eq!(out, TEXT);
}

#[test]
fn python_client_sending_odd_chunkings() {
    let (_server, addr) = start(None);
    let script = r#"
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
text = b"a\nbb\r\nccc\n" * 50 + b"tail"
for size in (1, 2, 5, 13, 4096):
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(text), size):
        s.sendall(text[i:i+size])
        if size < 13:
            time.sleep(0.0005)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    assert got == text, (size, got[:80])
    s.close()
print("ok")
"#;
    let out = client("python3", &["-c", script, &addr], b"");
    assert_eq!(out, b"ok\n");
}

#[test]
fn only_the_client_with_an_overlong_line_is_closed() {
    let (_server, addr) = start(Some(16));
    let mut good = TcpStream::connect(&addr).unwrap();
    let mut bad = TcpStream::connect(&addr).unwrap();
    bad.write_all(b"this line is far longer than sixteen bytes\n")
        .unwrap();
    let mut rest = Vec::new();
    // The server closes the offender: EOF (or a reset if bytes were left unread).
    let _ = bad.read_to_end(&mut rest);
    assert!(rest.is_empty(), "nothing echoed to the offender: {rest:?}");
    good.write_all(b"exactly 16 bytes\n").unwrap();
    let mut reader = BufReader::new(good.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "exactly 16 bytes\n");
    // And new clients are still served.
    let mut third = TcpStream::connect(&addr).unwrap();
    third.write_all(b"hi\n").unwrap();
    let mut buf = [0u8; 3];
    third.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi\n");
}
