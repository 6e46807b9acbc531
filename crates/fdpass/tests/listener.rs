//! `Listener`: the socket file's permissions, stale and occupied paths, cleanup, accept.

mod util;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use shoal_fdpass::{Error, FdPasser, Listener, MAX_PATH_LEN, Options};
use shoal_test_util::TempDir;
use util::devnull;

#[test]
fn the_socket_file_is_owner_only_and_removed_on_drop() {
    let dir = TempDir::new("perm");
    let path = dir.join("s");
    let listener = FdPasser::server(&path, 10).unwrap();
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(listener.path(), path);
    drop(listener);
    assert!(!path.exists(), "the socket file must be removed on drop");
}

#[test]
fn accept_and_connect_pass_descriptors_with_credentials_on_both_ends() {
    let dir = TempDir::new("accept");
    let path = dir.join("s");
    let listener = Listener::bind(&path, 10).unwrap();
    let mut client = FdPasser::connect(&path).unwrap();
    let mut server = loop {
        match listener.accept() {
            Ok(p) => break p,
            Err(e) if e.is_would_block() => std::thread::yield_now(),
            Err(e) => panic!("accept: {e}"),
        }
    };
    for p in [&client, &server] {
        let cred = p.peer_credentials().unwrap();
        assert_eq!(cred.pid as u32, std::process::id());
        assert_eq!(cred.uid, rustix::process::getuid().as_raw());
    }
    client.send_fd(devnull()).unwrap();
    assert_eq!(server.recv().unwrap().fds.len(), 1);
    server.send_fd(devnull()).unwrap();
    assert_eq!(client.recv().unwrap().fds.len(), 1);
}

#[test]
fn a_stale_socket_is_replaced() {
    let dir = TempDir::new("stale");
    let path = dir.join("s");
    {
        // A server that died without unlinking its socket file.
        let sock = rustix::net::socket(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            None,
        )
        .unwrap();
        rustix::net::bind(&sock, &rustix::net::SocketAddrUnix::new(&path).unwrap()).unwrap();
    }
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket()
    );
    let listener = Listener::bind(&path, 10).unwrap();
    let mut client = FdPasser::connect(&path).unwrap();
    client.send_fd(devnull()).unwrap();
    let mut server = listener.accept().unwrap();
    assert_eq!(server.recv_fd().map(drop).ok(), Some(()));
}

#[test]
fn a_file_that_is_not_a_socket_is_never_replaced() {
    let dir = TempDir::new("file");
    let path = dir.join("s");
    std::fs::write(&path, b"precious").unwrap();
    match Listener::bind(&path, 10) {
        Err(Error::PathOccupied {
            what: "not a socket",
        }) => {}
        other => panic!("expected PathOccupied, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn a_live_server_is_never_replaced() {
    let dir = TempDir::new("live");
    let path = dir.join("s");
    let first = Listener::bind(&path, 10).unwrap();
    match Listener::bind(&path, 10) {
        Err(Error::PathOccupied {
            what: "a live server",
        }) => {}
        other => panic!("expected PathOccupied, got {other:?}"),
    }
    // The first server still works.
    let _client = FdPasser::connect(&path).unwrap();
    first.accept().unwrap();
}

#[test]
fn drop_leaves_a_successors_socket_alone() {
    let dir = TempDir::new("successor");
    let path = dir.join("s");
    let old = Listener::bind(&path, 10).unwrap();
    std::fs::remove_file(&path).unwrap();
    let new = Listener::bind(&path, 10).unwrap();
    drop(old);
    assert!(
        path.exists(),
        "dropping the old listener removed the new one's socket"
    );
    drop(new);
    assert!(!path.exists());
}

#[test]
fn a_too_long_path_is_a_clear_error() {
    let dir = TempDir::new("long");
    let path = dir.join(&"x".repeat(200));
    match Listener::bind(&path, 10) {
        Err(Error::PathTooLong { len, max }) => {
            assert_eq!(len, path.as_os_str().len());
            assert_eq!(max, MAX_PATH_LEN);
        }
        other => panic!("expected PathTooLong, got {other:?}"),
    }
    assert!(matches!(
        FdPasser::connect(&path),
        Err(Error::PathTooLong { .. })
    ));
}

#[test]
fn a_blocking_listener_accepts_in_stream_mode() {
    let dir = TempDir::new("stream");
    let path = dir.join("s");
    let opts = Options::new()
        .mode(shoal_fdpass::Mode::Stream)
        .set_nonblocking(false);
    let listener = Listener::bind_with(&path, 10, opts.clone()).unwrap();
    let mut client = FdPasser::connect_with(&path, &opts).unwrap();
    client.send_fd(devnull()).unwrap();
    let mut server = listener.accept().unwrap();
    assert_eq!(
        server.recv().unwrap().payload,
        [shoal_fdpass::FD_ONLY_PAYLOAD]
    );
}
