//! The regex capture rule (feature `regex`).
//!
//! A search with a plain regex API starts over on every call, so a frame arriving in
//! many pieces is rescanned once per piece (quadratic; the seed did this). Here a lazy
//! DFA is stepped one byte at a time and its state is kept between pushes: each byte is
//! looked at once while looking for the end of a match. After each byte, the DFA's
//! end-of-input transition says whether a match ends right there; look-ahead assertions
//! are rejected at construction, so "a match ends here" cannot be changed by the bytes
//! that follow. Then one capture search over the frame's bytes extracts group 1.

use std::sync::Arc;

use regex_automata::hybrid::LazyStateID;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternID, meta};

use super::{Found, FrameError, RuleError};

#[derive(Clone)]
pub(super) struct RegexRule {
    compiled: Arc<Compiled>,
    max: usize,
}

struct Compiled {
    pattern: String,
    dfa: DFA,
    captures: meta::Regex,
}

impl std::fmt::Debug for RegexRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegexRule")
            .field("pattern", &self.compiled.pattern)
            .field("max", &self.max)
            .finish()
    }
}

impl RegexRule {
    pub(super) fn new(pattern: &str, max: usize) -> Result<Self, RuleError> {
        // Byte patterns: `(?-u)\xff` and friends may match invalid UTF-8.
        let syntax = syntax::Config::new().utf8(false);
        let hir =
            syntax::parse_with(pattern, &syntax).map_err(|e| RuleError::Regex(e.to_string()))?;
        // Look-behind assertions are decided by bytes already seen; anything else looks
        // ahead.
        if let Some(look) = hir
            .properties()
            .look_set()
            .iter()
            .find(|look| !matches!(look.as_char(), 'A' | '^' | 'r'))
        {
            return Err(RuleError::LookAhead(look.as_char()));
        }
        // `All`: the DFA reports every position where some match ends and keeps going
        // after the first one (leftmost-first would stop at an empty match at the start
        // of the frame, and a frame must consume at least one byte).
        let dfa = DFA::builder()
            .configure(DFA::config().match_kind(MatchKind::All))
            .syntax(syntax)
            .thompson(thompson::Config::new().utf8(false))
            .build(pattern)
            .map_err(|e| RuleError::Regex(e.to_string()))?;
        let captures = meta::Regex::builder()
            .configure(meta::Config::new().utf8_empty(false))
            .syntax(syntax)
            .build(pattern)
            .map_err(|e| RuleError::Regex(e.to_string()))?;
        Ok(Self {
            compiled: Arc::new(Compiled {
                pattern: pattern.to_owned(),
                dfa,
                captures,
            }),
            max,
        })
    }

    pub(super) fn scanner(&self) -> RegexScan {
        RegexScan {
            cache: self.compiled.dfa.create_cache(),
            captures_cache: self.compiled.captures.create_cache(),
            caps: self.compiled.captures.create_captures(),
            rule: self.clone(),
            state: None,
            scanned: 0,
        }
    }
}

pub(super) struct RegexScan {
    rule: RegexRule,
    cache: Cache,
    /// Reused by every capture pass, so a frame costs no allocation.
    captures_cache: meta::Cache,
    caps: Captures,
    /// The DFA state after the first `scanned` pending bytes (`None`: not started).
    state: Option<LazyStateID>,
    scanned: usize,
}

impl std::fmt::Debug for RegexScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegexScan")
            .field("rule", &self.rule)
            .field("scanned", &self.scanned)
            .finish()
    }
}

fn engine_error(err: impl std::fmt::Display) -> FrameError {
    FrameError::Regex(err.to_string())
}

impl RegexScan {
    pub(super) fn limit(&self) -> usize {
        self.rule.max
    }

    pub(super) fn restart(&mut self) {
        self.state = None;
        self.scanned = 0;
    }

    pub(super) fn decode(&mut self, pending: &[u8]) -> Result<Option<Found>, FrameError> {
        let compiled = &*self.rule.compiled;
        let dfa = &compiled.dfa;
        let max = self.rule.max;
        let mut state = match self.state {
            Some(state) => state,
            None => dfa
                .start_state_forward(&mut self.cache, &Input::new(pending))
                .map_err(engine_error)?,
        };
        // A match may end no later than `max`; at least one byte is consumed per frame.
        let stop = pending.len().min(max);
        let mut at = self.scanned;
        let mut end = None;
        while at < stop {
            state = dfa
                .next_state(&mut self.cache, state, pending[at])
                .map_err(engine_error)?;
            at += 1;
            if state.is_quit() {
                return Err(FrameError::Regex("the lazy DFA quit".to_owned()));
            }
            let eoi = dfa
                .next_eoi_state(&mut self.cache, state)
                .map_err(engine_error)?;
            if eoi.is_match() {
                end = Some(at);
                break;
            }
        }
        let Some(end) = end else {
            if pending.len() > max {
                return Err(FrameError::TooLong { max });
            }
            self.state = Some(state);
            self.scanned = at;
            return Ok(None);
        };
        let haystack = &pending[..end];
        let caps = &mut self.caps;
        compiled.captures.search_captures_with(
            &mut self.captures_cache,
            &Input::new(haystack),
            caps,
        );
        // Group 1 when the pattern has groups (empty if it did not take part), else the
        // whole match.
        let has_groups = caps.group_info().group_len(PatternID::ZERO) > 1;
        let frame = caps
            .get_group(usize::from(has_groups))
            .map_or(0..0, |span| span.range());
        Ok(Some(Found {
            consumed: end,
            frame,
        }))
    }
}
