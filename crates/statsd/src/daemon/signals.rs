//! Signals as readable descriptors for the reactor: `signal-hook` writes a byte into a
//! socket pair from the handler (rustix 1.1 has no `sigaction` or `signalfd`).

use std::io::{self, Read};
use std::os::unix::net::UnixStream;

use shoal_reactor::{Context, Interest};

/// Registers `signals` so that each delivery calls `on_signal` on the loop.
pub(crate) fn watch(
    cx: &mut Context,
    signals: &[i32],
    mut on_signal: impl FnMut(&mut Context) + 'static,
) -> io::Result<()> {
    let (mut read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    for &signal in signals {
        signal_hook::low_level::pipe::register(signal, write.try_clone()?)?;
    }
    let watched = read.try_clone()?;
    cx.register_fd(watched, Interest::READ, move |cx, _, _| {
        let mut buf = [0u8; 64];
        let mut fired = false;
        while let Ok(n) = read.read(&mut buf) {
            if n == 0 {
                break;
            }
            fired = true;
        }
        if fired {
            on_signal(cx);
        }
    })?;
    Ok(())
}
