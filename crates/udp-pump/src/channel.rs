//! The production queue of the handoff: a bounded `crossbeam-channel`.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::handoff::{QueueRx, QueueTx};

/// The first pause of a producer that finds the queue full under
/// [`Policy::Block`](crate::Policy::Block); it doubles per look up to [`MAX_ROOM_WAIT`].
const MIN_ROOM_WAIT: Duration = Duration::from_micros(50);

/// The longest pause between two looks at a full queue: the bound on how late room (or
/// a stop) is noticed.
const MAX_ROOM_WAIT: Duration = Duration::from_millis(5);

impl<T: Send> QueueTx<T> for Sender<T> {
    fn try_push(&self, item: T) -> Result<(), T> {
        self.try_send(item).map_err(|err| match err {
            TrySendError::Full(item) | TrySendError::Disconnected(item) => item,
        })
    }

    fn wait_for_room(&self, round: u32) {
        let pause = MIN_ROOM_WAIT.saturating_mul(1 << round.min(16));
        std::thread::sleep(pause.min(MAX_ROOM_WAIT));
    }
}

impl<T: Send> QueueRx<T> for Receiver<T> {
    fn pop(&self) -> Option<T> {
        self.try_recv().ok()
    }
}
