//! The `fd_echo` example end to end: a spawned server, spawned `send` clients, and
//! clients that misbehave.

mod util;

use std::process::{Command, Stdio};
use std::time::Duration;

use shoal_fdpass::{FdPasser, Outgoing};
use shoal_test_util::{Reaped, TempDir, example_path, read_listening_line};
use util::wait_for_lines;

fn run_send(path: &std::path::Path, file: &std::path::Path) {
    let child = Command::new(example_path("fd_echo"))
        .arg("send")
        .arg(path)
        .arg(file)
        .spawn()
        .expect("spawn fd_echo send");
    let status = Reaped(child)
        .wait_for(Duration::from_secs(10))
        .unwrap()
        .expect("fd_echo send did not exit");
    assert!(status.success(), "fd_echo send failed: {status}");
}

#[test]
fn fd_echo_serves_every_client_whatever_the_others_send() {
    let dir = TempDir::new("echo");
    let path = dir.join("echo.sock");
    let out = dir.join("out.txt");
    let server = Command::new(example_path("fd_echo"))
        .arg("serve")
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn fd_echo serve");
    let mut server = Reaped(server);
    let (addr, _stdout) = read_listening_line(server.take_stdout().unwrap()).unwrap();
    assert_eq!(addr, path.to_str().unwrap());

    run_send(&path, &out);
    assert_eq!(wait_for_lines(&out, 1), "shoal:1\n");

    // Garbage without descriptors, then a peer that vanishes mid-way.
    let mut garbage = FdPasser::connect(&path).unwrap();
    garbage
        .send(Outgoing::new(Vec::new(), b"\xff\x00garbage".to_vec()).unwrap())
        .unwrap();
    let raw = rustix::net::socket(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        None,
    )
    .unwrap();
    rustix::net::connect(&raw, &rustix::net::SocketAddrUnix::new(&path).unwrap()).unwrap();
    drop(raw);
    drop(garbage);

    run_send(&path, &out);
    assert_eq!(wait_for_lines(&out, 2), "shoal:1\nshoal:2\n");

    // Two descriptors in one message from a third client: both get a line.
    let mut two = FdPasser::connect(&path).unwrap();
    let open = || -> std::os::fd::OwnedFd {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&out)
            .unwrap()
            .into()
    };
    two.send(Outgoing::new(vec![open(), open()], b"2".to_vec()).unwrap())
        .unwrap();
    assert_eq!(
        wait_for_lines(&out, 4),
        "shoal:1\nshoal:2\nshoal:3\nshoal:4\n"
    );
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "the server must keep running"
    );
}
