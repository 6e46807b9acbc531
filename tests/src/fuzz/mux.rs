//! Fuzz harnesses of `shoal_mux::framing`, one per rule plus adversarial HTTP headers.
//!
//! Each harness takes its rule's parameters from the first bytes of the input, frames
//! the rest twice (in one push, and in chunks whose sizes come from the input too) and
//! checks the invariants: same frames and same error however the input is chunked, and
//! never more than the framer's memory bound held between pushes.

use shoal_mux::framing::{Endian, FrameError, Framer, LengthPrefix, Rule};

/// Frames, then the first error or the end-of-stream remainder.
type Outcome = (Vec<Vec<u8>>, Result<Option<Vec<u8>>, FrameError>);

fn run(rule: &Rule, input: &[u8], chunk: usize) -> Outcome {
    let mut framer = Framer::new(rule.clone());
    let mut frames = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        framer.push(piece);
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(err) => return (frames, Err(err)),
            }
        }
        assert!(
            framer.buffered() <= framer.limit(),
            "framer holds {} bytes over its bound {}",
            framer.buffered(),
            framer.limit()
        );
    }
    (frames, framer.finish())
}

/// Frames `input` whole, in chunks of `chunk` bytes and byte by byte; all three must
/// agree. Returns the outcome.
fn check(rule: &Rule, input: &[u8], chunk: u8) -> Outcome {
    let whole = run(rule, input, usize::MAX);
    assert_eq!(
        run(rule, input, usize::from(chunk)),
        whole,
        "chunks of {chunk}"
    );
    assert_eq!(run(rule, input, 1), whole, "1-byte chunks");
    whole
}

fn param(data: &[u8], i: usize) -> u8 {
    data.get(i).copied().unwrap_or(0)
}

/// Delimiter rule: `[delimiter length 1..=4][max][flags][chunk] delimiter input`.
pub fn mux_delimiter(data: &[u8]) {
    let dlen = usize::from(param(data, 0) % 4) + 1;
    let max = usize::from(param(data, 1));
    let strip_cr = param(data, 2) & 1 == 1;
    let chunk = param(data, 3);
    let rest = data.get(4..).unwrap_or_default();
    let (delimiter, input) = rest.split_at(dlen.min(rest.len()));
    let Ok(rule) = Rule::delimiter(delimiter, max) else {
        assert!(delimiter.is_empty());
        return;
    };
    let (frames, _) = check(&rule.strip_cr(strip_cr), input, chunk);
    for frame in frames {
        assert!(frame.len() <= max);
    }
}

/// Length-prefix rule: `[width][flags][offset][adjust][max][chunk] input`.
pub fn mux_length(data: &[u8]) {
    let width = [1u8, 2, 4, 8][usize::from(param(data, 0) % 4)];
    let flags = param(data, 1);
    let offset = usize::from(param(data, 2) % 4);
    // Adjustments near both ends of i64 as well as small ones.
    let adjust = match flags >> 4 {
        0 => i64::MIN,
        1 => i64::MAX,
        _ => i64::from(param(data, 3) as i8),
    };
    let max = usize::from(param(data, 4));
    let chunk = param(data, 5);
    let prefix = LengthPrefix {
        offset,
        width,
        endian: if flags & 1 == 1 {
            Endian::Big
        } else {
            Endian::Little
        },
        adjust,
        skip: usize::from(flags >> 1 & 3).min(offset + usize::from(width)),
        max,
    };
    let Ok(rule) = Rule::length_prefix(prefix) else {
        return;
    };
    let (frames, _) = check(&rule, data.get(6..).unwrap_or_default(), chunk);
    for frame in frames {
        assert!(frame.len() <= max);
    }
}

/// Fixed-size rule: `[size][chunk] input`.
pub fn mux_fixed(data: &[u8]) {
    let size = usize::from(param(data, 0));
    let Ok(rule) = Rule::fixed(size) else {
        assert_eq!(size, 0);
        return;
    };
    let (frames, _) = check(&rule, data.get(2..).unwrap_or_default(), param(data, 1));
    assert!(frames.iter().all(|f| f.len() == size));
}

/// Last rule: `[max][chunk] input`.
pub fn mux_last(data: &[u8]) {
    let max = usize::from(param(data, 0)) * 4;
    let input = data.get(2..).unwrap_or_default();
    let (frames, end) = check(&Rule::last(max), input, param(data, 1));
    assert!(frames.is_empty());
    match end {
        Ok(rest) => assert_eq!(rest.unwrap_or_default(), input),
        Err(err) => assert_eq!(err, FrameError::TooLong { max }),
    }
}

/// Regex rule: `[pattern index][max index][chunk] input`, over a fixed set of patterns
/// and maxima compiled once (the harness checks the engine's streaming use, not the
/// regex compiler, which would dominate every run).
pub fn mux_regex(data: &[u8]) {
    const PATTERNS: &[&str] = &[
        r"(?s)(.*?)\r?\n",
        r"([0-9]+);",
        r"(x*)",
        r"^(..)",
        r"(?-u)([\x00-\x7f]+)\xff",
        r"a+b|c",
        r"(?m)^(\w+):",
    ];
    const MAXES: &[usize] = &[0, 1, 4, 16, 64, 255];
    static RULES: std::sync::OnceLock<Vec<Rule>> = std::sync::OnceLock::new();
    let rules = RULES.get_or_init(|| {
        PATTERNS
            .iter()
            .flat_map(|p| MAXES.iter().map(move |max| (p, *max)))
            .map(|(p, max)| Rule::regex(p, max).expect("fixed patterns compile"))
            .collect()
    });
    let pattern = usize::from(param(data, 0)) % PATTERNS.len();
    let max_index = usize::from(param(data, 1)) % MAXES.len();
    let rule = &rules[pattern * MAXES.len() + max_index];
    let (frames, _) = check(rule, data.get(3..).unwrap_or_default(), param(data, 2));
    assert!(frames.iter().all(|f| f.len() <= MAXES[max_index]));
}

/// HTTP rule with adversarial headers: `[max / 4][chunk] messages`. Besides chunking
/// invariance, every message accepted must be unambiguous: exactly one way to read its
/// length (at most one Content-Length line, no Transfer-Encoding) and a body of that
/// length.
pub fn mux_http(data: &[u8]) {
    let max = usize::from(param(data, 0)) * 4;
    let (frames, _) = check(
        &Rule::http(max),
        data.get(2..).unwrap_or_default(),
        param(data, 1),
    );
    for frame in frames {
        assert!(frame.len() <= max);
        let end = frame
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a frame holds a complete header")
            + 4;
        let header = String::from_utf8_lossy(&frame[..end]).to_ascii_lowercase();
        let mut lengths = header
            .split("\r\n")
            .skip(1)
            .filter_map(|line| line.strip_prefix("content-length:"));
        let body = match lengths.next() {
            Some(value) => value.trim().parse::<usize>().expect("a plain number"),
            None => 0,
        };
        assert!(
            lengths.next().is_none(),
            "duplicate Content-Length accepted"
        );
        assert!(
            !header.contains("\r\ntransfer-encoding:"),
            "Transfer-Encoding accepted"
        );
        assert_eq!(
            frame.len() - end,
            body,
            "body length differs from Content-Length"
        );
    }
}
