//! Delivery on a `shoal-reactor` loop (feature `reactor`): the pump wakes the loop through
//! its [`Waker`], and the waker's closure drains the queue into a callback.

use std::cell::OnceCell;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::{Rc, Weak};

use shoal_reactor::{Context, Waker};

use crate::handoff::{Item, Notify};
use crate::packet::Packet;
use crate::pump::{PumpBuilder, UdpPump};

impl Notify for Waker {
    /// [`Waker::wake`]; its error (the loop is gone, the waker was removed, or this is a
    /// forked child with a waker made before the fork) leaves nobody to deliver to, so
    /// it is ignored: the packets stay queued and counted in flight.
    fn notify(&self) {
        let _ = self.wake();
    }
}

/// A pump whose packets are delivered to a callback on a reactor's loop thread.
///
/// The handle owns the pump; the loop's waker closure only refers to it (weakly).
/// [`stop`](Self::stop) is the way to end it: the thread is stopped and joined and the
/// waker taken out of the loop at once. Dropping the last clone of the handle without
/// `stop` stops and joins the thread too (the pump is dropped), but a drop has no
/// [`Context`]: the waker's eventfd stays registered until the loop's next iteration,
/// whose wake-up (the thread's last one) finds the pump gone and removes the waker. A
/// reactor that never runs again keeps that one eventfd until it is dropped.
#[derive(Debug, Clone)]
pub struct ReactorPump {
    pump: Rc<UdpPump<Waker>>,
}

impl ReactorPump {
    /// The pump.
    pub fn pump(&self) -> &UdpPump<Waker> {
        &self.pump
    }

    /// Stops and joins the receive thread ([`UdpPump::stop`]), then takes the pump's
    /// waker out of the loop of `cx` ([`Context::remove_waker`]): the callback is
    /// dropped and is not called again, even for packets queued before the stop (they
    /// stay available to [`UdpPump::drain`] through [`pump`](Self::pump)). The
    /// socket is closed when the last handle is dropped. Stopping twice does nothing.
    ///
    /// `cx` must be the context the pump was spawned in (another loop's is left alone).
    ///
    /// # Errors
    /// As [`UdpPump::stop`] (the thread panicked); the waker is removed all the same.
    pub fn stop(&self, cx: &mut Context) -> io::Result<()> {
        let stopped = self.pump.stop();
        cx.remove_waker(self.pump.notifier());
        stopped
    }
}

/// What the waker's closure holds: the pump, weakly (the handles own it), and the
/// waker, to remove itself once the pump is gone.
type LoopSide = (Weak<UdpPump<Waker>>, Waker);

impl PumpBuilder {
    /// Starts a pump on `socket` that wakes the reactor of `cx`; each wake-up drains the
    /// queue into `on_packet` on the loop thread (at most the queue's capacity per
    /// wake-up, plus what arrives during the drain). End it with
    /// [`ReactorPump::stop`].
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
        let cell: Rc<OnceCell<LoopSide>> = Rc::new(OnceCell::new());
        let in_loop = Rc::clone(&cell);
        let waker = cx.waker(move |cx| {
            let Some((pump, waker)) = in_loop.get() else {
                return;
            };
            match pump.upgrade() {
                Some(pump) => {
                    for item in pump.drain() {
                        on_packet(cx, item);
                    }
                }
                // Every handle was dropped (the thread is joined): this wake-up was the
                // thread's last; the waker leaves the loop, dropping this closure.
                None => {
                    cx.remove_waker(waker);
                }
            }
        })?;
        let pump = match self.spawn(socket, waker.clone()) {
            Ok(pump) => Rc::new(pump),
            Err(err) => {
                cx.remove_waker(&waker);
                return Err(err);
            }
        };
        let _ = cell.set((Rc::downgrade(&pump), waker));
        Ok(ReactorPump { pump })
    }
}
