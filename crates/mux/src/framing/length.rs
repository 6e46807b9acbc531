//! The length-prefix rule: a header with a length field, then that many bytes.

use super::{Found, FrameError, RuleError};

/// Byte order of a length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// Most significant byte first (network order).
    Big,
    /// Least significant byte first.
    Little,
}

/// Parameters of a length-prefixed rule (tokio's `LengthDelimitedCodec` has the same
/// knobs). A frame on the wire is `offset` bytes, the `width`-byte length field, then
/// `field + adjust` more bytes. The frame handed out is the wire frame without its first
/// `skip` bytes.
///
/// `max` bounds the whole wire frame (header included) and is checked after the
/// adjustment, with 128-bit arithmetic, so neither a huge field nor a negative
/// adjustment can overflow (tokio#4815 checked before adjusting). Nothing is reserved
/// for a declared length: memory follows the bytes that really arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthPrefix {
    /// Bytes before the length field.
    pub offset: usize,
    /// Width of the length field: 1, 2, 4 or 8 bytes.
    pub width: u8,
    /// Byte order of the length field.
    pub endian: Endian,
    /// Added to the field's value to get the number of bytes after the field (e.g. `-2`
    /// when a 2-byte field counts itself).
    pub adjust: i64,
    /// Bytes dropped from the start of each frame; at most `offset + width`.
    pub skip: usize,
    /// Largest wire frame, header included.
    pub max: usize,
}

impl LengthPrefix {
    /// A `width`-byte big-endian length field at offset 0 counting the payload that
    /// follows it; frames are the payload (the header is skipped).
    pub fn new(width: u8, max: usize) -> Self {
        Self {
            offset: 0,
            width,
            endian: Endian::Big,
            adjust: 0,
            skip: usize::from(width),
            max,
        }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`RuleError::Width`] unless `width` is 1, 2, 4 or 8;
    /// [`RuleError::SkipBeyondHeader`] if `skip > offset + width`;
    /// [`RuleError::MaxBelowHeader`] if `max < offset + width`.
    pub fn validate(&self) -> Result<(), RuleError> {
        if !matches!(self.width, 1 | 2 | 4 | 8) {
            return Err(RuleError::Width(self.width));
        }
        let header = self
            .offset
            .checked_add(usize::from(self.width))
            .ok_or(RuleError::MaxBelowHeader)?;
        if self.skip > header {
            return Err(RuleError::SkipBeyondHeader);
        }
        if self.max < header {
            return Err(RuleError::MaxBelowHeader);
        }
        Ok(())
    }

    fn header(&self) -> usize {
        self.offset + usize::from(self.width)
    }

    fn field(&self, bytes: &[u8]) -> u64 {
        let mut value = [0u8; 8];
        let w = bytes.len();
        match self.endian {
            Endian::Big => {
                value[8 - w..].copy_from_slice(bytes);
                u64::from_be_bytes(value)
            }
            Endian::Little => {
                value[..w].copy_from_slice(bytes);
                u64::from_le_bytes(value)
            }
        }
    }

    pub(super) fn decode(&self, pending: &[u8]) -> Result<Option<Found>, FrameError> {
        let header = self.header();
        if pending.len() < header {
            return Ok(None);
        }
        let declared = self.field(&pending[self.offset..header]);
        let after = i128::from(declared) + i128::from(self.adjust);
        if after < 0 {
            return Err(FrameError::NegativeLength { declared });
        }
        let total = after + header as i128;
        if total > self.max as i128 {
            return Err(FrameError::TooLong { max: self.max });
        }
        // Fits in usize: total <= max.
        let total = total as usize;
        if pending.len() < total {
            return Ok(None);
        }
        Ok(Some(Found {
            consumed: total,
            frame: self.skip..total,
        }))
    }
}
