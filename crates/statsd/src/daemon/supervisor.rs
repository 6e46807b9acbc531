//! The supervisor: one process per generation, with no thread of its own. It owns the
//! bound sockets and the shared-memory areas, starts the workers (`fork` + `exec` of
//! this binary in the worker role) and restarts one that dies (each watched through a
//! `pidfd` in the reactor), empties the areas and flushes on a reactor timer, serves the
//! admin interface, and hands everything to the next generation on `reload`/SIGHUP.

use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags, Signal};
use shoal_fdpass::{FdPasser, Outgoing};
use shoal_reactor::{Context, Interest, Reactor, Token};
use shoal_statsd::area::Area;
use shoal_statsd::cli::Config;
use shoal_statsd::flush::{FlushConfig, write_flush};
use shoal_statsd::metrics::{Counts, Metrics};

use super::admin_server::{self, AdminServer};
use super::sink::{Output, SinkStats};
use super::{inherit, signals, unix_now};

/// Bytes of each worker's hand-over area.
pub(crate) const AREA_CAPACITY: usize = 4 << 20;
/// How long a stop waits for the workers' final hand-over before killing them.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// The role variable, and its values.
pub(crate) const ROLE_VAR: &str = "SHOAL_STATSD_ROLE";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// SIGTERM: waiting for the workers, then one last flush.
    Stopping,
    /// Reloaded: the next generation flushes; waiting for our workers, then exit.
    HandedOver,
}

struct WorkerProc {
    child: Child,
    pidfd: Token,
}

/// Everything a generation owns.
pub(crate) struct Supervisor {
    config: Config,
    exe: PathBuf,
    generation: u64,
    /// Which half of `areas` our workers use.
    half: usize,
    udp: OwnedFd,
    udp_addr: SocketAddr,
    /// Our copy of the admin listener, to hand over (the reactor holds another).
    admin: OwnedFd,
    admin_addr: SocketAddr,
    areas: Vec<Area>,
    workers: Vec<Option<WorkerProc>>,
    phase: Phase,
    pub(crate) store: Metrics,
    pub(crate) totals: Counts,
    started: u64,
    last_msg_seen: u64,
    last_flush: Option<u64>,
    pub(crate) health_up: bool,
    restarts: u64,
    output: Output,
    sink_stats: SinkStats,
    areas_recovered: u64,
}

type Shared = Rc<RefCell<Supervisor>>;

/// What a reload hands over besides descriptors, as `key=value;…` text.
struct Carried {
    generation: u64,
    half: usize,
    started: u64,
    last_msg_seen: u64,
    last_flush: Option<u64>,
    health_up: bool,
    restarts: u64,
    totals: Counts,
}

impl Carried {
    fn encode(&self) -> String {
        let t = &self.totals;
        format!(
            "generation={};half={};started={};last_msg={};last_flush={};health={};restarts={};totals={},{},{},{},{}",
            self.generation,
            self.half,
            self.started,
            self.last_msg_seen,
            self.last_flush.unwrap_or(0),
            u8::from(self.health_up),
            self.restarts,
            t.packets_received,
            t.metrics_received,
            t.bad_lines_seen,
            t.metrics_dropped,
            t.samples_dropped
        )
    }

    fn decode(text: &str) -> Option<Carried> {
        let mut carried = Carried {
            generation: 0,
            half: 0,
            started: 0,
            last_msg_seen: 0,
            last_flush: None,
            health_up: true,
            restarts: 0,
            totals: Counts::default(),
        };
        for field in text.split(';') {
            let (key, value) = field.split_once('=')?;
            match key {
                "generation" => carried.generation = value.parse().ok()?,
                "half" => carried.half = value.parse::<usize>().ok()? % 2,
                "started" => carried.started = value.parse().ok()?,
                "last_msg" => carried.last_msg_seen = value.parse().ok()?,
                "last_flush" => carried.last_flush = value.parse().ok().filter(|t| *t > 0),
                "health" => carried.health_up = value == "1",
                "restarts" => carried.restarts = value.parse().ok()?,
                "totals" => {
                    let v: Vec<u64> = value
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .ok()?;
                    let [a, b, c, d, e] = v[..] else { return None };
                    carried.totals = Counts {
                        packets_received: a,
                        metrics_received: b,
                        bad_lines_seen: c,
                        metrics_dropped: d,
                        samples_dropped: e,
                    };
                }
                _ => {}
            }
        }
        Some(carried)
    }
}

/// A fresh start: bind, make the areas, run.
pub(crate) fn run_fresh(config: Config) -> ExitCode {
    let setup = || -> io::Result<Supervisor> {
        let udp = shoal_udp_pump::bind_shared(config.udp)?;
        let _ = shoal_udp_pump::request_recv_buffer_size(&udp, config.rcvbuf);
        let udp_addr = shoal_udp_pump::local_addr(&udp)?;
        let admin = OwnedFd::from(TcpListener::bind(config.admin)?);
        let admin_addr = local_tcp_addr(&admin)?;
        let areas = (0..config.workers)
            .map(|i| Area::create(&format!("shoal-statsd-area-{i}"), AREA_CAPACITY))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io::Error::other)?;
        let now = unix_now();
        Ok(Supervisor::new(
            config.clone(),
            udp,
            udp_addr,
            admin,
            admin_addr,
            areas,
            Metrics::new(config.limits),
            Carried {
                generation: 1,
                half: 0,
                started: now,
                last_msg_seen: now,
                last_flush: None,
                health_up: true,
                restarts: 0,
                totals: Counts::default(),
            },
        ))
    };
    match setup() {
        Ok(sup) => run(sup, None),
        Err(err) => {
            eprintln!("shoal-statsd: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The next generation: receive the sockets, areas and state from the previous one,
/// start our workers, tell it we are ready, run.
pub(crate) fn run_reloaded(config: Config) -> ExitCode {
    let setup = || -> io::Result<(Supervisor, FdPasser)> {
        let mut fds = inherit::take_all()?;
        let socket = fds
            .remove("passer")
            .ok_or_else(|| io::Error::other("no inherited passer descriptor"))?;
        let mut passer = FdPasser::from_socket(socket, &shoal_fdpass::Options::default())
            .map_err(io::Error::other)?;
        let message = passer.recv().map_err(io::Error::other)?;
        let text = String::from_utf8_lossy(&message.payload).into_owned();
        let carried = Carried::decode(&text)
            .ok_or_else(|| io::Error::other(format!("bad hand-over payload {text:?}")))?;
        let mut fds = message.fds.into_iter();
        let mut next = |what: &str| {
            fds.next()
                .ok_or_else(|| io::Error::other(format!("hand-over without the {what}")))
        };
        let udp = next("udp socket")?;
        let admin = next("admin listener")?;
        let state = Area::from_fd(next("state area")?).map_err(io::Error::other)?;
        let areas = fds
            .map(Area::from_fd)
            .collect::<Result<Vec<_>, _>>()
            .map_err(io::Error::other)?;
        if areas.len() < 2 * config.workers {
            return Err(io::Error::other("hand-over with too few areas"));
        }
        let mut store = Metrics::new(config.limits);
        state.collect(&mut store).map_err(io::Error::other)?;
        let udp_addr = shoal_udp_pump::local_addr(&udp)?;
        let admin_addr = local_tcp_addr(&admin)?;
        let sup = Supervisor::new(
            config, udp, udp_addr, admin, admin_addr, areas, store, carried,
        );
        Ok((sup, passer))
    };
    match setup() {
        Ok((sup, passer)) => run(sup, Some(passer)),
        Err(err) => {
            eprintln!("shoal-statsd (next generation): {err}");
            ExitCode::FAILURE
        }
    }
}

fn local_tcp_addr(fd: &OwnedFd) -> io::Result<SocketAddr> {
    let listener = TcpListener::from(fd.try_clone()?);
    listener.local_addr()
}

impl Supervisor {
    #[allow(clippy::too_many_arguments)]
    fn new(
        config: Config,
        udp: OwnedFd,
        udp_addr: SocketAddr,
        admin: OwnedFd,
        admin_addr: SocketAddr,
        areas: Vec<Area>,
        store: Metrics,
        carried: Carried,
    ) -> Supervisor {
        let workers = (0..config.workers).map(|_| None).collect();
        let output = Output::new(&config.sink);
        Supervisor {
            // Read now, at start: after the file is replaced (an upgrade), the link reads
            // "PATH (deleted)". Workers and the next generation exec this path, so a
            // reload starts the new binary.
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
            generation: carried.generation,
            half: carried.half,
            udp,
            udp_addr,
            admin,
            admin_addr,
            areas,
            workers,
            phase: Phase::Running,
            store,
            totals: carried.totals,
            started: carried.started,
            last_msg_seen: carried.last_msg_seen,
            last_flush: carried.last_flush,
            health_up: carried.health_up,
            restarts: carried.restarts,
            output,
            sink_stats: SinkStats::default(),
            areas_recovered: 0,
            config,
        }
    }

    fn our_area(&self, slot: usize) -> usize {
        if self.areas.len() >= 2 * self.config.workers {
            self.half * self.config.workers + slot
        } else {
            slot
        }
    }

    /// Empties every area (ours and the previous generation's) into the store.
    pub(crate) fn collect(&mut self) {
        let before = self.store.counts.packets_received;
        for area in &self.areas {
            match area.collect(&mut self.store) {
                Ok(c) if c.recovered || c.damaged => self.areas_recovered += 1,
                Ok(_) => {}
                Err(err) => eprintln!("shoal-statsd: collecting an area: {err}"),
            }
        }
        if self.store.counts.packets_received > before {
            self.last_msg_seen = unix_now();
        }
    }

    fn flush(&mut self, cx: &mut Context) {
        self.collect();
        let now = unix_now();
        let lag = self
            .last_flush
            .map(|last| now as f64 - last as f64 - self.config.flush_interval_ms as f64 / 1000.0);
        self.last_flush = Some(now);
        let flush_config = FlushConfig {
            interval_ms: self.config.flush_interval_ms,
            percentiles: self.config.percentiles.clone(),
        };
        let mut text = String::new();
        write_flush(&mut text, &self.store, now, lag, &flush_config);
        self.totals.add(&self.store.counts);
        self.store.reset_interval();
        self.output.write(cx, text, now, &mut self.sink_stats);
    }

    /// The admin `stats` lines beyond the metrics' own.
    pub(crate) fn extra_stats(&self) -> Vec<(String, String)> {
        let running = self.workers.iter().flatten().count();
        // The socket's `drops` in /proc/net/udp: datagrams the kernel discarded because
        // the receive buffer was full (since the socket was made, all generations).
        let kernel_drops = shoal_udp_pump::socket_inode(&self.udp)
            .and_then(shoal_udp_pump::kernel_drops)
            .ok()
            .flatten()
            .unwrap_or(0);
        vec![
            ("udp.kernel_drops".into(), kernel_drops.to_string()),
            ("workers.running".into(), running.to_string()),
            ("workers.restarts".into(), self.restarts.to_string()),
            ("supervisor.pid".into(), std::process::id().to_string()),
            ("supervisor.generation".into(), self.generation.to_string()),
            ("areas.recovered".into(), self.areas_recovered.to_string()),
            (
                "sink.last_flush".into(),
                self.sink_stats.last_flush.to_string(),
            ),
            (
                "sink.last_exception".into(),
                self.sink_stats.last_exception.to_string(),
            ),
            (
                "sink.dropped_bytes".into(),
                self.sink_stats.dropped_bytes.to_string(),
            ),
        ]
    }

    pub(crate) fn uptime(&self) -> u64 {
        unix_now().saturating_sub(self.started)
    }

    pub(crate) fn since_last_msg(&self) -> u64 {
        unix_now().saturating_sub(self.last_msg_seen)
    }

    /// Whether the next generation has taken over (our listener must close).
    pub(crate) fn handed_over(&self) -> bool {
        self.phase == Phase::HandedOver
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }
}

/// Runs a generation until it stops or has handed over.
fn run(sup: Supervisor, previous: Option<FdPasser>) -> ExitCode {
    let result = (|| -> io::Result<()> {
        let mut reactor = Reactor::new()?;
        let shared: Shared = Rc::new(RefCell::new(sup));
        let listener = shared.borrow().admin.try_clone()?;
        let admin = Rc::new(RefCell::new(AdminServer::new(listener)?));
        admin_server::watch(&admin, &shared, &mut reactor)?;
        let workers = shared.borrow().config.workers;
        for slot in 0..workers {
            start_worker(&shared, &mut reactor, slot)?;
        }
        let on_hup = Rc::clone(&shared);
        signals::watch(&mut reactor, &[signal_hook::consts::SIGHUP], move |cx| {
            reload(&on_hup, cx);
        })?;
        let on_term = Rc::clone(&shared);
        signals::watch(
            &mut reactor,
            &[signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT],
            move |cx| stop(&on_term, cx, Phase::Stopping),
        )?;
        let interval = Duration::from_millis(shared.borrow().config.flush_interval_ms);
        schedule_flush(&mut reactor, Rc::clone(&shared), Instant::now() + interval);
        {
            let sup = shared.borrow();
            eprintln!(
                "shoal-statsd: udp {} admin {} pid {} generation {} workers {}",
                sup.udp_addr,
                sup.admin_addr,
                std::process::id(),
                sup.generation,
                sup.config.workers
            );
        }
        if let Some(mut previous) = previous {
            // Our workers read the socket now: the previous generation may stop its own.
            let ready = Outgoing::new(Vec::new(), b"ready".to_vec()).map_err(io::Error::other)?;
            previous.send(ready).map_err(io::Error::other)?;
        }
        // The admin mux is drained by its fd's closure in the reactor (admin_server::watch);
        // events it has queued are not on that fd, so they are drained here before the
        // next wait.
        while !reactor.is_stopping() {
            reactor.run_once(None)?;
            let mut admin = admin.borrow_mut();
            if let Some(err) = admin.take_failure() {
                return Err(err);
            }
            if admin.has_events() {
                admin.drain(&shared, &mut reactor)?;
            }
            if shared.borrow().handed_over() {
                admin.stop_listening();
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("shoal-statsd: {err}");
            ExitCode::FAILURE
        }
    }
}

fn schedule_flush(cx: &mut Context, shared: Shared, deadline: Instant) {
    let after = deadline.saturating_duration_since(Instant::now());
    cx.add_timer(after, move |cx| {
        let interval = {
            let mut sup = shared.borrow_mut();
            if sup.phase != Phase::Running {
                return;
            }
            sup.flush(cx);
            Duration::from_millis(sup.config.flush_interval_ms)
        };
        // Catch up without a burst if the loop was held up for longer than an interval.
        let next = (deadline + interval).max(Instant::now());
        schedule_flush(cx, shared, next);
    });
}

/// Spawns this binary in the worker role for `slot`, and watches it with a pidfd.
fn start_worker(shared: &Shared, cx: &mut Context, slot: usize) -> io::Result<()> {
    let child = {
        let sup = shared.borrow();
        let area = &sup.areas[sup.our_area(slot)];
        let area_fd = area
            .fd()
            .ok_or_else(|| io::Error::other("an area without a memfd"))?;
        let mut command = Command::new(&sup.exe);
        command
            .args(sup.config.to_args())
            .env(ROLE_VAR, "worker")
            .env("SHOAL_STATSD_PARENT", std::process::id().to_string());
        let copies = inherit::pass(&mut command, &[("udp", sup.udp.as_fd()), ("area", area_fd)])?;
        let child = command.spawn()?;
        drop(copies);
        child
    };
    let pid = Pid::from_raw(child.id() as i32).ok_or_else(|| io::Error::other("pid 0"))?;
    let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty())?;
    let watcher = Rc::clone(shared);
    let token = cx.register_fd(pidfd, Interest::READ, move |cx, _, _| {
        worker_exited(&watcher, cx, slot);
    })?;
    shared.borrow_mut().workers[slot] = Some(WorkerProc {
        child,
        pidfd: token,
    });
    Ok(())
}

/// A worker's pidfd became readable: reap it; restart it while running; finish a stop
/// once the last one is gone.
fn worker_exited(shared: &Shared, cx: &mut Context, slot: usize) {
    let phase = {
        let mut sup = shared.borrow_mut();
        let Some(mut worker) = sup.workers[slot].take() else {
            return;
        };
        cx.close(worker.pidfd, "worker exited");
        let status = worker.child.wait();
        if sup.phase == Phase::Running {
            eprintln!(
                "shoal-statsd: worker {slot} (pid {}) exited ({}); restarting it",
                worker.child.id(),
                status.map_or_else(|e| e.to_string(), |s| s.to_string())
            );
            sup.restarts += 1;
        }
        sup.phase
    };
    match phase {
        Phase::Running => {
            if let Err(err) = start_worker(shared, cx, slot) {
                eprintln!("shoal-statsd: restarting worker {slot}: {err}");
            }
        }
        Phase::Stopping | Phase::HandedOver => {
            if shared.borrow().workers.iter().all(Option::is_none) {
                finish(shared, cx);
            }
        }
    }
}

/// Stops the workers (SIGTERM: they hand over and exit); `finish` runs when the last
/// one is gone, or after [`STOP_GRACE`].
fn stop(shared: &Shared, cx: &mut Context, phase: Phase) {
    let pids: Vec<u32> = {
        let mut sup = shared.borrow_mut();
        if sup.phase != Phase::Running {
            return;
        }
        sup.phase = phase;
        sup.workers.iter().flatten().map(|w| w.child.id()).collect()
    };
    if pids.is_empty() {
        finish(shared, cx);
        return;
    }
    for pid in &pids {
        if let Some(pid) = Pid::from_raw(*pid as i32) {
            let _ = rustix::process::kill_process(pid, Signal::TERM);
        }
    }
    let late = Rc::clone(shared);
    cx.add_timer(STOP_GRACE, move |_| {
        let stuck: Vec<u32> = late
            .borrow()
            .workers
            .iter()
            .flatten()
            .map(|w| w.child.id())
            .collect();
        for pid in stuck {
            if let Some(pid) = Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
    });
}

/// The last step of a stop: one final flush (not after a hand-over), then leave the loop.
fn finish(shared: &Shared, cx: &mut Context) {
    let mut sup = shared.borrow_mut();
    if sup.phase == Phase::Stopping {
        sup.flush(cx);
    }
    cx.stop();
}

/// `reload`/SIGHUP: start the next generation and hand it the sockets, the areas and
/// the store; once it says it is ready (its workers read the socket), stop ours.
pub(crate) fn reload(shared: &Shared, cx: &mut Context) {
    if shared.borrow().phase != Phase::Running {
        return;
    }
    match hand_over(shared) {
        Ok(()) => stop(shared, cx, Phase::HandedOver),
        Err(err) => eprintln!("shoal-statsd: reload failed, this generation goes on: {err}"),
    }
}

fn hand_over(shared: &Shared) -> io::Result<()> {
    let mut sup = shared.borrow_mut();
    let workers = sup.config.workers;
    while sup.areas.len() < 2 * workers {
        let i = sup.areas.len();
        let area = Area::create(&format!("shoal-statsd-area-{i}"), AREA_CAPACITY)
            .map_err(io::Error::other)?;
        sup.areas.push(area);
    }
    // The store: everything collected so far, flushed by the next generation.
    sup.collect();
    let mut store = sup.store.clone();
    let mut records = Vec::new();
    shoal_statsd::wire::encode_some(&mut store, usize::MAX, &mut records);
    let state = Area::create("shoal-statsd-state", records.len() + 64).map_err(io::Error::other)?;
    let mut store = sup.store.clone();
    state.hand_over(&mut store).map_err(io::Error::other)?;
    if !store.is_empty() {
        return Err(io::Error::other("the store did not fit its hand-over area"));
    }
    let carried = Carried {
        generation: sup.generation + 1,
        half: 1 - sup.half % 2,
        started: sup.started,
        last_msg_seen: sup.last_msg_seen,
        last_flush: sup.last_flush,
        health_up: sup.health_up,
        restarts: sup.restarts,
        totals: sup.totals,
    };
    let (mut ours, theirs) = FdPasser::socketpair().map_err(io::Error::other)?;
    let mut command = Command::new(&sup.exe);
    command
        .args(sup.config.to_args())
        .env(ROLE_VAR, "generation");
    let copies = inherit::pass(&mut command, &[("passer", theirs.as_fd())])?;
    let mut child = command.spawn()?;
    drop(copies);
    drop(theirs);
    let mut fds = vec![
        sup.udp.try_clone()?,
        sup.admin.try_clone()?,
        state
            .fd()
            .ok_or_else(|| io::Error::other("state area without memfd"))?
            .try_clone_to_owned()?,
    ];
    for area in &sup.areas {
        fds.push(
            area.fd()
                .ok_or_else(|| io::Error::other("area without memfd"))?
                .try_clone_to_owned()?,
        );
    }
    let message = Outgoing::new(fds, carried.encode().into_bytes()).map_err(io::Error::other)?;
    let sent = ours.send(message).map_err(io::Error::other);
    // Blocks until the next generation has started its workers (or died): meanwhile our
    // workers go on receiving and handing over.
    let ready = sent.and_then(|()| ours.recv().map_err(io::Error::other));
    match ready {
        Ok(reply) if reply.payload == b"ready" => {
            // The next generation is not ours to wait for: it outlives us.
            drop(child);
            sup.store = Metrics::new(sup.config.limits);
            Ok(())
        }
        other => {
            let _ = child.kill();
            let _ = child.wait();
            Err(io::Error::other(format!(
                "the next generation did not start: {}",
                other.map_or_else(|e| e.to_string(), |_| "unexpected reply".into())
            )))
        }
    }
}
