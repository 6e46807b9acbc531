//! `Socket` features over real sockets: pushed-back bytes, read budget fairness, the
//! writer function, stealing, write limits, addresses, EMFILE on accept.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{IoSlice, Read as _, Write as _};
use std::net::TcpListener;
use std::rc::Rc;
use std::time::Duration;

use shoal_reactor::{Read, Socket, WriteError};

#[test]
fn pushed_back_bytes_come_first_and_are_served_without_new_kernel_data() {
    for (backend, mut reactor) in util::reactors() {
        let (server, mut client) = util::tcp_pair();
        let got = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&got);
        let token = reactor
            .register_socket(server, move |sock: &mut Socket<'_>| {
                // Take 2 bytes at a time, push the rest back: the ready list must call us
                // again although the kernel has nothing new.
                if let Ok(Read::Data(bytes)) = sock.read(1024) {
                    let (now, later) = bytes.split_at(bytes.len().min(2));
                    sink.borrow_mut().push(now.to_vec());
                    sock.push_back_read(later);
                }
            })
            .expect("register");
        client.write_all(b"abcdefg").expect("write");
        util::run_until(
            &mut reactor,
            "pushed-back bytes",
            Duration::from_secs(5),
            |_| got.borrow().concat() == b"abcdefg",
        );
        assert_eq!(
            *got.borrow(),
            vec![
                b"ab".to_vec(),
                b"cd".to_vec(),
                b"ef".to_vec(),
                b"g".to_vec()
            ],
            "{backend:?}"
        );
        assert!(reactor.socket(token).is_some());
    }
}

#[test]
fn read_budget_lets_a_quiet_socket_in_while_a_firehose_streams() {
    for (backend, mut reactor) in util::reactors() {
        reactor.set_read_budget(4096);
        let (hose_server, mut hose_client) = util::tcp_pair();
        let (quiet_server, mut quiet_client) = util::tcp_pair();
        let hose_bytes = Rc::new(Cell::new(0usize));
        let quiet_seen_at = Rc::new(Cell::new(None));
        let hb = Rc::clone(&hose_bytes);
        reactor
            .register_socket(hose_server, move |sock: &mut Socket<'_>| {
                // A greedy handler: reads until it is told to stop.
                while let Ok(Read::Data(bytes)) = sock.read(1024) {
                    hb.set(hb.get() + bytes.len());
                }
            })
            .expect("register");
        let (hb, seen) = (Rc::clone(&hose_bytes), Rc::clone(&quiet_seen_at));
        reactor
            .register_socket(quiet_server, move |sock: &mut Socket<'_>| {
                if let Ok(Read::Data(_)) = sock.read(16) {
                    seen.set(Some(hb.get()));
                }
            })
            .expect("register");
        hose_client.write_all(&vec![1u8; 1 << 20]).expect("write");
        quiet_client.write_all(b"hi").expect("write");
        util::run_until(
            &mut reactor,
            "quiet socket served",
            Duration::from_secs(10),
            |_| quiet_seen_at.get().is_some(),
        );
        let at = quiet_seen_at.get().expect("seen");
        assert!(
            at < 1 << 20,
            "{backend:?}: the quiet socket waited for the whole megabyte ({at})"
        );
        // The firehose still gets everything eventually.
        util::run_until(
            &mut reactor,
            "firehose drained",
            Duration::from_secs(10),
            |_| hose_bytes.get() == 1 << 20,
        );
    }
}

#[test]
fn writer_func_replaces_the_syscall_and_short_writes_queue_the_rest() {
    for (backend, mut reactor) in util::reactors() {
        let (server, mut client) = util::tcp_pair();
        let token = reactor
            .register_socket(server, |_: &mut Socket<'_>| {})
            .expect("register");
        let calls = Rc::new(Cell::new(0u32));
        let c = Rc::clone(&calls);
        let mut sock = reactor.socket(token).expect("socket");
        // A writer that takes at most 3 bytes per call, upper-cased.
        sock.set_writer_func(move |fd, bufs: &[IoSlice<'_>]| {
            c.set(c.get() + 1);
            let first = bufs.iter().find(|b| !b.is_empty()).expect("bytes");
            let part: Vec<u8> = first[..first.len().min(3)].to_ascii_uppercase();
            rustix::io::write(fd, &part).map_err(Into::into)
        });
        assert!(!sock.write(b"hello world").expect("write"));
        util::run_until(&mut reactor, "flushed", Duration::from_secs(5), |r| {
            r.socket(token).is_some_and(|s| s.queued_bytes() == 0)
        });
        let mut got = [0u8; 11];
        client.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"HELLO WORLD", "{backend:?}");
        assert!(calls.get() >= 4);
    }
}

#[test]
fn the_write_limit_refuses_whole_writes_and_steal_hands_the_fd_back() {
    let (_, mut reactor) = util::reactors().remove(0);
    let (server, mut client) = util::tcp_pair();
    let token = reactor
        .register_socket(server, |_: &mut Socket<'_>| {})
        .expect("register");
    let mut sock = reactor.socket(token).expect("socket");
    sock.set_write_limit(100_000);
    let chunk = vec![9u8; 60_000];
    let mut full = None;
    for _ in 0..200 {
        match sock.write(&chunk) {
            Ok(_) => {}
            Err(WriteError::Full(f)) => {
                full = Some(f);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let full = full.expect("the limit was never reached");
    assert!(full.queued + full.refused > full.limit && full.queued <= full.limit);
    assert!(sock.queued_bytes() <= 100_000);
    assert!(
        sock.local_addr_string()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))
    );
    assert_eq!(
        sock.peer_addr_string(),
        client.local_addr().ok().map(|a| a.to_string())
    );
    assert!(sock.as_string().contains("queued"));
    // Steal: out of the loop, still open.
    let fd = sock.steal().expect("steal");
    assert!(reactor.socket(token).is_none());
    let mut stolen = std::net::TcpStream::from(fd);
    stolen.set_nonblocking(false).expect("blocking");
    client.write_all(b"still open").expect("write");
    let mut got = [0u8; 10];
    stolen
        .read_exact(&mut got)
        .expect("read from the stolen fd");
    assert_eq!(&got, b"still open");
}

/// Names the role of the re-executed test binary in the EMFILE test.
const EMFILE_ROLE: &str = "SHOAL_REACTOR_EMFILE_ROLE";

#[test]
fn emfile_on_accept_pauses_the_listener_instead_of_spinning() {
    // Runs in a re-executed child so lowering RLIMIT_NOFILE cannot disturb other tests.
    if shoal_test_util::in_role(EMFILE_ROLE, "1") {
        emfile_role();
        return;
    }
    let status = shoal_test_util::role_command(
        "emfile_on_accept_pauses_the_listener_instead_of_spinning",
        EMFILE_ROLE,
        "1",
    )
    .arg("--nocapture")
    .status()
    .expect("spawn role");
    assert!(status.success(), "role failed: {status}");
}

fn emfile_role() {
    for (backend, mut reactor) in util::reactors() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let errors = Rc::new(Cell::new(0u32));
        let accepted = Rc::new(RefCell::new(Vec::new()));
        let (e, a) = (Rc::clone(&errors), Rc::clone(&accepted));
        reactor
            .register_socket(listener, move |l: &mut Socket<'_>| {
                loop {
                    match l.accept() {
                        Ok(Some(fd)) => a.borrow_mut().push(fd),
                        Ok(None) => break,
                        Err(_) => {
                            e.set(e.get() + 1);
                            break;
                        }
                    }
                }
            })
            .expect("register");
        let client = std::net::TcpStream::connect(addr).expect("connect");
        // Use up the descriptor table: every fd number below the limit taken.
        let used = shoal_test_util::open_fd_count() as u64;
        let limit = used + 64;
        rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(limit),
                maximum: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum,
            },
        )
        .expect("setrlimit");
        let mut hog = Vec::new();
        while let Ok(fd) = rustix::io::dup(std::io::stdin()) {
            hog.push(fd);
        }
        let iterations = Rc::new(Cell::new(0u32));
        let it = Rc::clone(&iterations);
        reactor.set_post_loop_callback(move |_| {
            it.set(it.get() + 1);
            true
        });
        for _ in 0..20 {
            reactor
                .run_once(Some(Duration::from_millis(10)))
                .expect("run_once");
        }
        assert!(errors.get() >= 1, "{backend:?}: EMFILE not reported");
        assert!(
            errors.get() <= 5,
            "{backend:?}: the listener spun on EMFILE ({} errors)",
            errors.get()
        );
        hog.clear();
        util::run_until(
            &mut reactor,
            "accept after EMFILE",
            Duration::from_secs(5),
            |_| !accepted.borrow().is_empty(),
        );
        drop(client);
        println!(
            "{backend:?}: {} errors, {} iterations",
            errors.get(),
            iterations.get()
        );
    }
}
