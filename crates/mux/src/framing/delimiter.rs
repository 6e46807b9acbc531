//! The delimiter rule: frames end at a byte string.

use super::{Found, FrameError, RuleError};

#[derive(Debug, Clone)]
pub(super) struct Delimiter {
    delimiter: Vec<u8>,
    max: usize,
    pub(super) strip_cr: bool,
}

impl Delimiter {
    pub(super) fn new(delimiter: &[u8], max: usize) -> Result<Self, RuleError> {
        if delimiter.is_empty() {
            return Err(RuleError::EmptyDelimiter);
        }
        Ok(Self {
            delimiter: delimiter.to_vec(),
            max,
            strip_cr: false,
        })
    }

    /// The frame plus a delimiter less one byte (a delimiter may be cut in two).
    pub(super) fn limit(&self) -> usize {
        self.max.saturating_add(self.delimiter.len() - 1)
    }

    /// `scanned` start positions of `pending` are known not to begin the delimiter; the
    /// search resumes there and stops after `max + 1` positions, so a long push is not
    /// scanned past the point where the frame is already too long.
    pub(super) fn decode(
        &self,
        pending: &[u8],
        scanned: &mut usize,
    ) -> Result<Option<Found>, FrameError> {
        let d = &self.delimiter;
        let last_start = pending.len().saturating_sub(d.len() - 1);
        let end = last_start.min(self.max.saturating_add(1));
        let first = d[0];
        let mut at = *scanned;
        let hit = loop {
            if at >= end {
                break None;
            }
            match pending[at..end].iter().position(|&b| b == first) {
                None => {
                    at = end;
                    break None;
                }
                Some(i) => {
                    let i = at + i;
                    if pending[i..].starts_with(d) {
                        break Some(i);
                    }
                    at = i + 1;
                }
            }
        };
        match hit {
            Some(i) => {
                let mut frame_end = i;
                if self.strip_cr && i > 0 && pending[i - 1] == b'\r' {
                    frame_end -= 1;
                }
                Ok(Some(Found {
                    consumed: i + d.len(),
                    frame: 0..frame_end,
                }))
            }
            None if at > self.max => Err(FrameError::TooLong { max: self.max }),
            None => {
                *scanned = at;
                Ok(None)
            }
        }
    }
}
