//! Unix sockets: accepted connections carry the peer's credentials, datagram sockets
//! by path, and a too-long path is a clear error.

mod util;

use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};

use shoal_mux::{Event, Mux, Options};
use shoal_test_util::Reaped;
use util::{next, until};

fn temp_path(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("shoal-mux-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn accepted_unix_connection_carries_the_peers_credentials() {
    let path = temp_path("creds.sock");
    let mut mux: Mux = Mux::new().unwrap();
    let listener = mux
        .listen(&format!("unix://{}", path.display()), Options::default())
        .unwrap();
    // A separate process connects, so the pid is the child's, not ours.
    let script = "import socket,sys,os\n\
                  s=socket.socket(socket.AF_UNIX)\n\
                  s.connect(sys.argv[1])\n\
                  s.sendall(b'%d' % os.getpid())\n\
                  s.recv(1)\n";
    let child = Reaped(
        Command::new("python3")
            .args(["-c", script, path.to_str().unwrap()])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (handle, creds) = match next(&mut mux) {
        Event::Accepted {
            handle,
            listener: l,
            creds,
            ..
        } => {
            assert_eq!(l, listener);
            (handle, creds.expect("unix peers have credentials"))
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(creds.pid as u32, child.pid());
    assert_eq!(creds.uid, rustix::process::getuid().as_raw());
    assert_eq!(creds.gid, rustix::process::getgid().as_raw());
    match next(&mut mux) {
        Event::Read {
            handle: h, data, ..
        } => {
            assert_eq!(h, handle);
            assert_eq!(data, child.pid().to_string().as_bytes());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        shoal_mux::socket_creds(mux.fd(handle).unwrap()).unwrap(),
        creds
    );
    mux.kill(handle).unwrap();
    drop(child);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn unix_stream_connect_is_ready_and_echoes() {
    let path = temp_path("stream.sock");
    let server = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut mux: Mux = Mux::new().unwrap();
    let handle = mux
        .connect(&format!("unix://{}", path.display()), Options::default())
        .unwrap();
    let (mut peer, _) = server.accept().unwrap();
    assert!(matches!(next(&mut mux), Event::Ready { handle: h } if h == handle));
    mux.send(handle, b"ping").unwrap();
    let mut buf = [0u8; 4];
    peer.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    peer.write_all(b"pong").unwrap();
    let events = until(&mut mux, |e| matches!(e, Event::Read { .. }));
    assert!(matches!(events.last(), Some(Event::Read { data, .. }) if data == b"pong"));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn unix_datagram_by_path() {
    let path = temp_path("dgram.sock");
    let mut mux: Mux = Mux::new().unwrap();
    let server = mux
        .listen(
            &format!("unix_dgram://{}", path.display()),
            Options::default(),
        )
        .unwrap();
    let client = UnixDatagram::unbound().unwrap();
    client.send_to(b"hello", &path).unwrap();
    match next(&mut mux) {
        Event::Read { handle, data, .. } => {
            assert_eq!(handle, server);
            assert_eq!(data, b"hello");
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn too_long_unix_path_is_a_clear_error() {
    let mut mux: Mux = Mux::new().unwrap();
    let long = format!("unix:///tmp/{}", "x".repeat(200));
    let err = mux.connect(&long, Options::default()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("at most 107"), "{err}");
    let err = mux
        .listen(&long.replace("unix", "unix_dgram"), Options::default())
        .unwrap_err();
    assert!(err.to_string().contains("at most 107"), "{err}");
}
