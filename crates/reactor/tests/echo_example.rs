//! The README's first command: `examples/echo.rs` prints exactly `listening on ADDR`
//! and echoes every byte, to several clients at once, until killed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use shoal_test_util::{Reaped, example_path, read_listening_line};

/// `target/…/<profile>/examples/echo`, built first if this test run did not build
/// examples (`cargo test --tests` does not), with the same target dir, triple, profile
/// and flags as this test binary.
fn echo_path() -> std::path::PathBuf {
    let path = example_path("echo");
    if path.exists() {
        return path;
    }
    let profile_dir = path.parent().and_then(|d| d.parent()).expect("profile dir");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile name");
    let mut up = profile_dir.parent().expect("target dir");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "-p", "shoal-reactor", "--example", "echo"]);
    if profile == "release" {
        cmd.arg("--release");
    }
    let triple = up
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    if triple.contains("-linux-") {
        cmd.args(["--target", &triple]);
        up = up.parent().expect("target dir");
    }
    cmd.arg("--target-dir")
        .arg(up)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let status = cmd.status().expect("cargo build --example echo");
    assert!(
        status.success(),
        "building the echo example failed: {status}"
    );
    path
}

#[test]
fn echo_example_prints_its_address_and_echoes() {
    let mut child = Reaped(
        Command::new(echo_path())
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the echo example (cargo test builds examples)"),
    );
    let stdout = child.take_stdout().expect("stdout");
    let (addr, _stdout) = read_listening_line(stdout).expect("listening line");
    let addr = addr.as_str();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );

    let mut clients: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let msg: Vec<u8> = (0..100_000u32)
            .map(|b| (b as usize * 31 + i) as u8)
            .collect();
        c.write_all(&msg).expect("write");
        let mut back = vec![0u8; msg.len()];
        c.read_exact(&mut back).expect("echo");
        assert!(back == msg, "client {i}: echo differs");
    }
    // Half-close: the server sends what is left, then closes.
    let c = &mut clients[0];
    c.write_all(b"last words").expect("write");
    c.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).expect("read to EOF");
    assert_eq!(rest, b"last words");
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "the server exited"
    );
}
