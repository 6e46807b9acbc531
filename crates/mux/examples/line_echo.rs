//! Line echo server on `shoal-mux`: every line comes back byte for byte (its `\n` and
//! any `\r` included); a partial line at end of stream comes back before the close; a
//! client whose line exceeds `--max-line` is closed, everybody else is served on.
//!
//! ```text
//! cargo run --release -p shoal-mux --example line_echo -- --addr 127.0.0.1:0 [--max-line BYTES]
//! ```
//!
//! Prints exactly one line on stdout, `listening on ADDR`, once bound; logs go to
//! stderr.

use std::io::Write;
use std::net::SocketAddr;

use shoal_mux::framing::Rule;
use shoal_mux::{Event, Mux, Options};

struct Args {
    addr: String,
    max_line: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:0".to_owned(),
        max_line: 64 * 1024,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?,
            "--max-line" => {
                args.max_line = value()?.parse().map_err(|e| format!("--max-line: {e}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()
        .map_err(|e| format!("{e}\nusage: line_echo --addr HOST:PORT [--max-line BYTES]"))?;
    let addr: SocketAddr = args.addr.parse()?;
    let mut mux: Mux = Mux::new()?;
    let lines = Options::default().framing(Rule::delimiter(b"\n", args.max_line)?);
    let listener = mux.listen(&format!("tcp://{addr}"), lines)?;
    let bound = SocketAddr::try_from(mux.local_addr(listener)?)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {bound}")?;
    stdout.flush()?;
    loop {
        match mux.next_event(None)? {
            Event::Read {
                handle, mut data, ..
            } => {
                data.push(b'\n');
                if let Err(e) = mux.send(handle, &data) {
                    eprintln!("line_echo: send: {e}");
                    mux.kill(handle)?;
                }
            }
            Event::ReadLast { handle, data } => {
                if let Err(e) = mux.send(handle, &data) {
                    eprintln!("line_echo: send: {e}");
                }
            }
            Event::Error { handle, error } => eprintln!("line_echo: {handle:?}: {error}"),
            _ => {}
        }
    }
}
