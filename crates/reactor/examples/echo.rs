//! The shortest correct echo server on the reactor.
//!
//! `cargo run --release -p shoal-reactor --example echo -- --addr 127.0.0.1:0` prints
//! `listening on 127.0.0.1:PORT` on stdout, logs to stderr, and echoes every byte back to
//! every client until killed.

use std::io::Write;
use std::net::TcpListener;

use shoal_reactor::{Reactor, Read, Socket, WriteError};

fn echo(conn: &mut Socket<'_>) {
    match conn.read(64 * 1024) {
        Ok(Read::Data(bytes)) => {
            if let Err(WriteError::Full(full)) = conn.write_vec(bytes) {
                // The peer sends but does not read: stop reading until it catches up.
                eprintln!("{}: {full}; closing", conn.as_string());
                conn.close("peer not reading");
            }
        }
        Ok(Read::WouldBlock) => {}
        // Half-close: finish sending what is queued, then close.
        Ok(Read::Eof) => {
            let _ = conn.write_completion(|conn| conn.close("peer finished"));
        }
        Err(e) => conn.close(&e.to_string()),
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = match (args.next().as_deref(), args.next()) {
        (Some("--addr"), Some(addr)) => addr,
        _ => "127.0.0.1:0".to_owned(),
    };
    let listener = TcpListener::bind(&addr)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;

    let mut reactor = Reactor::new()?;
    reactor.register_socket(listener, |listener: &mut Socket<'_>| {
        loop {
            match listener.accept() {
                Ok(Some(conn)) => {
                    if let Err(e) = listener.context().register_socket(conn, echo) {
                        eprintln!("register: {e}");
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("accept: {e}");
                    break;
                }
            }
        }
    })?;
    reactor.run()
}
