//! A worker process: a `shoal-udp-pump` on the shared UDP socket feeds a local
//! [`Metrics`], handed over to the worker's shared-memory [`Area`] on a timer.
//!
//! SIGTERM (from the supervisor, or when the supervisor dies: `PR_SET_PDEATHSIG`)
//! stops the pump without `shutdown` (the socket is shared with the other workers and
//! the next generation), aggregates what the pump had queued, hands everything over and
//! exits: a datagram is either still in the kernel's buffer, for a sibling, or handed
//! over.

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shoal_reactor::{Context, Interest, Reactor};
use shoal_statsd::area::Area;
use shoal_statsd::cli::Config;
use shoal_statsd::metrics::Metrics;
use shoal_udp_pump::{Policy, ReadinessFd, Sharing, UdpPump};

use super::{inherit, signals};

/// How long a stopping worker keeps trying to hand over what the area has no room for.
const FINAL_HAND_OVER: Duration = Duration::from_secs(3);

struct Worker {
    metrics: Metrics,
    pump: Option<UdpPump<ReadinessFd>>,
    area: Area,
}

impl Worker {
    /// Aggregates every packet the pump has queued.
    fn drain(&mut self) {
        let Some(pump) = &self.pump else { return };
        for item in pump.drain() {
            let Ok(packet) = item else { continue };
            if packet.truncated() {
                // The cut last line could parse as a different value: drop it.
                let data = packet.data();
                let whole = data.iter().rposition(|&b| b == b'\n').unwrap_or(0);
                self.metrics.ingest_packet(&data[..whole]);
                self.metrics.counts.bad_lines_seen += 1;
            } else {
                self.metrics.ingest_packet(packet.data());
            }
        }
    }

    fn hand_over(&mut self) {
        if !self.metrics.is_empty()
            && let Err(err) = self.area.hand_over(&mut self.metrics)
        {
            eprintln!("shoal-statsd worker: hand-over failed: {err}");
        }
    }

    /// Stops the pump (joined), aggregates what it queued and hands everything over.
    fn finish(&mut self) {
        if let Some(pump) = &mut self.pump {
            let _ = pump.stop();
        }
        self.drain();
        self.pump = None;
        let deadline = Instant::now() + FINAL_HAND_OVER;
        self.hand_over();
        while !self.metrics.is_empty() && Instant::now() < deadline {
            // The area is full: the flusher empties it at its next flush.
            std::thread::sleep(Duration::from_millis(20));
            self.hand_over();
        }
    }
}

/// The hand-over period: a tenth of the flush interval, between 10 ms and 1 s.
pub(crate) fn hand_over_every(config: &Config) -> Duration {
    Duration::from_millis((config.flush_interval_ms / 10).clamp(10, 1000))
}

/// Runs a worker (the process was started with `SHOAL_STATSD_ROLE=worker`).
pub(crate) fn run(config: Config) -> ExitCode {
    match run_inner(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("shoal-statsd worker: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(config: Config) -> std::io::Result<()> {
    let mut fds = inherit::take_all()?;
    let missing = |name: &str| std::io::Error::other(format!("no inherited {name} descriptor"));
    let udp = fds.remove("udp").ok_or_else(|| missing("udp"))?;
    let area = fds.remove("area").ok_or_else(|| missing("area"))?;
    let parent: i32 = std::env::var("SHOAL_STATSD_PARENT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // Die with the supervisor (as a SIGTERM: the final hand-over still runs); if it is
    // already gone, stop now.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
    if rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get()) != parent {
        return Err(std::io::Error::other("the supervisor is gone"));
    }
    let area = Area::from_fd(area).map_err(std::io::Error::other)?;

    let mut reactor = Reactor::new()?;
    let wake = ReadinessFd::new()?;
    let pump = UdpPump::builder()
        .sharing(Sharing::SHARED)
        .policy(Policy::Block)
        .capacity(8192)
        .batch(256)
        // Metrics wait for a flush seconds away: 2 ms more buys a pump thread that sleeps
        // once per batch and an owner woken once per 2 ms (docs/udp-pump.md, "Linger").
        .linger(Duration::from_millis(2))
        .thread_name("statsd-pump")
        .spawn(udp, wake.clone())?;
    let worker = Rc::new(RefCell::new(Worker {
        metrics: Metrics::new(config.limits),
        pump: Some(pump),
        area,
    }));

    let on_packets = Rc::clone(&worker);
    let readiness = wake.clone();
    reactor.register_fd(wake, Interest::READ, move |_, _, _| {
        readiness.take();
        on_packets.borrow_mut().drain();
    })?;

    let on_stop = Rc::clone(&worker);
    signals::watch(
        &mut reactor,
        &[signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT],
        move |cx| {
            on_stop.borrow_mut().finish();
            cx.stop();
        },
    )?;

    schedule_hand_over(&mut reactor, Rc::clone(&worker), hand_over_every(&config));
    reactor.run()?;
    Ok(())
}

fn schedule_hand_over(cx: &mut Context, worker: Rc<RefCell<Worker>>, every: Duration) {
    cx.add_timer(every, move |cx| {
        worker.borrow_mut().hand_over();
        schedule_hand_over(cx, worker, every);
    });
}
