//! `fd_echo`: a descriptor-echo server and its client, over SEQPACKET unix sockets.
//!
//! ```text
//! fd_echo serve PATH       # prints `listening on PATH`; for every received descriptor
//!                          # writes `shoal:N\n` into it (N counts from 1 across clients)
//! fd_echo send PATH FILE   # opens FILE for appending and passes it to the server
//! ```
//!
//! The server drives every passer from one `poll` loop through `AsFd`,
//! `FdPasser::interest` and `on_readable`: the same driver any event loop can use.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, Timespec};
use shoal_fdpass::{End, Error, FdPasser, Listener, Message, Outgoing};

/// Receive callbacks kept queued per connection.
const RECVS_PER_CONNECTION: usize = 8;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve", path] => serve(path),
        ["send", path, file] => send(path, file),
        _ => {
            eprintln!("usage: fd_echo serve PATH | fd_echo send PATH FILE");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fd_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn send(path: &str, file: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut passer = FdPasser::connect(path)?;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)?;
    // One descriptor, one payload byte; returns once the kernel has it.
    passer.send(Outgoing::fd(file.into()))?;
    Ok(())
}

/// What the passers' callbacks report to the loop.
enum Event {
    Received(u64, Result<Message, Error>),
    Ended(u64, End),
}

fn serve(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let listener = Listener::bind(path, 64)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {path}")?;
    stdout.flush()?;

    let (events_tx, events) = mpsc::channel::<Event>();
    let mut passers: HashMap<u64, FdPasser> = HashMap::new();
    let mut next_id = 0u64;
    let mut echoed = 0u64;
    loop {
        let ids: Vec<u64> = passers.keys().copied().collect();
        let (listener_ready, ready) = wait(&listener, &passers, &ids)?;
        if listener_ready {
            accept_all(&listener, &mut passers, &mut next_id, &events_tx);
        }
        for id in ready {
            if let Some(passer) = passers.get_mut(&id) {
                passer.on_readable();
            }
        }
        for event in events.try_iter() {
            match event {
                Event::Received(id, result) => {
                    if let Some(passer) = passers.get_mut(&id) {
                        push_recv(passer, id, &events_tx);
                    }
                    match result {
                        Ok(msg) => echo(msg, &mut echoed),
                        Err(e) => eprintln!("fd_echo: connection {id}: {e}"),
                    }
                }
                Event::Ended(id, end) => {
                    eprintln!("fd_echo: connection {id} ended: {end:?}");
                    passers.remove(&id);
                }
            }
        }
    }
}

/// Writes `shoal:N\n` into every descriptor of `msg` and closes them.
fn echo(msg: Message, echoed: &mut u64) {
    for fd in msg.fds {
        *echoed += 1;
        let mut file = std::fs::File::from(fd);
        if let Err(e) = file.write_all(format!("shoal:{echoed}\n").as_bytes()) {
            eprintln!("fd_echo: writing into descriptor {echoed}: {e}");
        }
    }
}

fn push_recv(passer: &mut FdPasser, id: u64, events: &mpsc::Sender<Event>) {
    let events = events.clone();
    passer.push_recv(move |result| {
        let _ = events.send(Event::Received(id, result));
    });
}

fn accept_all(
    listener: &Listener,
    passers: &mut HashMap<u64, FdPasser>,
    next_id: &mut u64,
    events: &mpsc::Sender<Event>,
) {
    loop {
        match listener.accept() {
            Ok(mut passer) => {
                let id = *next_id;
                *next_id += 1;
                let ended = events.clone();
                passer.set_on_end(move |end| {
                    let _ = ended.send(Event::Ended(id, end));
                });
                for _ in 0..RECVS_PER_CONNECTION {
                    push_recv(&mut passer, id, events);
                }
                passers.insert(id, passer);
            }
            Err(e) if e.is_would_block() => return,
            Err(e) => {
                // EMFILE and friends: log and try again on the next readiness.
                eprintln!("fd_echo: accept: {e}");
                return;
            }
        }
    }
}

/// `poll` on the listener and every passer (by its interest); returns whether the
/// listener is readable and which passers need `on_readable` (readable, hung up, or
/// past their retry time after a full descriptor table).
fn wait(
    listener: &Listener,
    passers: &HashMap<u64, FdPasser>,
    ids: &[u64],
) -> std::io::Result<(bool, Vec<u64>)> {
    let mut fds = vec![PollFd::from_borrowed_fd(listener.as_fd(), PollFlags::IN)];
    let mut polled = Vec::new();
    let mut retry: Option<Instant> = None;
    for id in ids {
        let passer = &passers[id];
        if let Some(at) = passer.retry_at() {
            retry = Some(retry.map_or(at, |r| r.min(at)));
        }
        // A passer paused for a full descriptor table is left out of the poll set
        // altogether: a hang-up cannot be masked and would make the loop spin.
        if passer.interest().readable {
            fds.push(PollFd::from_borrowed_fd(passer.as_fd(), PollFlags::IN));
            polled.push(*id);
        }
    }
    let timeout = retry.map(|at| {
        let left = at.saturating_duration_since(Instant::now());
        Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        }
    });
    match rustix::event::poll(&mut fds, timeout.as_ref()) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(e) => return Err(e.into()),
    }
    let now = Instant::now();
    let mut ready: Vec<u64> = polled
        .iter()
        .zip(&fds[1..])
        .filter(|(_, fd)| !fd.revents().is_empty())
        .map(|(id, _)| *id)
        .collect();
    ready.extend(
        ids.iter()
            .filter(|id| passers[*id].retry_at().is_some_and(|at| at <= now)),
    );
    Ok((!fds[0].revents().is_empty(), ready))
}
