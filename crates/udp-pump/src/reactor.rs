//! Delivery on a `shoal-reactor` loop (feature `reactor`): the pump wakes the loop through
//! its [`Waker`], and the waker's closure drains the queue into a callback.

use std::cell::OnceCell;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use shoal_reactor::{Context, Waker};

use crate::handoff::{Item, Notify};
use crate::packet::Packet;
use crate::pump::{PumpBuilder, UdpPump};

impl Notify for Waker {
    /// [`Waker::wake`]; its error (the loop is gone, or this is a forked child with a
    /// waker made before the fork) leaves nobody to deliver to, so it is ignored: the
    /// packets stay queued and counted in flight.
    fn notify(&self) {
        let _ = self.wake();
    }
}

/// A pump whose packets are delivered to a callback on a reactor's loop thread.
///
/// The handle gives the pump (counters, [`UdpPump::stop`]); the loop keeps the callback
/// until the reactor drops its waker.
#[derive(Debug, Clone)]
pub struct ReactorPump {
    pump: Rc<UdpPump<Waker>>,
}

impl ReactorPump {
    /// The pump.
    pub fn pump(&self) -> &UdpPump<Waker> {
        &self.pump
    }
}

impl PumpBuilder {
    /// Starts a pump on `socket` that wakes the reactor of `cx`; each wake-up drains the
    /// queue into `on_packet` on the loop thread (at most the queue's capacity per
    /// wake-up, plus what arrives during the drain).
    ///
    /// In a forked worker, call this after the fork and after
    /// `Reactor::reset_after_fork`.
    ///
    /// # Errors
    /// What creating the waker or [`spawn`](PumpBuilder::spawn) fails with.
    pub fn spawn_in_reactor(
        self,
        cx: &mut Context,
        socket: OwnedFd,
        mut on_packet: impl FnMut(&mut Context, Item<Packet>) + 'static,
    ) -> io::Result<ReactorPump> {
        // The waker's closure needs the pump, which needs the waker: the closure finds
        // the pump in a cell filled right after the spawn. The loop runs the closure only
        // after this function has returned, so the cell is always full by then.
        let cell: Rc<OnceCell<Rc<UdpPump<Waker>>>> = Rc::new(OnceCell::new());
        let in_loop = Rc::clone(&cell);
        let waker = cx.waker(move |cx| {
            if let Some(pump) = in_loop.get() {
                for item in pump.drain() {
                    on_packet(cx, item);
                }
            }
        })?;
        let pump = Rc::new(self.spawn(socket, waker)?);
        let _ = cell.set(Rc::clone(&pump));
        Ok(ReactorPump { pump })
    }
}
