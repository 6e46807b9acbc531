//! Property: random sequences of pushes, completions and flushes through a writer that
//! takes an arbitrary number of bytes behave like the obvious model — the bytes come out
//! in order, each completion is handed back exactly when everything pushed before it is
//! written, the byte count and the limit hold.

use std::io::{self, IoSlice};

use proptest::prelude::*;
use shoal_reactor::{FlushStop, WriteQueue};

#[derive(Clone, Debug)]
enum Op {
    Push(Vec<u8>),
    Completion,
    /// Flush through a writer that accepts at most this many bytes per call, then
    /// reports would-block (0 = would-block at once); `fail` makes it error instead.
    Flush {
        take: usize,
        fail: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Op::Push),
        2 => Just(Op::Completion),
        3 => (0usize..700, proptest::bool::weighted(0.05)).prop_map(|(take, fail)| Op::Flush { take, fail }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn queue_matches_model(ops in proptest::collection::vec(op(), 1..80), limit in 100usize..2000) {
        let mut queue: WriteQueue<u32> = WriteQueue::with_limit(limit);
        // Model: the pushed stream, completion ids with the stream length before them.
        let mut pushed: Vec<u8> = Vec::new();
        let mut completions: Vec<(u32, usize)> = Vec::new();
        let mut written: Vec<u8> = Vec::new();
        let mut next_completion = 0u32;
        let mut reached = 0usize;
        for op in ops {
            match op {
                Op::Push(bytes) => {
                    let queued = pushed.len() - written.len();
                    let fits = queued + bytes.len() <= limit;
                    let result = queue.push_bytes(&bytes);
                    prop_assert_eq!(result.is_ok(), fits);
                    if fits {
                        pushed.extend_from_slice(&bytes);
                    }
                }
                Op::Completion => {
                    queue.push_completion(next_completion);
                    completions.push((next_completion, pushed.len()));
                    next_completion += 1;
                }
                Op::Flush { take, fail } => {
                    let mut budget = take;
                    loop {
                        let flush = queue.flush_with(|bufs: &[IoSlice<'_>]| {
                            if fail {
                                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
                            }
                            if budget == 0 {
                                return Err(io::Error::from(io::ErrorKind::WouldBlock));
                            }
                            let mut n = 0;
                            for buf in bufs {
                                let part = buf.len().min(budget - n);
                                written.extend_from_slice(&buf[..part]);
                                n += part;
                                if n == budget { break; }
                            }
                            budget -= n;
                            Ok(n)
                        });
                        match flush.stop {
                            FlushStop::Completion(id) => {
                                let (expected, at) = completions[reached];
                                prop_assert_eq!(id, expected);
                                prop_assert_eq!(written.len(), at, "completion before its bytes were out");
                                reached += 1;
                            }
                            FlushStop::Empty => {
                                prop_assert_eq!(written.len(), pushed.len());
                                prop_assert_eq!(reached, completions.len());
                                break;
                            }
                            FlushStop::WouldBlock | FlushStop::Error(_) => break,
                        }
                    }
                }
            }
            prop_assert_eq!(&written[..], &pushed[..written.len()]);
            prop_assert_eq!(queue.queued_bytes(), pushed.len() - written.len());
            prop_assert_eq!(queue.is_empty(), written.len() == pushed.len() && reached == completions.len());
        }
    }
}
