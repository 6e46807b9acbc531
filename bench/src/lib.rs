//! Helpers shared by the bench binaries: CPU time of this process, medians, tables.

use std::time::Duration;

/// CPU time (user + system) this process has used so far, from `CLOCK_PROCESS_CPUTIME_ID`.
pub fn process_cpu_time() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of the calling thread, from `CLOCK_THREAD_CPUTIME_ID`.
pub fn thread_cpu_time() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Median of the samples (sorts them).
pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    match samples.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => samples[n / 2],
        n => (samples[n / 2 - 1] + samples[n / 2]) / 2.0,
    }
}

/// A Markdown table from a header row and data rows.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

/// A `shoal-reactor` TCP echo server on its own thread, for the reactor benches: its
/// address, a waker that stops it (keep it until the join), and the thread, which
/// returns its CPU time over the run and the sources still watched at stop.
pub fn spawn_reactor_echo(
    backend: shoal_reactor::Backend,
) -> (
    std::net::SocketAddr,
    shoal_reactor::Waker,
    std::thread::JoinHandle<(Duration, usize)>,
) {
    use shoal_reactor::{Read, Socket};
    fn echo(conn: &mut Socket<'_>) {
        let mut buf = [0u8; 16 * 1024];
        match conn.read_into(&mut buf) {
            Ok(Read::Data(n)) => {
                let _ = conn.write(&buf[..n]);
            }
            Ok(Read::WouldBlock) => {}
            Ok(Read::Eof) | Err(_) => conn.close("done"),
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut reactor = shoal_reactor::Reactor::with_backend(backend).expect("reactor");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        reactor
            .register_socket(listener, |l: &mut Socket<'_>| {
                while let Ok(Some(fd)) = l.accept() {
                    let _ = l.context().register_socket(fd, echo);
                }
            })
            .expect("listen");
        let waker = reactor.waker(|cx| cx.stop()).expect("waker");
        tx.send((addr, waker)).expect("send");
        let start = thread_cpu_time();
        reactor.run().expect("run");
        (thread_cpu_time() - start, reactor.watched_count())
    });
    let (addr, waker) = rx.recv().expect("server start");
    (addr, waker, thread)
}
