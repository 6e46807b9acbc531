//! The production queue of the handoff: a bounded `crossbeam-channel`.

use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};

use crate::handoff::{QueueRx, QueueTx};
use crate::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// How long a blocked push waits before it looks at the stop flag again: the bound on
/// how late a stop is noticed by a pump held up by a full queue under
/// [`Policy::Block`](crate::Policy::Block).
const STOP_CHECK: Duration = Duration::from_millis(20);

impl<T: Send> QueueTx<T> for Sender<T> {
    fn try_push(&self, item: T) -> Result<(), T> {
        self.try_send(item).map_err(|err| match err {
            TrySendError::Full(item) | TrySendError::Disconnected(item) => item,
        })
    }

    fn push_unless_stopped(&self, mut item: T, stop: &AtomicBool) -> Result<(), T> {
        loop {
            match self.send_timeout(item, STOP_CHECK) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Disconnected(back)) => return Err(back),
                Err(SendTimeoutError::Timeout(back)) if stop.load(SeqCst) => return Err(back),
                Err(SendTimeoutError::Timeout(back)) => item = back,
            }
        }
    }
}

impl<T: Send> QueueRx<T> for Receiver<T> {
    fn pop(&self) -> Option<T> {
        self.try_recv().ok()
    }
}
