//! Debug output goes through the `log` facade (feature `log`), not stderr.
#![cfg(feature = "log")]

mod util;

use std::sync::Mutex;
use std::time::Duration;

use shoal_reactor::Socket;

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.target() == "shoal_reactor" {
            self.0
                .lock()
                .expect("lock")
                .push(format!("{} {}", record.level(), record.args()));
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn debugmsg_dump_error_and_close_reasons_are_logged() {
    log::set_logger(&CAPTURE).expect("logger");
    log::set_max_level(log::LevelFilter::Debug);
    let (_, mut reactor) = util::reactors().remove(0);
    let (server, _client) = util::tcp_pair();
    let token = reactor
        .register_socket(server, |_: &mut Socket<'_>| {})
        .expect("register");
    reactor.debugmsg(format_args!("loop says {}", 42));
    let mut sock = reactor.socket(token).expect("socket");
    sock.debugmsg(format_args!("socket says hi"));
    sock.dump_error("something odd");
    sock.close("test over");
    reactor.run_once(Some(Duration::ZERO)).expect("run_once");
    let lines = CAPTURE.0.lock().expect("lock").clone();
    assert!(lines.iter().any(|l| l == "DEBUG loop says 42"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("DEBUG Socket(fd") && l.ends_with("socket says hi")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ERROR Socket(fd") && l.ends_with("something odd")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("closed: test over")),
        "{lines:?}"
    );
}
