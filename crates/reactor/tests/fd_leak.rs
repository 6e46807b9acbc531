//! 1000 connections opened, echoed and closed: the fd count is back where it started.

mod util;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use shoal_reactor::{Read, Socket};
use shoal_test_util::open_fd_count;

fn echo(conn: &mut Socket<'_>) {
    match conn.read(4096) {
        Ok(Read::Data(bytes)) => {
            let _ = conn.write_vec(bytes);
        }
        Ok(Read::WouldBlock) => {}
        Ok(Read::Eof) | Err(_) => conn.close("peer done"),
    }
}

#[test]
fn thousand_connections_leave_no_fd_behind() {
    for (backend, mut reactor) in util::reactors() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        reactor
            .register_socket(listener, |l: &mut Socket<'_>| {
                while let Ok(Some(fd)) = l.accept() {
                    l.context().register_socket(fd, echo).expect("register");
                }
            })
            .expect("register listener");
        let baseline = open_fd_count();
        let watched = reactor.watched_count();
        for batch in 0..10 {
            let mut clients: Vec<TcpStream> = (0..100)
                .map(|_| TcpStream::connect(addr).expect("connect"))
                .collect();
            for (i, c) in clients.iter_mut().enumerate() {
                c.write_all(&[batch as u8, i as u8]).expect("write");
            }
            for (i, c) in clients.iter_mut().enumerate() {
                c.set_nonblocking(true).expect("nonblocking");
                let mut buf = [0u8; 2];
                util::run_until(&mut reactor, "echo", Duration::from_secs(10), |_| {
                    match c.read(&mut buf) {
                        Ok(2) => true,
                        Ok(n) => panic!("short echo {n}"),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
                        Err(e) => panic!("{e}"),
                    }
                });
                assert_eq!(buf, [batch as u8, i as u8]);
            }
        }
        util::run_until(&mut reactor, "all closed", Duration::from_secs(10), |r| {
            r.watched_count() == watched
        });
        assert_eq!(open_fd_count(), baseline, "{backend:?}: fds leaked");
    }
}
