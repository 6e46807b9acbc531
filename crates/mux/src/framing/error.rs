//! Errors of the framing rules: building a rule, and a stream that breaks one.

use std::fmt;

/// A rule that cannot be built (its parameters would make a framer loop or overflow).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleError {
    /// A delimiter rule with an empty delimiter.
    EmptyDelimiter,
    /// A fixed-size rule of 0 bytes.
    ZeroSize,
    /// A length field that is not 1, 2, 4 or 8 bytes wide.
    Width(u8),
    /// A length-prefix `skip` beyond the header (offset + width).
    SkipBeyondHeader,
    /// A maximum frame size smaller than the length-prefix header.
    MaxBelowHeader,
    /// A regex that does not compile (the compiler's message).
    Regex(String),
    /// A regex with a look-ahead assertion (the assertion): on a stream its truth
    /// depends on bytes that have not arrived.
    LookAhead(char),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyDelimiter => f.write_str("the delimiter is empty"),
            Self::ZeroSize => f.write_str("a fixed frame size of 0 never makes progress"),
            Self::Width(w) => write!(f, "length field of {w} bytes (1, 2, 4 or 8 allowed)"),
            Self::SkipBeyondHeader => f.write_str("skip goes beyond the length-prefix header"),
            Self::MaxBelowHeader => f.write_str("max frame size is below the header size"),
            Self::Regex(msg) => write!(f, "regex: {msg}"),
            Self::LookAhead(c) => write!(
                f,
                "regex look-ahead assertion `{c}` cannot be decided on a stream"
            ),
        }
    }
}

impl std::error::Error for RuleError {}

/// A stream that breaks its framing rule. The stream is out of sync afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame larger than the rule's maximum (the maximum).
    TooLong {
        /// The rule's maximum frame size.
        max: usize,
    },
    /// A length prefix that is negative after the adjustment (the declared value).
    NegativeLength {
        /// The value of the length field.
        declared: u64,
    },
    /// An HTTP message that is malformed or ambiguous.
    Http(HttpError),
    /// The regex engine gave up (its message); see the `regex` rule's documentation.
    Regex(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { max } => write!(f, "frame longer than the maximum of {max} bytes"),
            Self::NegativeLength { declared } => write!(
                f,
                "length field {declared} is negative after the length adjustment"
            ),
            Self::Http(err) => write!(f, "HTTP: {err}"),
            Self::Regex(msg) => write!(f, "regex search failed: {msg}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<FrameError> for std::io::Error {
    fn from(err: FrameError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, err)
    }
}

/// Why an HTTP/1.x header block was rejected. Each of these is a request-smuggling
/// hazard when two parsers guess differently, so the rule refuses instead of guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The message starts with an empty line or with whitespace.
    BadStartLine,
    /// A `\r` or `\n` that is not part of a `\r\n` line end inside the header.
    BareLineBreak,
    /// A header line that begins with whitespace (obsolete line folding).
    LineFolding,
    /// A header line without a colon.
    MissingColon,
    /// Whitespace between a header name and its colon.
    WhitespaceBeforeColon,
    /// A header name with a character outside the token set (or empty).
    BadHeaderName,
    /// More than one `Content-Length` header, equal or not.
    DuplicateContentLength,
    /// A `Content-Length` that is not a plain decimal number (a sign, a list, spaces
    /// inside, nothing, or too large for 64 bits).
    BadContentLength,
    /// `Transfer-Encoding` (chunked bodies are not supported).
    TransferEncoding,
    /// Both `Content-Length` and `Transfer-Encoding`.
    ContentLengthWithTransferEncoding,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadStartLine => "empty or indented start line",
            Self::BareLineBreak => "bare CR or LF in the header",
            Self::LineFolding => "obsolete line folding",
            Self::MissingColon => "header line without a colon",
            Self::WhitespaceBeforeColon => "whitespace before the colon",
            Self::BadHeaderName => "invalid header name",
            Self::DuplicateContentLength => "more than one Content-Length",
            Self::BadContentLength => "Content-Length is not a plain decimal number",
            Self::TransferEncoding => "Transfer-Encoding is not supported",
            Self::ContentLengthWithTransferEncoding => "both Content-Length and Transfer-Encoding",
        })
    }
}
