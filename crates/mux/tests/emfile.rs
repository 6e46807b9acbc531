//! Out of descriptors: a listener that hits `EMFILE` reports it once and pauses instead
//! of spinning on the connection left in the backlog, and accepts again once the mux
//! closes a handle. `harness = false`: lowering `RLIMIT_NOFILE` affects the whole
//! process, so this runs single-threaded on its own.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use shoal_mux::{Event, Mux, Options};
use shoal_test_util::Reaped;

fn next(mux: &mut Mux) -> Event<()> {
    for _ in 0..200 {
        match mux.next_event(Some(Duration::from_millis(100))).unwrap() {
            Event::Timeout => continue,
            event => return event,
        }
    }
    panic!("no event within 20 s");
}

fn main() {
    let mut mux: Mux = Mux::new().unwrap();
    let listener = mux.listen("tcp://127.0.0.1:0", Options::default()).unwrap();
    let addr = SocketAddr::try_from(mux.local_addr(listener).unwrap()).unwrap();
    // Four client connections from another process, held open until stdin closes.
    let script = "import socket,sys\n\
                  c=[socket.create_connection(('127.0.0.1',int(sys.argv[1]))) for _ in range(4)]\n\
                  print('connected', flush=True)\n\
                  sys.stdin.read()\n";
    let mut child = Reaped(
        Command::new("python3")
            .args(["-c", script, &addr.port().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.take_stdout().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "connected\n");
    // The limit is on descriptor numbers: room for the two lowest free ones (fewer if
    // the one after the lowest is taken).
    let lowest_free = std::fs::File::open("/dev/null").unwrap().as_raw_fd();
    let old = getrlimit(Resource::Nofile);
    let limit = lowest_free as u64 + 2;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(limit),
            maximum: old.maximum,
        },
    )
    .unwrap();
    let mut accepted = Vec::new();
    let error = loop {
        match next(&mut mux) {
            Event::Accepted { handle, .. } => accepted.push(handle),
            Event::Error { handle, error } => {
                assert_eq!(handle, listener);
                break error;
            }
            other => panic!("{other:?}"),
        }
    };
    assert!(!accepted.is_empty() && accepted.len() <= 2, "{accepted:?}");
    assert_eq!(error.raw_os_error(), Some(24), "EMFILE: {error}");
    // Paused: no second error, no spin, although two connections wait in the backlog.
    assert!(matches!(
        mux.next_event(Some(Duration::from_millis(50))).unwrap(),
        Event::Timeout
    ));
    // Closing a handle frees a descriptor and resumes accepting.
    mux.kill(accepted[0]).unwrap();
    assert!(matches!(next(&mut mux), Event::Closed { .. }));
    match next(&mut mux) {
        Event::Accepted { listener: l, .. } => assert_eq!(l, listener),
        other => panic!("{other:?}"),
    }
    setrlimit(Resource::Nofile, old).unwrap();
    child.0.stdin.take().unwrap().write_all(b"").unwrap();
    assert!(child.wait_for(Duration::from_secs(20)).unwrap().is_some());
    println!("emfile: ok");
}
