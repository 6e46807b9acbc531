//! Interoperability with CPython's `socket.send_fds` / `socket.recv_fds`, both ways.

mod util;

use std::process::{Command, Stdio};
use std::time::Duration;

use shoal_fdpass::{Listener, Mode, Options, Outgoing};
use shoal_test_util::{Reaped, TempDir};
use util::read_all;

fn python(script: &str, args: &[&std::path::Path]) -> Reaped {
    let child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    Reaped(child)
}

fn finish(mut child: Reaped) -> String {
    let status = child.wait_for(Duration::from_secs(20)).unwrap();
    let out = read_all(&mut child);
    assert!(status.is_some_and(|s| s.success()), "python failed:\n{out}");
    out
}

const PY_SEND: &str = r#"
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[3] == "stream" else socket.SOCK_SEQPACKET
s = socket.socket(socket.AF_UNIX, kind)
s.connect(sys.argv[1])
f = open(sys.argv[2], "ab")
socket.send_fds(s, [b"p" if kind == socket.SOCK_STREAM else b"from-python"], [f.fileno()])
"#;

fn python_sends_to_rust(mode: Mode, kind: &str, payload: &[u8]) {
    let dir = TempDir::new("py-send");
    let path = dir.join("s");
    let file = dir.join("f");
    let listener =
        Listener::bind_with(&path, 4, Options::new().mode(mode).set_nonblocking(false)).unwrap();
    let child = python(PY_SEND, &[&path, &file, std::path::Path::new(kind)]);
    let mut passer = listener.accept().unwrap();
    let msg = passer.recv().unwrap();
    assert_eq!(msg.payload, payload);
    assert_eq!(msg.fds.len(), 1);
    use std::io::Write;
    std::fs::File::from(msg.into_fd().unwrap())
        .write_all(b"rust-was-here")
        .unwrap();
    finish(child);
    assert_eq!(std::fs::read(&file).unwrap(), b"rust-was-here");
}

#[test]
fn python_send_fds_reaches_a_seqpacket_passer() {
    python_sends_to_rust(Mode::SeqPacket, "seqpacket", b"from-python");
}

#[test]
fn python_send_fds_speaks_the_stream_framing() {
    python_sends_to_rust(Mode::Stream, "stream", b"p");
}

const PY_RECV: &str = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
msg, fds, flags, addr = socket.recv_fds(s, 64, 8)
for fd in fds:
    os.write(fd, b"python-was-here\n")
    os.close(fd)
print(msg.decode(), len(fds), flags)
"#;

#[test]
fn python_recv_fds_gets_a_message_from_a_passer() {
    let dir = TempDir::new("py-recv");
    let path = dir.join("s");
    let file = dir.join("f");
    let listener = Listener::bind_with(&path, 4, Options::new().set_nonblocking(false)).unwrap();
    let child = python(PY_RECV, &[&path]);
    let mut passer = listener.accept().unwrap();
    let open = || -> std::os::fd::OwnedFd {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&file)
            .unwrap()
            .into()
    };
    passer
        .send(Outgoing::new(vec![open(), open()], b"from-rust".to_vec()).unwrap())
        .unwrap();
    let out = finish(child);
    assert_eq!(
        out.trim(),
        "from-rust 2 0",
        "payload, descriptor count, flags"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "python-was-here\npython-was-here\n"
    );
}
