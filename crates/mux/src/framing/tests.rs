//! Unit tests of each rule: frames, errors, limits, and the pitfalls of the seed and of
//! tokio-util's codecs.

use super::*;

/// Feeds `input` in one push and returns the frames, then the first error or the
/// end-of-stream remainder.
/// Frames, then the first error or the end-of-stream remainder.
type Outcome = (Vec<Vec<u8>>, Result<Option<Vec<u8>>, FrameError>);

fn frames(rule: Rule, input: &[u8]) -> Outcome {
    let mut framer = Framer::new(rule);
    framer.push(input);
    let mut out = Vec::new();
    loop {
        match framer.next_frame() {
            Ok(Some(frame)) => out.push(frame),
            Ok(None) => return (out, framer.finish()),
            Err(err) => return (out, Err(err)),
        }
    }
}

fn v(bytes: &[u8]) -> Vec<u8> {
    bytes.to_vec()
}

#[test]
fn delimiter_splits_and_keeps_cr_unless_asked() {
    let rule = Rule::delimiter(b"\n", 100).unwrap();
    let (f, rest) = frames(rule.clone(), b"a\r\nb\n\nc");
    assert_eq!(f, [v(b"a\r"), v(b"b"), v(b"")]);
    assert_eq!(rest, Ok(Some(v(b"c"))));
    let (f, _) = frames(rule.strip_cr(true), b"a\r\nb\n");
    assert_eq!(f, [v(b"a"), v(b"b")]);
}

#[test]
fn delimiter_multibyte_across_pushes() {
    let mut framer = Framer::new(Rule::delimiter(b"--", 100).unwrap());
    framer.push(b"ab-");
    assert_eq!(framer.next_frame(), Ok(None));
    framer.push(b"-c-x--");
    assert_eq!(framer.next_frame(), Ok(Some(v(b"ab"))));
    assert_eq!(framer.next_frame(), Ok(Some(v(b"c-x"))));
    assert_eq!(framer.next_frame(), Ok(None));
}

#[test]
fn delimiter_too_long_is_detected_before_the_delimiter_arrives() {
    let mut framer = Framer::new(Rule::delimiter(b"\n", 4).unwrap());
    framer.push(b"1234\n1234");
    assert_eq!(framer.next_frame(), Ok(Some(v(b"1234"))));
    assert_eq!(framer.next_frame(), Ok(None));
    framer.push(b"5");
    assert_eq!(framer.next_frame(), Err(FrameError::TooLong { max: 4 }));
    // Sticky.
    assert_eq!(framer.next_frame(), Err(FrameError::TooLong { max: 4 }));
    assert_eq!(framer.finish(), Err(FrameError::TooLong { max: 4 }));
}

#[test]
fn empty_delimiter_is_rejected() {
    assert_eq!(
        Rule::delimiter(b"", 1).unwrap_err(),
        RuleError::EmptyDelimiter
    );
}

#[test]
fn fixed_zero_is_rejected_and_sizes_cut_exactly() {
    assert_eq!(Rule::fixed(0).unwrap_err(), RuleError::ZeroSize);
    let (f, rest) = frames(Rule::fixed(3).unwrap(), b"abcdefgh");
    assert_eq!(f, [v(b"abc"), v(b"def")]);
    assert_eq!(rest, Ok(Some(v(b"gh"))));
}

#[test]
fn last_returns_everything_at_eof_and_bounds_it() {
    let (f, rest) = frames(Rule::last(10), b"all of it");
    assert!(f.is_empty());
    assert_eq!(rest, Ok(Some(v(b"all of it"))));
    let (_, rest) = frames(Rule::last(3), b"four");
    assert_eq!(rest, Err(FrameError::TooLong { max: 3 }));
    let mut framer = Framer::new(Rule::last(3));
    framer.push(b"four");
    assert_eq!(framer.finish(), Err(FrameError::TooLong { max: 3 }));
}

#[test]
fn length_prefix_widths_and_endianness() {
    for width in [1u8, 2, 4, 8] {
        for endian in [Endian::Big, Endian::Little] {
            let rule = Rule::length_prefix(LengthPrefix {
                endian,
                ..LengthPrefix::new(width, 64)
            })
            .unwrap();
            let mut field = vec![0u8; usize::from(width)];
            match endian {
                Endian::Big => *field.last_mut().unwrap() = 3,
                Endian::Little => field[0] = 3,
            }
            let mut input = field.clone();
            input.extend_from_slice(b"abc");
            input.extend_from_slice(&field);
            input.extend_from_slice(b"de");
            let (f, rest) = frames(rule, &input);
            assert_eq!(f, [v(b"abc")], "width {width} {endian:?}");
            assert_eq!(rest.unwrap().unwrap().len(), usize::from(width) + 2);
        }
    }
    assert_eq!(
        Rule::length_prefix(LengthPrefix::new(3, 10)).unwrap_err(),
        RuleError::Width(3)
    );
}

#[test]
fn length_prefix_zero_length_frame_is_emitted_at_once() {
    // The seed's Size rule waited forever for a zero-length payload.
    let (f, _) = frames(
        Rule::length_prefix(LengthPrefix::new(2, 10)).unwrap(),
        b"\0\0",
    );
    assert_eq!(f, [v(b"")]);
}

#[test]
fn length_prefix_max_is_checked_after_the_adjustment() {
    // tokio#4815: the field says 4, the adjustment adds 10: the wire frame is 2 + 14.
    let rule = Rule::length_prefix(LengthPrefix {
        adjust: 10,
        ..LengthPrefix::new(2, 15)
    })
    .unwrap();
    let (f, rest) = frames(rule, b"\0\x04abcd");
    assert!(f.is_empty());
    assert_eq!(rest, Err(FrameError::TooLong { max: 15 }));
}

#[test]
fn length_prefix_extreme_adjustments_do_not_overflow() {
    let rule = Rule::length_prefix(LengthPrefix {
        adjust: i64::MIN,
        ..LengthPrefix::new(8, 100)
    })
    .unwrap();
    let (_, rest) = frames(rule, &u64::MAX.to_be_bytes());
    // u64::MAX + i64::MIN is positive and huge.
    assert_eq!(rest, Err(FrameError::TooLong { max: 100 }));
    let rule = Rule::length_prefix(LengthPrefix {
        adjust: i64::MIN,
        ..LengthPrefix::new(1, 100)
    })
    .unwrap();
    assert_eq!(
        frames(rule, b"\x05").1,
        Err(FrameError::NegativeLength { declared: 5 })
    );
    let rule = Rule::length_prefix(LengthPrefix {
        adjust: i64::MAX,
        ..LengthPrefix::new(8, 100)
    })
    .unwrap();
    assert_eq!(
        frames(rule, &u64::MAX.to_le_bytes()).1,
        Err(FrameError::TooLong { max: 100 })
    );
}

#[test]
fn length_prefix_offset_adjust_and_skip() {
    // One type byte, a 2-byte length that counts itself, keep the whole header.
    let rule = Rule::length_prefix(LengthPrefix {
        offset: 1,
        adjust: -2,
        skip: 0,
        ..LengthPrefix::new(2, 100)
    })
    .unwrap();
    let (f, rest) = frames(rule, b"T\0\x05abcT\0\x02");
    assert_eq!(f, [v(b"T\0\x05abc"), v(b"T\0\x02")]);
    assert_eq!(rest, Ok(None));
    assert_eq!(
        Rule::length_prefix(LengthPrefix {
            skip: 3,
            ..LengthPrefix::new(2, 100)
        })
        .unwrap_err(),
        RuleError::SkipBeyondHeader
    );
    assert_eq!(
        Rule::length_prefix(LengthPrefix::new(8, 7)).unwrap_err(),
        RuleError::MaxBelowHeader
    );
}

#[test]
fn length_prefix_does_not_reserve_the_declared_length() {
    // A peer declares 8 MiB and sends 10 bytes: the framer holds what arrived, not 8 MiB.
    let mut framer = Framer::new(Rule::length_prefix(LengthPrefix::new(4, 16 << 20)).unwrap());
    framer.push(&(8u32 << 20).to_be_bytes());
    framer.push(b"0123456789");
    assert_eq!(framer.next_frame(), Ok(None));
    assert_eq!(framer.buffered(), 14);
    assert!(framer.buf.capacity() < 1024, "{}", framer.buf.capacity());
}

fn http(input: &[u8]) -> Outcome {
    frames(Rule::http(1000), input)
}

#[test]
fn http_message_with_and_without_body() {
    let msg = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n";
    let (f, rest) = http(msg);
    assert_eq!(f.len(), 2);
    assert!(f[0].ends_with(b"\r\n\r\nabc"));
    assert_eq!(f[1], v(b"GET / HTTP/1.1\r\n\r\n"));
    assert_eq!(rest, Ok(None));
}

#[test]
fn http_content_length_name_is_anchored_and_case_insensitive() {
    let (f, rest) = http(b"GET / HTTP/1.1\r\nX-Content-Length: 5\r\n\r\n");
    assert_eq!(f.len(), 1, "X-Content-Length is not Content-Length");
    assert_eq!(rest, Ok(None));
    let (f, rest) = http(b"GET / HTTP/1.1\r\ncOnTeNt-LeNgTh:2\r\n\r\nok");
    assert_eq!(f.len(), 1);
    assert!(f[0].ends_with(b"ok"));
    assert_eq!(rest, Ok(None));
}

#[test]
fn http_ambiguities_are_errors() {
    let cases: &[(&[u8], HttpError)] = &[
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            HttpError::DuplicateContentLength,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            HttpError::DuplicateContentLength,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
            HttpError::BadContentLength,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            HttpError::BadContentLength,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n",
            HttpError::BadContentLength,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
            HttpError::BadContentLength,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            HttpError::BadContentLength,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length : 1\r\n\r\n",
            HttpError::WhitespaceBeforeColon,
        ),
        (
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            HttpError::TransferEncoding,
        ),
        (
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            HttpError::ContentLengthWithTransferEncoding,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            HttpError::ContentLengthWithTransferEncoding,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            HttpError::LineFolding,
        ),
        (b"GET / HTTP/1.1\r\nHost\r\n\r\n", HttpError::MissingColon),
        (
            b"GET / HTTP/1.1\r\nHo st: a\r\n\r\n",
            HttpError::BadHeaderName,
        ),
        (b"GET / HTTP/1.1\r\n: a\r\n\r\n", HttpError::BadHeaderName),
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", HttpError::BareLineBreak),
        (
            b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
            HttpError::BareLineBreak,
        ),
        (b"\r\n\r\n", HttpError::BadStartLine),
        (b" GET / HTTP/1.1\r\n\r\n", HttpError::BadStartLine),
    ];
    for (input, want) in cases {
        let (f, rest) = http(input);
        assert!(f.is_empty());
        assert_eq!(
            rest,
            Err(FrameError::Http(*want)),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn http_body_over_max_is_refused_before_it_arrives() {
    let mut framer = Framer::new(Rule::http(100));
    framer.push(b"PUT / HTTP/1.1\r\nContent-Length: 90\r\n\r\n");
    assert_eq!(framer.next_frame(), Err(FrameError::TooLong { max: 100 }));
    let mut framer = Framer::new(Rule::http(10));
    framer.push(b"GET / HTTP/1.1\r\n");
    assert_eq!(framer.next_frame(), Err(FrameError::TooLong { max: 10 }));
}

#[test]
fn rule_change_keeps_buffered_bytes() {
    // An HTTP-ish upgrade: a line, then length-prefixed frames, in one push.
    let mut framer = Framer::new(Rule::delimiter(b"\n", 100).unwrap());
    framer.push(b"HELLO\n\x03abc\x01z");
    assert_eq!(framer.next_frame(), Ok(Some(v(b"HELLO"))));
    framer.set_rule(Rule::length_prefix(LengthPrefix::new(1, 10)).unwrap());
    assert_eq!(framer.next_frame(), Ok(Some(v(b"abc"))));
    assert_eq!(framer.next_frame(), Ok(Some(v(b"z"))));
    assert_eq!(framer.next_frame(), Ok(None));
}

#[test]
fn fill_with_reads_in_place_and_discards_on_error() {
    let mut framer = Framer::new(Rule::delimiter(b"\n", 100).unwrap());
    let n = framer.fill_with(16, |buf| {
        buf[..3].copy_from_slice(b"a\nb");
        Ok::<_, ()>(3)
    });
    assert_eq!(n, Ok(3));
    assert_eq!(framer.buffered(), 3);
    assert_eq!(framer.fill_with(16, |_| Err(())), Err(()));
    assert_eq!(framer.buffered(), 3);
    assert_eq!(framer.next_frame(), Ok(Some(v(b"a"))));
}

#[cfg(feature = "regex")]
mod regex_rule {
    use super::*;

    #[test]
    fn captures_group_one_and_drops_the_rest_of_the_match() {
        let rule = Rule::regex(r"(?s)(.*?)\r?\n", 100).unwrap();
        let (f, rest) = frames(rule, b"ab\r\ncd\nef");
        assert_eq!(f, [v(b"ab"), v(b"cd")]);
        assert_eq!(rest, Ok(Some(v(b"ef"))));
    }

    #[test]
    fn whole_match_without_groups_and_skipped_prefix() {
        let rule = Rule::regex(r"[0-9]+;", 100).unwrap();
        let (f, rest) = frames(rule, b"xx12;y3;");
        assert_eq!(f, [v(b"12;"), v(b"3;")]);
        assert_eq!(rest, Ok(None));
    }

    #[test]
    fn empty_matches_cannot_stall() {
        // The seed looped forever on a pattern matching the empty string.
        let rule = Rule::regex(r"(x*)", 100).unwrap();
        let (f, rest) = frames(rule, b"abc");
        assert_eq!(f.len(), 3);
        assert_eq!(rest, Ok(None));
    }

    #[test]
    fn look_ahead_is_rejected() {
        for (pattern, c) in [(r"a$", 'z'), (r"(?-u)a\b", 'b'), (r"(?m)a$", '$')] {
            match Rule::regex(pattern, 10) {
                Err(RuleError::LookAhead(got)) => assert_eq!(got, c, "{pattern}"),
                other => panic!("{pattern}: {other:?}"),
            }
        }
        assert!(Rule::regex(r"^a", 10).is_ok());
        assert!(matches!(Rule::regex(r"(", 10), Err(RuleError::Regex(_))));
    }

    #[test]
    fn too_long_without_a_match() {
        let mut framer = Framer::new(Rule::regex(r"\n", 4).unwrap());
        framer.push(b"abcd");
        assert_eq!(framer.next_frame(), Ok(None));
        framer.push(b"e");
        assert_eq!(framer.next_frame(), Err(FrameError::TooLong { max: 4 }));
    }
}
