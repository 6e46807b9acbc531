//! Framing rules (IO::Buffered): cut a byte stream into frames, without sockets.
//!
//! A [`Rule`] says where a frame ends; a [`Framer`] applies one to a stream: append what
//! arrives with [`Framer::push`] (or read straight into it with [`Framer::fill_with`]),
//! take frames with [`Framer::next_frame`] until it returns `Ok(None)`, and call
//! [`Framer::finish`] at end of stream for what is left.
//!
//! ```
//! use shoal_mux::framing::{Framer, Rule};
//!
//! let mut framer = Framer::new(Rule::delimiter(b"\n", 1024)?.strip_cr(true));
//! framer.push(b"GET\r\nPU");
//! assert_eq!(framer.next_frame()?, Some(b"GET".to_vec()));
//! assert_eq!(framer.next_frame()?, None);
//! framer.push(b"T\npartial");
//! assert_eq!(framer.next_frame()?, Some(b"PUT".to_vec()));
//! assert_eq!(framer.finish()?, Some(b"partial".to_vec()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every rule has a maximum frame size. Once [`Framer::next_frame`] has returned
//! `Ok(None)`, the framer holds at most [`Framer::limit`] bytes: a frame that would be
//! larger is reported as [`FrameError::TooLong`] as soon as that is certain, not after
//! buffering it. Errors are sticky: the stream is out of sync, so every later call
//! returns the same error.
//!
//! Every rule is linear in the input: each rule remembers where its previous search
//! stopped and never looks at a byte twice while looking for the end of one frame (the
//! regex rule runs one capture pass over each frame it found). Every rule yields the same
//! frames however the input is chunked (property-tested, 1-byte chunks included).

mod delimiter;
mod error;
mod http;
mod length;
#[cfg(feature = "regex")]
mod regex;

use std::ops::Range;

pub use error::{FrameError, HttpError, RuleError};
pub use length::{Endian, LengthPrefix};

/// A framing rule: where frames end, and the largest frame accepted.
///
/// Rules are cheap to clone (a compiled regex is shared). Build one with the
/// constructors; they validate the parameters, so a [`Framer`] never loops on a rule
/// that cannot make progress (the seed's `FixedSize(0)` and empty-capture regex did).
#[derive(Debug, Clone)]
pub struct Rule {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Delimiter(delimiter::Delimiter),
    #[cfg(feature = "regex")]
    Regex(regex::RegexRule),
    Length(LengthPrefix),
    Fixed(usize),
    Http(usize),
    Last(usize),
}

impl Rule {
    /// Frames end at `delimiter` (a byte string); the frame is what precedes it, the
    /// delimiter is consumed and dropped. `max` bounds the bytes before the delimiter
    /// (counted before [`Rule::strip_cr`] removes a `\r`).
    ///
    /// # Errors
    /// [`RuleError::EmptyDelimiter`] for an empty `delimiter`.
    pub fn delimiter(delimiter: &[u8], max: usize) -> Result<Self, RuleError> {
        Ok(Self {
            kind: Kind::Delimiter(delimiter::Delimiter::new(delimiter, max)?),
        })
    }

    /// For a [`Rule::delimiter`] rule, also removes one `\r` that ends a frame (so
    /// `"a\r\n"` split on `"\n"` yields `"a"`). Other rules are returned unchanged.
    #[must_use]
    pub fn strip_cr(mut self, strip: bool) -> Self {
        if let Kind::Delimiter(d) = &mut self.kind {
            d.strip_cr = strip;
        }
        self
    }

    /// Frames end where a match of `pattern` ends (the earliest such position); the
    /// frame is capture group 1 of the match (the whole match for a pattern without
    /// groups), and everything up to the end of the match is consumed, as the seed's
    /// `s/$re//` did. Every frame consumes at least one byte, so a pattern that matches
    /// the empty string cannot stall the stream. `max` bounds the consumed bytes.
    ///
    /// Look-ahead assertions (`$`, `\z`, `\b`, `\B`) are rejected: on a stream, whether
    /// they hold depends on bytes that have not arrived yet. `^` and `\A` match at the
    /// start of each frame.
    ///
    /// # Errors
    /// [`RuleError::Regex`] for a pattern that does not compile,
    /// [`RuleError::LookAhead`] for a look-ahead assertion.
    #[cfg(feature = "regex")]
    pub fn regex(pattern: &str, max: usize) -> Result<Self, RuleError> {
        Ok(Self {
            kind: Kind::Regex(regex::RegexRule::new(pattern, max)?),
        })
    }

    /// Frames start with a length field: see [`LengthPrefix`].
    ///
    /// # Errors
    /// See [`LengthPrefix::validate`].
    pub fn length_prefix(prefix: LengthPrefix) -> Result<Self, RuleError> {
        prefix.validate()?;
        Ok(Self {
            kind: Kind::Length(prefix),
        })
    }

    /// Frames of exactly `size` bytes.
    ///
    /// # Errors
    /// [`RuleError::ZeroSize`] for `size == 0` (the seed looped forever on it).
    pub fn fixed(size: usize) -> Result<Self, RuleError> {
        if size == 0 {
            return Err(RuleError::ZeroSize);
        }
        Ok(Self {
            kind: Kind::Fixed(size),
        })
    }

    /// HTTP/1.x messages: the header block up to the empty line, then a body of exactly
    /// `Content-Length` bytes (none without the header). The frame is the whole message.
    /// `max` bounds the message (header and body). Anything ambiguous is an error, never
    /// a guess: see [`HttpError`].
    pub fn http(max: usize) -> Self {
        Self {
            kind: Kind::Http(max),
        }
    }

    /// No frame until end of stream; then everything as one frame (from
    /// [`Framer::finish`]). `max` bounds the stream.
    pub fn last(max: usize) -> Self {
        Self {
            kind: Kind::Last(max),
        }
    }

    fn decoder(&self) -> Decoder {
        match &self.kind {
            Kind::Delimiter(d) => Decoder::Delimiter(d.clone(), 0),
            #[cfg(feature = "regex")]
            Kind::Regex(r) => Decoder::Regex(Box::new(r.scanner())),
            Kind::Length(p) => Decoder::Length(*p),
            Kind::Fixed(n) => Decoder::Fixed(*n),
            Kind::Http(max) => Decoder::Http(http::HttpScan::new(*max)),
            Kind::Last(max) => Decoder::Last(*max),
        }
    }
}

/// A rule with its scan state: what the previous search already ruled out.
#[derive(Debug)]
enum Decoder {
    /// The rule, and how many start positions of the pending bytes are known not to
    /// begin the delimiter.
    Delimiter(delimiter::Delimiter, usize),
    /// Boxed: the DFA cache is large and most framers use another rule.
    #[cfg(feature = "regex")]
    Regex(Box<regex::RegexScan>),
    Length(LengthPrefix),
    Fixed(usize),
    Http(http::HttpScan),
    Last(usize),
}

/// One frame found at the start of the pending bytes.
#[derive(Debug, PartialEq, Eq)]
struct Found {
    /// Bytes to drop from the pending bytes.
    consumed: usize,
    /// Where the frame is inside them.
    frame: Range<usize>,
}

impl Decoder {
    fn decode(&mut self, pending: &[u8]) -> Result<Option<Found>, FrameError> {
        match self {
            Self::Delimiter(d, scanned) => d.decode(pending, scanned),
            #[cfg(feature = "regex")]
            Self::Regex(r) => r.decode(pending),
            Self::Length(p) => p.decode(pending),
            Self::Fixed(n) => Ok((pending.len() >= *n).then_some(Found {
                consumed: *n,
                frame: 0..*n,
            })),
            Self::Http(h) => h.decode(pending),
            Self::Last(max) => match pending.len() > *max {
                true => Err(FrameError::TooLong { max: *max }),
                false => Ok(None),
            },
        }
    }

    /// Forgets the scan state: the next frame starts here.
    fn restart(&mut self) {
        match self {
            Self::Delimiter(_, scanned) => *scanned = 0,
            #[cfg(feature = "regex")]
            Self::Regex(r) => r.restart(),
            Self::Http(h) => h.restart(),
            Self::Length(_) | Self::Fixed(_) | Self::Last(_) => {}
        }
    }

    fn limit(&self) -> usize {
        match self {
            Self::Delimiter(d, _) => d.limit(),
            #[cfg(feature = "regex")]
            Self::Regex(r) => r.limit(),
            Self::Length(p) => p.max,
            Self::Fixed(n) => *n,
            Self::Http(h) => h.max(),
            Self::Last(max) => *max,
        }
    }
}

/// A byte stream being cut into frames by a [`Rule`].
#[derive(Debug)]
pub struct Framer {
    rule: Rule,
    decoder: Decoder,
    /// Storage: `buf[start..end]` are the pending bytes. Bytes past `end` are
    /// initialised scratch space kept for the next read, so reading in place does not
    /// zero the read size again on every call.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Set by the first error; the stream is out of sync after it.
    failed: Option<FrameError>,
}

impl Framer {
    /// A framer with nothing buffered.
    pub fn new(rule: Rule) -> Self {
        Self {
            decoder: rule.decoder(),
            rule,
            buf: Vec::new(),
            start: 0,
            end: 0,
            failed: None,
        }
    }

    /// The rule in use.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// Replaces the rule. Buffered bytes are kept and framed by the new rule from the
    /// start of the pending data; a sticky error is cleared.
    pub fn set_rule(&mut self, rule: Rule) {
        self.decoder = rule.decoder();
        self.rule = rule;
        self.failed = None;
    }

    /// Bytes buffered and not yet returned in a frame.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The most bytes this framer holds after [`Framer::next_frame`] returned
    /// `Ok(None)`: the rule's maximum frame plus what it needs to see the frame end (a
    /// delimiter less one byte). A caller that pushes at most `n` bytes at a time never
    /// holds more than `limit() + n`.
    pub fn limit(&self) -> usize {
        self.decoder.limit()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.compact();
        let new_end = self.end + bytes.len();
        if self.buf.len() < new_end {
            self.buf.resize(new_end, 0);
        }
        self.buf[self.end..new_end].copy_from_slice(bytes);
        self.end = new_end;
    }

    /// Appends up to `max` bytes produced by `read` (a `read(2)` into the given slice,
    /// returning how many bytes it wrote), without an intermediate copy. Returns what
    /// `read` returned; on error nothing is appended.
    ///
    /// # Errors
    /// Whatever `read` returns.
    pub fn fill_with<E>(
        &mut self,
        max: usize,
        read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        self.compact();
        let room = self.end + max;
        if self.buf.len() < room {
            self.buf.resize(room, 0);
        }
        let result = read(&mut self.buf[self.end..room]);
        if let Ok(n) = &result {
            self.end += (*n).min(max);
        }
        result
    }

    /// Drops consumed bytes once they are at least half the buffer, so each byte is
    /// moved a bounded number of times on average.
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.start >= self.end / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// The next complete frame, or `Ok(None)` until more bytes arrive.
    ///
    /// # Errors
    /// A [`FrameError`] when the stream breaks the rule (a frame over the maximum, a bad
    /// length, a malformed HTTP header). The error is sticky.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        self.next_frame_with(<[u8]>::to_vec)
    }

    /// Like [`Framer::next_frame`], but hands the frame to `f` as a borrowed slice (no
    /// allocation) and returns what `f` returns.
    ///
    /// # Errors
    /// As [`Framer::next_frame`].
    pub fn next_frame_with<T>(
        &mut self,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let pending = &self.buf[self.start..self.end];
        match self.decoder.decode(pending) {
            Ok(Some(found)) => {
                let out = f(&pending[found.frame]);
                self.start += found.consumed;
                self.decoder.restart();
                Ok(Some(out))
            }
            Ok(None) => Ok(None),
            Err(err) => {
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }

    /// End of stream: returns the bytes left over (the whole stream for
    /// [`Rule::last`]), or `None` when nothing is left, and empties the framer. Call it
    /// after [`Framer::next_frame`] returned `Ok(None)`.
    ///
    /// # Errors
    /// The sticky error, if any.
    pub fn finish(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        // The `last` rule's bound holds even if `next_frame` was not called after the
        // final push.
        if let Decoder::Last(max) = self.decoder
            && self.buffered() > max
        {
            let err = FrameError::TooLong { max };
            self.failed = Some(err.clone());
            return Err(err);
        }
        let rest = self.take_buffered();
        Ok((!rest.is_empty()).then_some(rest))
    }

    /// Takes every buffered byte out (for a caller that stops framing), emptying the
    /// framer.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf[self.start..self.end].to_vec();
        self.start = 0;
        self.end = 0;
        self.decoder.restart();
        rest
    }
}

#[cfg(test)]
mod tests;
