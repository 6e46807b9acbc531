//! Soak: 10 000 TCP connections opened, echoed once and closed against the reactor's
//! echo server (both backends), 500 at a time; the process's fd count must be back where
//! it started. Prints a Markdown section.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Instant;

use shoal_bench::{spawn_reactor_echo, table};
use shoal_reactor::Backend;

const TOTAL: usize = 10_000;
// Under the listen backlog (std binds with 128): more pending SYNs are dropped and
// retried a second later, which would measure TCP retransmission, not the loop.
const BATCH: usize = 100;

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
        - 1
}

fn soak(backend: Backend) -> Vec<String> {
    let before = fd_count();
    let (addr, waker, server) = spawn_reactor_echo(backend);
    let start = Instant::now();
    for batch in 0..TOTAL / BATCH {
        let mut conns: Vec<TcpStream> = (0..BATCH)
            .map(|_| TcpStream::connect(addr).expect("connect"))
            .collect();
        for (i, c) in conns.iter_mut().enumerate() {
            c.write_all(&[batch as u8, i as u8]).expect("write");
        }
        for (i, c) in conns.iter_mut().enumerate() {
            let mut buf = [0u8; 2];
            c.read_exact(&mut buf).expect("echo");
            assert_eq!(buf, [batch as u8, i as u8]);
        }
    }
    let elapsed = start.elapsed();
    // Let the server see the last EOFs, then stop it.
    thread::sleep(std::time::Duration::from_millis(200));
    waker.wake().expect("wake");
    let (cpu, watched) = server.join().expect("server");
    drop(waker);
    let after = fd_count();
    eprintln!("{backend:?}: {elapsed:?}, fds {before} -> {after}, watched at stop {watched}");
    vec![
        format!("{backend:?}"),
        format!("{:.0}", TOTAL as f64 / elapsed.as_secs_f64()),
        format!("{:.1}", cpu.as_secs_f64() * 1e6 / TOTAL as f64),
        format!("{before} → {after}"),
        watched.to_string(),
    ]
}

fn main() {
    let rows: Vec<_> = Backend::all().iter().map(|&b| soak(b)).collect();
    println!("## reactor_soak: {TOTAL} connections opened, echoed and closed\n");
    println!(
        "{BATCH} connections open at a time (blocking clients in the main thread, the reactor in \
         its own thread). fds: the process's `/proc/self/fd` count before the server starts and \
         after it stopped; watched: sources still in the loop at stop (listener + waker = 2).\n"
    );
    print!(
        "{}",
        table(
            &[
                "backend",
                "connections/s",
                "server CPU µs/conn",
                "fds before → after",
                "watched at stop"
            ],
            &rows
        )
    );
}
