//! Property: every framing rule yields the same frames (and the same error, at the same
//! place) however its input is chunked, 1-byte chunks included, and never holds more
//! than its memory bound between pushes.

use proptest::prelude::*;
use shoal_mux::framing::{Endian, FrameError, Framer, LengthPrefix, Rule};

/// What a framer makes of a stream: its frames, then its first error or the remainder
/// at end of stream.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    frames: Vec<Vec<u8>>,
    end: Result<Option<Vec<u8>>, FrameError>,
}

/// Feeds `input` cut at the given chunk sizes (cycled), draining frames after each push
/// and checking the memory bound.
fn run(rule: &Rule, input: &[u8], chunks: &[usize]) -> Outcome {
    let mut framer = Framer::new(rule.clone());
    let mut frames = Vec::new();
    let mut rest = input;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).clamp(1, rest.len());
        framer.push(&rest[..n]);
        rest = &rest[n..];
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(err) => {
                    return Outcome {
                        frames,
                        end: Err(err),
                    };
                }
            }
        }
        assert!(
            framer.buffered() <= framer.limit(),
            "holds {} bytes, bound {}",
            framer.buffered(),
            framer.limit()
        );
    }
    Outcome {
        frames,
        end: framer.finish(),
    }
}

/// Bytes drawn mostly from a small alphabet so that delimiters, CRLFs, digits and
/// header-ish text appear often.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"ab\r\n:- 0123456789".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..300)
}

fn chunkings() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..40, 1..8)
}

fn rules() -> impl Strategy<Value = Rule> {
    let delimiter = (
        prop::sample::select(vec![&b"\n"[..], b"\r\n", b"--", b"aab"]),
        0usize..40,
        any::<bool>(),
    )
        .prop_map(|(d, max, cr)| Rule::delimiter(d, max).unwrap().strip_cr(cr));
    let length = (
        prop::sample::select(vec![1u8, 2, 4, 8]),
        any::<bool>(),
        0usize..3,
        -60i64..60,
        0usize..80,
    )
        .prop_filter_map("invalid parameters", |(width, big, offset, adjust, max)| {
            Rule::length_prefix(LengthPrefix {
                offset,
                width,
                endian: if big { Endian::Big } else { Endian::Little },
                adjust,
                skip: offset,
                max,
            })
            .ok()
        });
    let fixed = (1usize..20).prop_map(|n| Rule::fixed(n).unwrap());
    let http = (0usize..200).prop_map(Rule::http);
    let last = (0usize..400).prop_map(Rule::last);
    prop_oneof![delimiter, length, fixed, http, last, regex_rules()]
}

#[cfg(feature = "regex")]
fn regex_rules() -> impl Strategy<Value = Rule> {
    (
        prop::sample::select(vec![r"(.*?)\n", r"([0-9]+)-", r"a+b", r"(x*)", r"^(..)"]),
        0usize..40,
    )
        .prop_map(|(p, max)| Rule::regex(p, max).unwrap())
}

#[cfg(not(feature = "regex"))]
fn regex_rules() -> impl Strategy<Value = Rule> {
    (0usize..40).prop_map(|max| Rule::delimiter(b"\n", max).unwrap())
}

fn http_messages() -> impl Strategy<Value = Vec<u8>> {
    let header = prop_oneof![
        Just("Host: a".to_owned()),
        (0usize..20).prop_map(|n| format!("Content-Length: {n}")),
        Just("X-Content-Length: 7".to_owned()),
        Just("Transfer-Encoding: chunked".to_owned()),
        Just("Content-Length : 1".to_owned()),
    ];
    let message =
        (prop::collection::vec(header, 0..3), "[a-z]{0,20}").prop_map(|(headers, body)| {
            let mut m = String::from("POST / HTTP/1.1\r\n");
            for h in headers {
                m.push_str(&h);
                m.push_str("\r\n");
            }
            m.push_str("\r\n");
            m.push_str(&body);
            m.into_bytes()
        });
    prop::collection::vec(message, 1..4).prop_map(|ms| ms.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_chunking_gives_the_same_frames(
        rule in rules(),
        input in stream(),
        chunks in chunkings(),
    ) {
        let whole = run(&rule, &input, &[usize::MAX]);
        prop_assert_eq!(&run(&rule, &input, &chunks), &whole);
        prop_assert_eq!(&run(&rule, &input, &[1]), &whole);
    }

    #[test]
    fn http_messages_frame_the_same_in_any_chunking(
        max in 0usize..400,
        input in http_messages(),
        chunks in chunkings(),
    ) {
        let rule = Rule::http(max);
        let whole = run(&rule, &input, &[usize::MAX]);
        prop_assert_eq!(&run(&rule, &input, &chunks), &whole);
        prop_assert_eq!(&run(&rule, &input, &[1]), &whole);
    }

    #[test]
    fn a_rule_change_between_frames_loses_nothing(
        input in stream(),
        split in 0usize..300,
        chunks in chunkings(),
    ) {
        // Frames by line up to `split` bytes of input, then the rest as one `last` frame:
        // every byte comes out exactly once.
        let mut framer = Framer::new(Rule::delimiter(b"\n", 1000).unwrap());
        let split = split.min(input.len());
        let mut out = Vec::new();
        let mut fed = 0;
        let mut sizes = chunks.iter().cycle();
        while fed < split {
            let n = (*sizes.next().unwrap()).min(split - fed);
            framer.push(&input[fed..fed + n]);
            fed += n;
            while let Some(frame) = framer.next_frame().unwrap() {
                out.extend_from_slice(&frame);
                out.push(b'\n');
            }
        }
        framer.set_rule(Rule::last(1000));
        framer.push(&input[fed..]);
        prop_assert_eq!(framer.next_frame().unwrap(), None);
        out.extend(framer.finish().unwrap().unwrap_or_default());
        prop_assert_eq!(out, input);
    }
}
