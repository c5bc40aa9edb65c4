//! W3C Trace Context (`traceparent`, `tracestate`): parsing, generation and propagation.
//!
//! A server binding parses the incoming headers into a [`TraceContext`], hands it to the handler
//! and runs the handler inside [`scope`]; every outgoing call made from inside that scope (a
//! `ConsumedThing` call, for instance) sends [`TraceContext::child`] of [`current`], so the trace
//! continues across agents.
//!
//! Each interaction is also a [`Span`] on each side (client: the request; server: the handler's
//! run, whose context is what the handler's own calls continue), exported over OTLP when
//! configured ([`export`]).

use std::fmt;
use std::future::Future;

pub mod export;
mod span;

#[cfg(feature = "otlp")]
pub use export::export_otlp;
pub use export::{dropped_spans, flush, flush_async, stop_export};
pub use span::{FinishedSpan, Span, SpanKind};

/// Name of the header carrying the trace parent.
pub const TRACEPARENT: &str = "traceparent";
/// Name of the header carrying vendor trace state.
pub const TRACESTATE: &str = "tracestate";

/// Why a `traceparent` or `tracestate` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// The `traceparent` value does not have the `version-traceid-parentid-flags` shape.
    #[error("malformed traceparent {0:?}")]
    Malformed(String),
    /// The version is `ff`, which the specification forbids.
    #[error("traceparent version ff is invalid")]
    InvalidVersion,
    /// The trace id or the parent id is all zeros.
    #[error("traceparent has an all-zero trace id or parent id")]
    ZeroId,
    /// The `tracestate` value breaks the list syntax.
    #[error("malformed tracestate {0:?}")]
    MalformedState(String),
    /// The system's random source failed while making a new id.
    #[error("no randomness available for a new trace id: {0}")]
    Random(String),
    /// Span export could not be set up (e.g. the endpoint is not an http(s) URL).
    #[error("span export: {0}")]
    Export(String),
}

impl TraceError {
    /// A stable machine-readable code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            TraceError::Malformed(_) => "trace_malformed",
            TraceError::InvalidVersion => "trace_invalid_version",
            TraceError::ZeroId => "trace_zero_id",
            TraceError::MalformedState(_) => "trace_malformed_state",
            TraceError::Random(_) => "trace_random",
            TraceError::Export(_) => "trace_export",
        }
    }
}

/// One position in a distributed trace: trace id, the id of the calling span, flags and the
/// vendor-specific `tracestate`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
    tracestate: Option<String>,
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("traceparent", &self.traceparent())
            .field("tracestate", &self.tracestate)
            .finish()
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

thread_local! {
    /// SplitMix64 state, seeded once per thread from the system's random source: ids must be
    /// unpredictable enough not to collide, not secret, and a system call per request is costly.
    static ID_STATE: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

fn next_random() -> Result<u64, TraceError> {
    ID_STATE.with(|cell| {
        let state = match cell.get() {
            Some(state) => state,
            None => {
                let mut seed = [0u8; 8];
                getrandom::fill(&mut seed).map_err(|e| TraceError::Random(e.to_string()))?;
                u64::from_le_bytes(seed)
            }
        };
        let state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        cell.set(Some(state));
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    })
}

fn random_bytes<const N: usize>() -> Result<[u8; N], TraceError> {
    let mut bytes = [0u8; N];
    // An all-zero id is invalid; drawing one is practically impossible, but loop.
    for _ in 0..4 {
        for chunk in bytes.chunks_mut(8) {
            let word = next_random()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        if bytes.iter().any(|b| *b != 0) {
            return Ok(bytes);
        }
    }
    Err(TraceError::Random(
        "random source returned only zeros".into(),
    ))
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let hi = hex_digit(chunk[0])?;
        let lo = hex_digit(chunk[1])?;
        out[i] = hi << 4 | lo;
    }
    Some(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    // The specification allows lower-case hex only.
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

fn check_tracestate(state: &str) -> Result<(), TraceError> {
    let malformed = || TraceError::MalformedState(state.to_owned());
    let members: Vec<&str> = state
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    if members.len() > 32 || state.len() > 512 {
        return Err(malformed());
    }
    for member in members {
        let (key, value) = member.split_once('=').ok_or_else(malformed)?;
        let key_ok = !key.is_empty()
            && key.len() <= 256
            && key.bytes().all(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@')
            });
        let value_ok = !value.is_empty()
            && value.len() <= 256
            && value
                .bytes()
                .all(|c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=');
        if !key_ok || !value_ok {
            return Err(malformed());
        }
    }
    Ok(())
}

impl TraceContext {
    /// Starts a new trace: a random trace id and parent id, sampled flag set.
    pub fn new_root() -> Result<Self, TraceError> {
        Ok(TraceContext {
            trace_id: random_bytes()?,
            parent_id: random_bytes()?,
            flags: 0x01,
            tracestate: None,
        })
    }

    /// Parses a `traceparent` header value and an optional `tracestate`.
    ///
    /// Versions other than `00` are accepted as long as the first four fields parse (as the
    /// specification asks of forward-compatible parsers). A malformed `tracestate` is an error.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Result<Self, TraceError> {
        let text = traceparent.trim();
        let malformed = || TraceError::Malformed(traceparent.to_owned());
        let mut parts = text.split('-');
        let version = parts.next().ok_or_else(malformed)?;
        let trace_id = parts.next().ok_or_else(malformed)?;
        let parent_id = parts.next().ok_or_else(malformed)?;
        let flags = parts.next().ok_or_else(malformed)?;
        let rest: Vec<&str> = parts.collect();
        let version: [u8; 1] = decode_hex(version).ok_or_else(malformed)?;
        if version[0] == 0xff {
            return Err(TraceError::InvalidVersion);
        }
        if version[0] == 0 && !rest.is_empty() {
            return Err(malformed());
        }
        let trace_id: [u8; 16] = decode_hex(trace_id).ok_or_else(malformed)?;
        let parent_id: [u8; 8] = decode_hex(parent_id).ok_or_else(malformed)?;
        let flags: [u8; 1] = decode_hex(flags).ok_or_else(malformed)?;
        if trace_id.iter().all(|b| *b == 0) || parent_id.iter().all(|b| *b == 0) {
            return Err(TraceError::ZeroId);
        }
        let tracestate = match tracestate.map(str::trim) {
            Some(state) if !state.is_empty() => {
                check_tracestate(state)?;
                Some(state.to_owned())
            }
            _ => None,
        };
        Ok(TraceContext {
            trace_id,
            parent_id,
            flags: flags[0],
            tracestate,
        })
    }

    /// The same trace with a new random parent id: what an outgoing call sends.
    pub fn child(&self) -> Result<Self, TraceError> {
        Ok(TraceContext {
            trace_id: self.trace_id,
            parent_id: random_bytes()?,
            flags: self.flags,
            tracestate: self.tracestate.clone(),
        })
    }

    /// The `traceparent` header value (`00-<trace id>-<parent id>-<flags>`).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            encode_hex(&self.trace_id),
            encode_hex(&self.parent_id),
            encode_hex(&[self.flags])
        )
    }

    /// The `tracestate` header value, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace id as 32 lower-case hex digits.
    pub fn trace_id(&self) -> String {
        encode_hex(&self.trace_id)
    }

    /// The parent (calling span) id as 16 lower-case hex digits.
    pub fn parent_id(&self) -> String {
        encode_hex(&self.parent_id)
    }

    /// The trace flags byte.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller sampled this trace (flag bit 0).
    pub fn is_sampled(&self) -> bool {
        self.flags & 0x01 == 0x01
    }

    /// A copy with another `tracestate` (validated).
    pub fn with_tracestate(mut self, tracestate: Option<&str>) -> Result<Self, TraceError> {
        self.tracestate = match tracestate {
            Some(state) => {
                check_tracestate(state)?;
                Some(state.to_owned())
            }
            None => None,
        };
        Ok(self)
    }
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// The trace context of the task running now, if it runs inside [`scope`].
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `future` with `context` as the [`current`] trace context.
pub async fn scope<F: Future>(context: TraceContext, future: F) -> F::Output {
    CURRENT.scope(context, future).await
}

/// Runs `f` with `context` as the [`current`] trace context: for polling a stream by hand, where
/// [`scope`] (which wraps a future) does not fit.
pub fn sync_scope<R>(context: TraceContext, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(context, f)
}

/// The context an outgoing call should send: a child of [`current`], or a new root trace when
/// there is no current context.
pub fn outgoing() -> Result<TraceContext, TraceError> {
    match current() {
        Some(context) => context.child(),
        None => TraceContext::new_root(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn parses_and_prints_the_spec_example() {
        let ctx = TraceContext::parse(SAMPLE, Some("congo=t61rcWkgMzE")).unwrap();
        assert_eq!(ctx.traceparent(), SAMPLE);
        assert_eq!(ctx.trace_id(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(ctx.parent_id(), "b7ad6b7169203331");
        assert!(ctx.is_sampled());
        assert_eq!(ctx.tracestate(), Some("congo=t61rcWkgMzE"));
    }

    #[test]
    fn refuses_bad_values() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        ] {
            assert!(TraceContext::parse(bad, None).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            TraceContext::parse(SAMPLE, Some("no equals sign")),
            Err(TraceError::MalformedState(_))
        ));
    }

    #[test]
    fn child_keeps_the_trace_and_changes_the_parent() {
        let ctx = TraceContext::parse(SAMPLE, None).unwrap();
        let child = ctx.child().unwrap();
        assert_eq!(child.trace_id(), ctx.trace_id());
        assert_ne!(child.parent_id(), ctx.parent_id());
    }

    #[tokio::test]
    async fn scope_sets_current_and_outgoing_continues_it() {
        assert!(current().is_none());
        let ctx = TraceContext::parse(SAMPLE, None).unwrap();
        let seen = scope(ctx.clone(), async { (current(), outgoing().unwrap()) }).await;
        assert_eq!(seen.0, Some(ctx.clone()));
        assert_eq!(seen.1.trace_id(), ctx.trace_id());
        assert_ne!(outgoing().unwrap().trace_id(), ctx.trace_id());
    }
}
