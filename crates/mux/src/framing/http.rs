//! The HTTP/1.x rule: a header block, then a `Content-Length` body.
//!
//! The header must end with `\r\n\r\n`. Header names are matched whole and without
//! case (`X-Content-Length` is not `Content-Length`, unlike the seed's unanchored
//! regex). Ambiguity is an error ([`HttpError`]): two parsers that guess differently
//! are how requests get smuggled.

use super::{Found, FrameError, HttpError};

#[derive(Debug)]
pub(super) struct HttpScan {
    max: usize,
    /// Bytes of the pending data already searched for the end of the header.
    scanned: usize,
    /// The length of the whole message once its header is parsed.
    total: Option<usize>,
}

impl HttpScan {
    pub(super) fn new(max: usize) -> Self {
        Self {
            max,
            scanned: 0,
            total: None,
        }
    }

    pub(super) fn max(&self) -> usize {
        self.max
    }

    pub(super) fn restart(&mut self) {
        self.scanned = 0;
        self.total = None;
    }

    pub(super) fn decode(&mut self, pending: &[u8]) -> Result<Option<Found>, FrameError> {
        let total = match self.total {
            Some(total) => total,
            None => {
                let Some(header_end) = self.find_header_end(pending)? else {
                    return Ok(None);
                };
                let body = parse_header(&pending[..header_end]).map_err(FrameError::Http)?;
                let total = usize::try_from(body)
                    .ok()
                    .and_then(|b| b.checked_add(header_end))
                    .filter(|t| *t <= self.max)
                    .ok_or(FrameError::TooLong { max: self.max })?;
                self.total = Some(total);
                total
            }
        };
        Ok((pending.len() >= total).then_some(Found {
            consumed: total,
            frame: 0..total,
        }))
    }

    /// The end of `\r\n\r\n` (exclusive), searching only bytes not searched before (and
    /// the three before them, which may hold the start of the terminator).
    fn find_header_end(&mut self, pending: &[u8]) -> Result<Option<usize>, FrameError> {
        let limit = pending.len().min(self.max);
        let mut at = self.scanned;
        while at < limit {
            match pending[at..limit].iter().position(|&b| b == b'\n') {
                None => at = limit,
                Some(i) => {
                    let lf = at + i;
                    if lf >= 3 && &pending[lf - 3..=lf] == b"\r\n\r\n" {
                        return Ok(Some(lf + 1));
                    }
                    at = lf + 1;
                }
            }
        }
        self.scanned = at;
        if pending.len() > self.max {
            return Err(FrameError::TooLong { max: self.max });
        }
        Ok(None)
    }
}

/// Parses a header block (start line and header lines, ending in `\r\n\r\n`) and
/// returns the body length.
fn parse_header(block: &[u8]) -> Result<u64, HttpError> {
    // Without the final `\r\n\r\n`, lines are separated by `\r\n` and the last one
    // has no line end.
    let block = &block[..block.len() - 4];
    let pieces: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
    let last = pieces.len() - 1;
    let mut lines = pieces.iter().enumerate().map(|(i, piece)| match i == last {
        true => check_no_cr(piece),
        false => strip_cr(piece).and_then(check_no_cr),
    });
    let start = lines.next().unwrap_or(Ok(&[]))?;
    if start.is_empty() || matches!(start[0], b' ' | b'\t') {
        return Err(HttpError::BadStartLine);
    }
    let mut content_length = None;
    let mut transfer_encoding = false;
    for line in lines {
        let line = line?;
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(HttpError::LineFolding);
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(HttpError::MissingColon)?;
        let name = &line[..colon];
        if matches!(name.last(), Some(b' ' | b'\t')) {
            return Err(HttpError::WhitespaceBeforeColon);
        }
        if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
            return Err(HttpError::BadHeaderName);
        }
        let value = trim_ows(&line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"content-length") {
            if content_length.is_some() {
                return Err(HttpError::DuplicateContentLength);
            }
            content_length = Some(parse_decimal(value).ok_or(HttpError::BadContentLength)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
        }
    }
    match (content_length, transfer_encoding) {
        (Some(_), true) => Err(HttpError::ContentLengthWithTransferEncoding),
        (None, true) => Err(HttpError::TransferEncoding),
        (length, false) => Ok(length.unwrap_or(0)),
    }
}

/// Removes the `\r` that must end a line split on `\n`.
fn strip_cr(line: &[u8]) -> Result<&[u8], HttpError> {
    line.strip_suffix(b"\r").ok_or(HttpError::BareLineBreak)
}

/// A line must not hold a `\r` of its own.
fn check_no_cr(line: &[u8]) -> Result<&[u8], HttpError> {
    match line.contains(&b'\r') {
        true => Err(HttpError::BareLineBreak),
        false => Ok(line),
    }
}

/// RFC 9110 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// Digits only, at least one, no overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = (b as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}
