//! `ReactorPasser`: a passer registered in a `shoal-reactor` loop (feature `reactor`).
//!
//! The passer's socket is registered with [`Context::register_fd`] (as a `dup`, so the
//! passer keeps its own descriptor); readiness drives `on_readable`/`on_writable`, the
//! interest follows [`FdPasser::interest`] (empty interest takes the socket out of the
//! poller, so an unmaskable hang-up cannot spin the loop), and a reactor timer retries a
//! receive paused for a full descriptor table. Callbacks get the loop's [`Context`], so
//! a received descriptor can be registered at once.
//!
//! The handle shares the passer between the loop's closure and your code through an
//! `Rc<RefCell<…>>` that never leaves this module; callbacks run after the borrow is
//! released, so they may use the handle again.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;

use shoal_reactor::{Context, Interest as LoopInterest, Readiness, TimerHandle, Token};

use crate::error::{End, Error};
use crate::message::{Message, Outgoing};
use crate::passer::FdPasser;

type LoopRecv = Box<dyn FnOnce(&mut Context, Result<Message, Error>)>;
type LoopSent = Box<dyn FnOnce(&mut Context)>;
type LoopEnd = Box<dyn FnOnce(&mut Context, End)>;

struct Glue {
    passer: FdPasser,
    token: Option<Token>,
    recvs: VecDeque<LoopRecv>,
    /// (sequence number, callback) in send order.
    sents: VecDeque<(u64, LoopSent)>,
    on_end: Option<LoopEnd>,
    end: Option<End>,
    retry: Option<TimerHandle>,
    /// The interest last given to the loop, to skip redundant `epoll_ctl`s.
    registered: LoopInterest,
}

/// Work collected under the borrow and run after it is released.
enum Due {
    Recv(LoopRecv, Result<Message, Error>),
    Sent(LoopSent),
    End(LoopEnd, End),
}

/// A passer living in a `shoal-reactor` loop. Clones are handles to the same passer.
#[derive(Clone)]
pub struct ReactorPasser {
    glue: Rc<RefCell<Glue>>,
}

impl std::fmt::Debug for ReactorPasser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.glue.try_borrow() {
            Ok(glue) => f
                .debug_struct("ReactorPasser")
                .field("passer", &glue.passer)
                .field("token", &glue.token)
                .finish(),
            Err(_) => f.write_str("ReactorPasser { <in use> }"),
        }
    }
}

impl FdPasser {
    /// `epoll_ctl(ADD)`—registers the passer in a reactor loop.
    ///
    /// # Errors
    ///
    /// `fcntl(F_DUPFD_CLOEXEC)` or `epoll_ctl` failed; the passer is dropped.
    pub fn register(self, cx: &mut Context) -> io::Result<ReactorPasser> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self, 0)?;
        let glue = Rc::new(RefCell::new(Glue {
            passer: self,
            token: None,
            recvs: VecDeque::new(),
            sents: VecDeque::new(),
            on_end: None,
            end: None,
            retry: None,
            registered: LoopInterest::NONE,
        }));
        let in_loop = Rc::clone(&glue);
        let token = cx.register_fd(fd, LoopInterest::NONE, move |cx, _token, ready| {
            drive(&in_loop, cx, Some(ready));
        })?;
        glue.borrow_mut().token = Some(token);
        Ok(ReactorPasser { glue })
    }
}

impl ReactorPasser {
    /// Queues `msg` (see [`FdPasser::push_send`]); `on_sent` runs with the loop's context
    /// once the kernel took it — possibly before this returns.
    ///
    /// # Errors
    ///
    /// As [`FdPasser::push_send`].
    pub fn push_send(
        &self,
        cx: &mut Context,
        msg: impl Into<Outgoing>,
        on_sent: impl FnOnce(&mut Context) + 'static,
    ) -> Result<(), Error> {
        {
            let mut glue = self.glue.borrow_mut();
            let seq = glue.passer.enqueue(msg.into(), None)?;
            glue.sents.push_back((seq, Box::new(on_sent)));
        }
        drive(&self.glue, cx, None);
        Ok(())
    }

    /// Queues `on_recv` for the next message (see [`FdPasser::push_recv`]); it runs with
    /// the loop's context.
    pub fn push_recv(
        &self,
        cx: &mut Context,
        on_recv: impl FnOnce(&mut Context, Result<Message, Error>) + 'static,
    ) {
        {
            let mut glue = self.glue.borrow_mut();
            if glue.passer.is_closed() {
                return;
            }
            glue.passer.push_recv_stored();
            glue.recvs.push_back(Box::new(on_recv));
        }
        drive(&self.glue, cx, None);
    }

    /// Sets the callback told once how the passer ended (runs now if it has ended
    /// already).
    pub fn set_on_end(&self, cx: &mut Context, on_end: impl FnOnce(&mut Context, End) + 'static) {
        self.glue.borrow_mut().on_end = Some(Box::new(on_end));
        drive(&self.glue, cx, None);
    }

    /// `getsockopt(SO_PEERCRED)`—see [`FdPasser::peer_credentials`].
    ///
    /// # Errors
    ///
    /// The failed system call.
    pub fn peer_credentials(&self) -> Result<crate::PeerCredentials, Error> {
        self.glue.borrow().passer.peer_credentials()
    }

    /// True once the passer has ended.
    pub fn is_closed(&self) -> bool {
        self.glue.borrow().passer.is_closed()
    }

    /// Takes the passer out of the loop (deferred close of the registration, as every
    /// reactor close); queued callbacks are dropped. The socket closes when the last
    /// handle is dropped.
    pub fn close(&self, cx: &mut Context) {
        let mut glue = self.glue.borrow_mut();
        if let Some(token) = glue.token.take() {
            cx.close(token, "fdpass: closed");
        }
        if let Some(retry) = glue.retry.take() {
            cx.cancel_timer(retry);
        }
        glue.recvs.clear();
        glue.sents.clear();
    }
}

/// Runs the passer for `ready` (or just settles after a push), updates the loop's
/// interest and retry timer, then runs the callbacks that came due.
fn drive(glue: &Rc<RefCell<Glue>>, cx: &mut Context, ready: Option<Readiness>) {
    let due = {
        let mut g = glue.borrow_mut();
        if let Some(ready) = ready {
            if ready.writable {
                g.passer.on_writable();
            }
            if ready.readable || ready.hangup || ready.error || ready.read_closed {
                g.passer.on_readable();
            }
        }
        settle(&mut g, glue, cx)
    };
    for item in due {
        match item {
            Due::Recv(callback, result) => callback(cx, result),
            Due::Sent(callback) => callback(cx),
            Due::End(callback, end) => callback(cx, end),
        }
    }
}

fn settle(g: &mut Glue, glue: &Rc<RefCell<Glue>>, cx: &mut Context) -> Vec<Due> {
    let mut due = Vec::new();
    let sent = g.passer.sent_total();
    while g.sents.front().is_some_and(|(seq, _)| *seq <= sent) {
        let (_, callback) = g.sents.pop_front().expect("front exists");
        due.push(Due::Sent(callback));
    }
    while let Some(result) = g.passer.take_stored() {
        match g.recvs.pop_front() {
            Some(callback) => due.push(Due::Recv(callback, result)),
            None => drop(result),
        }
    }
    if let Some(end) = g.passer.take_end() {
        g.end = Some(end);
    }
    if g.passer.is_closed() {
        // Queued callbacks will never run; the end is told once, whenever `on_end` is set.
        g.recvs.clear();
        g.sents.clear();
        if let (Some(on_end), Some(end)) = (g.on_end.take(), g.end.take()) {
            due.push(Due::End(on_end, end));
        }
        if let Some(token) = g.token.take() {
            cx.close(token, "fdpass: ended");
        }
        if let Some(retry) = g.retry.take() {
            cx.cancel_timer(retry);
        }
        return due;
    }
    let Some(token) = g.token else {
        return due;
    };
    let want = g.passer.interest();
    let interest = LoopInterest {
        read: want.readable,
        write: want.writable,
    };
    if interest != g.registered && cx.set_interest(token, interest).is_ok() {
        g.registered = interest;
    }
    if let (Some(at), None) = (g.passer.retry_at(), g.retry) {
        let again = Rc::clone(glue);
        let after = at.saturating_duration_since(std::time::Instant::now());
        g.retry = Some(cx.add_timer(after, move |cx| {
            again.borrow_mut().retry = None;
            drive(
                &again,
                cx,
                Some(Readiness {
                    readable: true,
                    ..Readiness::default()
                }),
            );
        }));
    }
    due
}
