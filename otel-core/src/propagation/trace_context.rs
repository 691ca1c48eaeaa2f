//! W3C Trace Context Level 2: the `traceparent` / `tracestate` propagator and
//! an allocation-free `traceparent` codec for layer crates.

use std::fmt;
use std::ops::Deref;
use std::sync::LazyLock;

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

use super::hex;
use super::random_trace_id::started_here_with_random_id;
use super::raw_trace_state::RawTraceState;

/// Name of the W3C `traceparent` header.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// Name of the W3C `tracestate` header.
pub const TRACESTATE_HEADER: &str = "tracestate";

/// Length of a version-00 `traceparent` (and of the prefix every later version shares).
const TRACEPARENT_LEN: usize = 55;
/// Most `tracestate` list members: a receiver discards a header with more,
/// and [`format_tracestate`] never sends more.
pub const MAX_TRACESTATE_MEMBERS: usize = 32;
/// Longest `tracestate` header [`format_tracestate`] sends (the 512
/// characters, commas included, that Trace Context requires every vendor to
/// propagate; longer states are truncated by whole members).
pub const MAX_TRACESTATE_HEADER_LEN: usize = 512;
/// When a `tracestate` must be truncated, members longer than this
/// (`key=value`) are dropped first (Trace Context: 128 characters).
pub const MAX_TRACESTATE_MEMBER_KEEP_LEN: usize = 128;
/// Longest `tracestate` key (Level 2 grammar).
const MAX_TRACESTATE_KEY_LEN: usize = 256;
/// Longest `tracestate` value.
const MAX_TRACESTATE_VALUE_LEN: usize = 256;

static FIELDS: LazyLock<[String; 2]> =
    LazyLock::new(|| [TRACEPARENT_HEADER.to_owned(), TRACESTATE_HEADER.to_owned()]);

/// Strips the optional whitespace (spaces and horizontal tabs only) W3C allows around values.
#[inline]
pub(crate) fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Same as [`trim_ows`] on bytes.
#[inline]
fn trim_ows_bytes(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The three fields of a W3C `traceparent` header, parsed and formatted without
/// heap allocation.
///
/// Parsing follows Trace Context Level 2: lowercase hex only, version `ff`
/// rejected, version `00` exactly 55 characters, higher versions accepted when
/// the 55-character prefix parses and is followed by `-` or the end, all-zero
/// ids rejected, spaces and tabs around the value tolerated. Only the
/// [sampled](TraceParent::FLAG_SAMPLED) and [random](TraceParent::FLAG_RANDOM)
/// flags are kept; the other bits are cleared. Formatting always emits version `00`.
///
/// ```
/// use otel_kit_core::propagation::TraceParent;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let parent = TraceParent::parse(header).expect("valid traceparent");
/// assert!(parent.trace_flags.is_sampled());
/// assert_eq!(parent.encode().as_str(), header);
///
/// // Straight into a remote `SpanContext`, and back to a stack buffer.
/// let span_context = parent.to_span_context(Default::default());
/// assert!(span_context.is_remote());
/// let buf = TraceParent::format(&span_context).expect("valid span context");
/// assert_eq!(&*buf, header);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace id (never [`TraceId::INVALID`] once parsed).
    pub trace_id: TraceId,
    /// The parent span id (never [`SpanId::INVALID`] once parsed).
    pub span_id: SpanId,
    /// Trace flags, reduced to the bits in [`TraceParent::KNOWN_FLAGS`].
    pub trace_flags: TraceFlags,
}

impl TraceParent {
    /// The `sampled` flag (bit 0).
    pub const FLAG_SAMPLED: TraceFlags = TraceFlags::SAMPLED;
    /// The Level 2 `random-trace-id` flag (bit 1): the rightmost 7 bytes of the trace id are random.
    pub const FLAG_RANDOM: TraceFlags = TraceFlags::new(0x02);
    /// Mask of the flag bits Level 2 defines; every other bit is cleared on parse and format.
    pub const KNOWN_FLAGS: u8 = 0x03;

    /// Parses a `traceparent` header value. `None` when it is invalid.
    #[inline]
    pub fn parse(value: &str) -> Option<Self> {
        Self::parse_bytes(value.as_bytes())
    }

    /// Parses a `traceparent` value given as raw bytes (for example a Kafka or
    /// AMQP header). `None` when it is invalid.
    pub fn parse_bytes(value: &[u8]) -> Option<Self> {
        let value = trim_ows_bytes(value);
        let head: &[u8; TRACEPARENT_LEN] = value.first_chunk()?;
        let version = hex::decode_u8(&head[..2], false)?;
        match version {
            0xff => return None,
            0x00 if value.len() != TRACEPARENT_LEN => return None,
            // A future version may append fields, but only after another `-`.
            _ if value.len() > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != b'-' => return None,
            _ => {}
        }
        if head[2] != b'-' || head[35] != b'-' || head[52] != b'-' {
            return None;
        }
        let trace_id = hex::decode_lower_u128(sub(head, 3)?)?;
        let span_id = hex::decode_lower_u64(sub(head, 36)?)?;
        let flags = hex::decode_u8(&head[53..], false)?;
        if trace_id == 0 || span_id == 0 {
            return None;
        }
        Some(Self {
            trace_id: TraceId::from(trace_id),
            span_id: SpanId::from(span_id),
            trace_flags: TraceFlags::new(flags & Self::KNOWN_FLAGS),
        })
    }

    /// Takes the ids and flags of a valid span context (`None` when either id is zero).
    ///
    /// The [random](TraceParent::FLAG_RANDOM) flag is also set for a local
    /// span context of a trace this process started with
    /// [`RandomTraceIdGenerator`](super::RandomTraceIdGenerator) (the setup's
    /// id generator): Level 2 says it "SHOULD be set" for a random trace id,
    /// and the SDK builds root flags without it. A remote span context keeps
    /// exactly the flags it was received with.
    #[inline]
    pub fn from_span_context(span_context: &SpanContext) -> Option<Self> {
        if !span_context.is_valid() {
            return None;
        }
        let mut flags = span_context.trace_flags().to_u8() & Self::KNOWN_FLAGS;
        if flags & Self::FLAG_RANDOM.to_u8() == 0
            && !span_context.is_remote()
            && started_here_with_random_id(span_context.trace_id())
        {
            flags |= Self::FLAG_RANDOM.to_u8();
        }
        Some(Self {
            trace_id: span_context.trace_id(),
            span_id: span_context.span_id(),
            trace_flags: TraceFlags::new(flags),
        })
    }

    /// Builds the remote span context this header describes, with the given trace state.
    #[inline]
    pub fn to_span_context(self, trace_state: TraceState) -> SpanContext {
        SpanContext::new(
            self.trace_id,
            self.span_id,
            self.trace_flags,
            true,
            trace_state,
        )
    }

    /// Formats as a version-00 header into a stack buffer.
    #[inline]
    pub fn encode(&self) -> TraceParentBuf {
        let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-00";
        let mut trace_id = [0u8; 32];
        let mut span_id = [0u8; 16];
        let mut flags = [0u8; 2];
        hex::encode_u128(u128::from_be_bytes(self.trace_id.to_bytes()), &mut trace_id);
        hex::encode_u64(u64::from_be_bytes(self.span_id.to_bytes()), &mut span_id);
        hex::encode_u8(self.trace_flags.to_u8() & Self::KNOWN_FLAGS, &mut flags);
        buf[3..35].copy_from_slice(&trace_id);
        buf[36..52].copy_from_slice(&span_id);
        buf[53..55].copy_from_slice(&flags);
        TraceParentBuf(buf)
    }

    /// Formats the `traceparent` of a span context into a stack buffer; `None`
    /// when the span context is invalid (nothing must be sent then).
    #[inline]
    pub fn format(span_context: &SpanContext) -> Option<TraceParentBuf> {
        Self::from_span_context(span_context).map(|parent| parent.encode())
    }
}

/// `N` bytes of `head` starting at `at`, as an array reference (never `None`
/// for the constant offsets used above; the compiler removes the check).
#[inline(always)]
fn sub<const N: usize>(head: &[u8; TRACEPARENT_LEN], at: usize) -> Option<&[u8; N]> {
    head.get(at..at + N)?.try_into().ok()
}

/// A formatted version-00 `traceparent` (55 ASCII bytes on the stack), from
/// [`TraceParent::encode`] or [`TraceParent::format`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParentBuf([u8; TRACEPARENT_LEN]);

impl TraceParentBuf {
    /// The header value.
    #[inline]
    pub fn as_str(&self) -> &str {
        // The buffer only ever holds ASCII hex digits and dashes, so this never fails.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The header value as bytes (for byte-oriented carriers).
    #[inline]
    pub fn as_bytes(&self) -> &[u8; TRACEPARENT_LEN] {
        &self.0
    }
}

impl AsRef<str> for TraceParentBuf {
    #[inline]
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for TraceParentBuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for TraceParentBuf {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for TraceParentBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TraceParentBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<TraceParentBuf> for String {
    fn from(buf: TraceParentBuf) -> String {
        buf.as_str().to_owned()
    }
}

/// `[a-z0-9][a-z0-9_\-*/@]{0,255}` (Level 2; covers Level 1's `tenant@system`).
fn is_tracestate_key(key: &[u8]) -> bool {
    match key.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_lowercase() || first.is_ascii_digit())
                && key.len() <= MAX_TRACESTATE_KEY_LEN
                && rest.iter().all(|&b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@')
                })
        }
        None => false,
    }
}

/// 1 to 256 printable ASCII characters except `,` and `=`, not ending with a space.
fn is_tracestate_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_TRACESTATE_VALUE_LEN
        && value.last() != Some(&b' ')
        && value
            .iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

/// Parses the `tracestate` header values of one request (several headers are
/// joined with `,`). `None` means the whole `tracestate` must be discarded:
/// more than 32 list members, or any member that breaks the grammar. Empty
/// members are skipped, an empty header is an empty state, and of duplicate
/// keys the leftmost is kept.
///
/// The OpenTelemetry `TraceState` is a little stricter than the Level 2
/// grammar (at most one `@`, vendor part at most 13 characters); a member it
/// refuses is left out of the returned state, and the rest is kept. The
/// [`TraceContextPropagator`] still forwards such members: it keeps the whole
/// list in the `Context` as a [`RawTraceState`].
///
/// ```
/// use otel_kit_core::propagation::parse_tracestate;
///
/// let state = parse_tracestate(["congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"]).unwrap();
/// assert_eq!(state.get("rojo"), Some("00f067aa0ba902b7"));
/// assert!(parse_tracestate(["foo=,bar=3"]).is_none()); // an empty value discards all
/// ```
pub fn parse_tracestate<'a, I>(values: I) -> Option<TraceState>
where
    I: IntoIterator<Item = &'a str>,
{
    parse_tracestate_members(values).map(|members| to_trace_state(&members).0)
}

/// The validated members of the `tracestate` headers, in order, without
/// duplicates; `None` when the header must be discarded (see [`parse_tracestate`]).
fn parse_tracestate_members<'a, I>(values: I) -> Option<Vec<(&'a str, &'a str)>>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut members: Vec<(&str, &str)> = Vec::new();
    let mut count = 0usize;
    for value in values {
        for member in value.split(',').map(trim_ows) {
            if member.is_empty() {
                continue;
            }
            count += 1;
            if count > MAX_TRACESTATE_MEMBERS {
                return None;
            }
            let (key, val) = member.split_once('=')?;
            if !is_tracestate_key(key.as_bytes()) || !is_tracestate_value(val.as_bytes()) {
                return None;
            }
            if !members.iter().any(|(k, _)| *k == key) {
                members.push((key, val));
            }
        }
    }
    Some(members)
}

/// The `TraceState` of validated members, and whether it holds all of them
/// (`false` when OpenTelemetry refused some, which are then left out).
fn to_trace_state(members: &[(&str, &str)]) -> (TraceState, bool) {
    match TraceState::from_key_value(members.iter().copied()) {
        Ok(state) => (state, true),
        Err(_) => {
            let accepted = members
                .iter()
                .copied()
                .filter(|member| TraceState::from_key_value([*member]).is_ok());
            (
                TraceState::from_key_value(accepted).unwrap_or_default(),
                false,
            )
        }
    }
}

/// Formats a trace state as a `tracestate` header value; `None` when it is
/// empty (an empty `tracestate` is not sent).
///
/// The header is kept within the W3C limits, whatever the state holds (an
/// extracted state may carry 32 members of up to 513 characters each):
/// at most [`MAX_TRACESTATE_MEMBERS`] members (the API's `TraceState`
/// already keeps no more), and at most [`MAX_TRACESTATE_HEADER_LEN`] characters, truncated
/// the way Trace Context prescribes: whole members only, first those longer
/// than [`MAX_TRACESTATE_MEMBER_KEEP_LEN`] characters, then from the right.
///
/// ```
/// use opentelemetry::trace::TraceState;
/// use otel_kit_core::propagation::{MAX_TRACESTATE_HEADER_LEN, format_tracestate};
///
/// let big = "v".repeat(200);
/// let state = TraceState::from_key_value([("a", "1"), ("b", big.as_str()), ("c", "3")]).unwrap();
/// assert_eq!(format_tracestate(&state), Some(format!("a=1,b={big},c=3")));
///
/// let many: Vec<(String, String)> = (0..20).map(|i| (format!("k{i}"), "x".repeat(40))).collect();
/// let state = TraceState::from_key_value(many.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
/// let header = format_tracestate(&state).unwrap();
/// assert!(header.len() <= MAX_TRACESTATE_HEADER_LEN);
/// assert!(header.starts_with("k0=")); // members dropped from the right
/// ```
pub fn format_tracestate(state: &TraceState) -> Option<String> {
    join_within_limits(state.into_iter().take(MAX_TRACESTATE_MEMBERS).collect())
}

/// Joins at most 32 members into a `tracestate` value of at most
/// [`MAX_TRACESTATE_HEADER_LEN`] characters, truncating whole members as
/// Trace Context prescribes; `None` when nothing is left.
pub(crate) fn join_within_limits(members: Vec<(&str, &str)>) -> Option<String> {
    let member_len = |(k, v): &(&str, &str)| k.len() + 1 + v.len();
    let header_len = |members: &[(&str, &str)]| {
        members.iter().map(member_len).sum::<usize>() + members.len().saturating_sub(1)
    };
    let mut kept = members;
    if header_len(&kept) > MAX_TRACESTATE_HEADER_LEN {
        kept.retain(|m| member_len(m) <= MAX_TRACESTATE_MEMBER_KEEP_LEN);
        while header_len(&kept) > MAX_TRACESTATE_HEADER_LEN {
            kept.pop();
        }
    }
    if kept.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(header_len(&kept));
    for (key, value) in kept {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    Some(out)
}

/// The span context a carrier holds, or `None` when `traceparent` is missing,
/// repeated or invalid; with the received `tracestate` list when the span
/// context's `TraceState` could not hold all of it.
fn extract_span_context(extractor: &dyn Extractor) -> Option<(SpanContext, Option<RawTraceState>)> {
    let values = extractor.get_all(TRACEPARENT_HEADER)?;
    let [value] = values.as_slice() else {
        return None;
    };
    let parent = TraceParent::parse(value)?;
    let Some(members) = extractor
        .get_all(TRACESTATE_HEADER)
        .and_then(parse_tracestate_members)
    else {
        return Some((parent.to_span_context(TraceState::NONE), None));
    };
    let (state, complete) = to_trace_state(&members);
    let raw = (!complete)
        .then(|| RawTraceState::new(parent.trace_id, parent.span_id, &members, state.clone()));
    Some((parent.to_span_context(state), raw))
}

/// W3C Trace Context (Level 2) propagator: `traceparent` and `tracestate`.
///
/// Differences from `opentelemetry_sdk::propagation::TraceContextPropagator`:
/// the Level 2 `random` flag is kept, repeated `traceparent` headers and
/// over-long version-00 values are rejected, `tracestate` is validated
/// strictly (more than 32 members or any malformed member discards it) and is
/// not sent when empty, members valid under Level 2 that `TraceState`
/// refuses are still sent on ([`RawTraceState`]), traces started with
/// [`RandomTraceIdGenerator`](super::RandomTraceIdGenerator) go out with the
/// random flag, and parsing and formatting `traceparent` do not
/// allocate ([`TraceParent`]). Through the `TextMapPropagator` trait, extract
/// still allocates the small list `Extractor::get_all` returns (to reject a
/// repeated `traceparent`) and the `Context`, and inject the `String` that
/// `Injector::set` takes.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::propagation::TextMapPropagator;
/// use opentelemetry::trace::TraceContextExt;
/// use opentelemetry::Context;
/// use otel_kit_core::propagation::TraceContextPropagator;
///
/// let propagator = TraceContextPropagator::new();
/// let mut carrier = HashMap::new();
/// carrier.insert(
///     "traceparent".to_string(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
/// );
/// let cx = propagator.extract_with_context(&Context::new(), &carrier);
/// assert!(cx.span().span_context().is_remote());
///
/// let mut out = HashMap::new();
/// propagator.inject_context(&cx, &mut out);
/// assert_eq!(out["traceparent"], carrier["traceparent"]);
/// assert!(!out.contains_key("tracestate")); // empty: not sent
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextPropagator {
    _private: (),
}

impl TraceContextPropagator {
    /// Creates the propagator.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl TextMapPropagator for TraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        let Some(parent) = TraceParent::format(span_context) else {
            return;
        };
        injector.set(TRACEPARENT_HEADER, parent.as_str().to_owned());
        let state = match cx
            .get::<RawTraceState>()
            .filter(|raw| raw.applies_to(span_context))
        {
            Some(raw) => raw.header_for(span_context.trace_state()),
            None => format_tracestate(span_context.trace_state()),
        };
        if let Some(state) = state {
            injector.set(TRACESTATE_HEADER, state);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extract_span_context(extractor) {
            Some((span_context, Some(raw))) => {
                cx.with_value(raw).with_remote_span_context(span_context)
            }
            // A list from an earlier extract into `cx` must not outlive its parent.
            Some((span_context, None)) if cx.get::<RawTraceState>().is_some() => cx
                .with_value(RawTraceState::cleared())
                .with_remote_span_context(span_context),
            Some((span_context, None)) => cx.with_remote_span_context(span_context),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(FIELDS.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::{SpanContext, TraceContextExt, TraceState};
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::propagation::TraceContextPropagator as SdkTraceContextPropagator;

    use super::*;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN_ID: &str = "00f067aa0ba902b7";
    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Pairs carrier that can repeat a header, like HTTP.
    #[derive(Default)]
    struct Pairs(Vec<(&'static str, String)>);

    impl Extractor for Pairs {
        fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.iter().map(|(k, _)| *k).collect()
        }
        fn get_all(&self, key: &str) -> Option<Vec<&str>> {
            let all: Vec<&str> = self
                .0
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
                .collect();
            (!all.is_empty()).then_some(all)
        }
    }

    fn carrier(traceparent: &[&str], tracestate: &[&str]) -> Pairs {
        let mut pairs = Pairs::default();
        for v in traceparent {
            pairs.0.push(("traceparent", (*v).to_owned()));
        }
        for v in tracestate {
            pairs.0.push(("tracestate", (*v).to_owned()));
        }
        pairs
    }

    fn extract(traceparent: &[&str], tracestate: &[&str]) -> Option<SpanContext> {
        let cx = TraceContextPropagator::new()
            .extract_with_context(&Context::new(), &carrier(traceparent, tracestate));
        cx.has_active_span()
            .then(|| cx.span().span_context().clone())
    }

    fn header(trace_id: &str, span_id: &str, flags: &str) -> String {
        format!("00-{trace_id}-{span_id}-{flags}")
    }

    /// A simple, obviously correct Level 2 parser used as the oracle for the
    /// fast one: `(trace_id, span_id, flags as received)`.
    fn reference_parse(value: &[u8]) -> Option<(u128, u64, u8)> {
        // Bytes past the first 55 belong to a future version: any content is fine there.
        let text = String::from_utf8_lossy(value);
        let text = text.trim_matches(|c| c == ' ' || c == '\t');
        let lower_hex = |s: &str, n: usize| {
            s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if text.len() < 55 {
            return None;
        }
        let (head, tail) = text.split_at_checked(55)?;
        let fields: Vec<&str> = head.split('-').collect();
        let [version, trace_id, span_id, flags] = fields[..] else {
            return None;
        };
        if !lower_hex(version, 2) || version == "ff" {
            return None;
        }
        if version == "00" && !tail.is_empty() {
            return None;
        }
        if !tail.is_empty() && !tail.starts_with('-') {
            return None;
        }
        if !lower_hex(trace_id, 32) || !lower_hex(span_id, 16) || !lower_hex(flags, 2) {
            return None;
        }
        let t = u128::from_str_radix(trace_id, 16).ok()?;
        let s = u64::from_str_radix(span_id, 16).ok()?;
        let f = u8::from_str_radix(flags, 16).ok()?;
        (t != 0 && s != 0).then_some((t, s, f))
    }

    fn parsed(value: &[u8]) -> Option<(u128, u64, u8)> {
        TraceParent::parse_bytes(value).map(|p| {
            (
                u128::from_be_bytes(p.trace_id.to_bytes()),
                u64::from_be_bytes(p.span_id.to_bytes()),
                p.trace_flags.to_u8(),
            )
        })
    }

    #[test]
    fn traceparent_valid_values() {
        let cases: &[(&str, &str, u8)] = &[
            ("canonical, sampled", VALID, 0x01),
            (
                "not sampled",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                0x00,
            ),
            (
                "random flag kept",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02",
                0x02,
            ),
            (
                "sampled and random kept",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
                0x03,
            ),
            (
                "unknown bit cleared",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09",
                0x01,
            ),
            (
                "all bits set",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
                0x03,
            ),
            (
                "only unknown bits",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fc",
                0x00,
            ),
            (
                "leading and trailing spaces",
                "   00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01  ",
                0x01,
            ),
            (
                "leading and trailing tabs",
                "\t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t \t",
                0x01,
            ),
            (
                "higher version, exact length",
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                0x01,
            ),
            (
                "higher version, future fields",
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
                0x01,
            ),
            (
                "higher version, lone dash",
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
                0x01,
            ),
            (
                "version fe",
                "fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                0x00,
            ),
        ];
        for (name, value, flags) in cases {
            let parent = TraceParent::parse(value).unwrap_or_else(|| panic!("{name}: rejected"));
            assert_eq!(
                parent.trace_id,
                TraceId::from_hex(TRACE_ID).unwrap(),
                "{name}"
            );
            assert_eq!(parent.span_id, SpanId::from_hex(SPAN_ID).unwrap(), "{name}");
            assert_eq!(parent.trace_flags.to_u8(), *flags, "{name}");
            // Re-emitted as version 00 with only the known bits.
            let expected = header(TRACE_ID, SPAN_ID, &format!("{flags:02x}"));
            assert_eq!(parent.encode().as_str(), expected, "{name}");
            // The full propagator agrees and marks the context remote.
            let sc = extract(&[value], &[]).unwrap_or_else(|| panic!("{name}: not extracted"));
            assert!(sc.is_remote(), "{name}");
            assert_eq!(sc.trace_flags().to_u8(), *flags, "{name}");
        }
    }

    #[test]
    fn traceparent_invalid_values() {
        let long_tid = format!("{TRACE_ID}0");
        let cases: Vec<(&str, String)> = vec![
            ("empty", String::new()),
            ("only whitespace", "  \t ".into()),
            ("version ff", VALID.replacen("00", "ff", 1)),
            ("version uppercase", VALID.replacen("00", "0A", 1)),
            ("version not hex", VALID.replacen("00", "0g", 1)),
            ("version one digit", VALID[1..].to_owned()),
            ("version three digits", format!("0{VALID}")),
            ("no dash after version", VALID.replacen("00-", "00_", 1)),
            (
                "trace id uppercase",
                header(&TRACE_ID.to_uppercase(), SPAN_ID, "01"),
            ),
            (
                "span id uppercase",
                header(TRACE_ID, "00F067AA0BA902B7", "01"),
            ),
            ("flags uppercase", header(TRACE_ID, SPAN_ID, "0A")),
            (
                "trace id not hex",
                header("4bf92f3577b34da6a3ce929d0e0e473g", SPAN_ID, "01"),
            ),
            (
                "span id not hex",
                header(TRACE_ID, "00f067aa0ba902bz", "01"),
            ),
            ("flags not hex", header(TRACE_ID, SPAN_ID, "0x")),
            (
                "trace id all zeros",
                header("00000000000000000000000000000000", SPAN_ID, "01"),
            ),
            (
                "span id all zeros",
                header(TRACE_ID, "0000000000000000", "01"),
            ),
            ("trace id too short", header(&TRACE_ID[1..], SPAN_ID, "01")),
            ("trace id too long", header(&long_tid, SPAN_ID, "01")),
            ("span id too short", header(TRACE_ID, &SPAN_ID[1..], "01")),
            (
                "span id too long",
                header(TRACE_ID, "00f067aa0ba902b71", "01"),
            ),
            ("flags one digit", header(TRACE_ID, SPAN_ID, "1")),
            ("flags three digits", header(TRACE_ID, SPAN_ID, "001")),
            ("version 00 with trailing dash", format!("{VALID}-")),
            ("version 00 with trailing dot", format!("{VALID}.")),
            ("version 00 with extra field", format!("{VALID}-xyz")),
            (
                "higher version, dot after flags",
                VALID.replacen("00", "cc", 1) + ".what-the-future",
            ),
            (
                "higher version, too short",
                VALID.replacen("00", "cc", 1)[..54].to_owned(),
            ),
            ("wrong separators", VALID.replace('-', ".")),
            ("space inside", VALID.replacen("-4bf9", "- 4bf9", 1)),
            ("trailing newline", format!("{VALID}\n")),
            ("leading newline", format!("\n{VALID}")),
            ("non ascii", VALID.replacen("4bf9", "4bf\u{e9}", 1)),
            (
                "hex with 0x prefix",
                header("0x4bf92f3577b34da6a3ce929d0e0e47", SPAN_ID, "01"),
            ),
            (
                "signed number",
                header("+4bf92f3577b34da6a3ce929d0e0e473", SPAN_ID, "01"),
            ),
        ];
        for (name, value) in &cases {
            assert_eq!(
                TraceParent::parse(value),
                None,
                "{name}: {value:?} accepted"
            );
            assert_eq!(extract(&[value], &["foo=bar"]), None, "{name}: extracted");
        }
    }

    #[test]
    fn repeated_traceparent_is_invalid_even_when_identical() {
        assert_eq!(extract(&[VALID, VALID], &[]), None);
        let other = header(TRACE_ID, "1111111111111111", "01");
        assert_eq!(extract(&[VALID, &other], &[]), None);
        assert!(extract(&[VALID], &[]).is_some());
    }

    #[test]
    fn parser_agrees_with_reference_on_every_single_byte_mutation() {
        let bases: Vec<Vec<u8>> = vec![
            VALID.as_bytes().to_vec(),
            VALID.replacen("00", "cc", 1).into_bytes(),
            (VALID.replacen("00", "cc", 1) + "-future").into_bytes(),
            format!(" {VALID}\t").into_bytes(),
        ];
        let mut checked = 0;
        for base in &bases {
            assert!(reference_parse(base).is_some());
            for pos in 0..base.len() {
                for byte in 0..=255u8 {
                    let mut value = base.clone();
                    value[pos] = byte;
                    let expected = reference_parse(&value)
                        .map(|(t, s, f)| (t, s, f & TraceParent::KNOWN_FLAGS));
                    assert_eq!(
                        parsed(&value),
                        expected,
                        "{:?}",
                        String::from_utf8_lossy(&value)
                    );
                    checked += 1;
                }
                // Truncation and insertion at every position too.
                let truncated = &base[..pos];
                assert_eq!(
                    parsed(truncated),
                    reference_parse(truncated).map(|(t, s, f)| (t, s, f & 3))
                );
                let mut inserted = base.clone();
                inserted.insert(pos, b'0');
                assert_eq!(
                    parsed(&inserted),
                    reference_parse(&inserted).map(|(t, s, f)| (t, s, f & 3))
                );
            }
        }
        assert!(checked > 50_000);
    }

    #[test]
    fn parser_never_panics_on_random_input() {
        // xorshift: deterministic, no extra dependency.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"0123456789abcdefABCDEF- \t.xff\xff\x00";
        for _ in 0..20_000 {
            let len = (next() % 80) as usize;
            let value: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let expected = reference_parse(&value).map(|(t, s, f)| (t, s, f & 3));
            assert_eq!(parsed(&value), expected);
        }
    }

    #[test]
    fn format_of_invalid_span_context_is_none() {
        assert!(TraceParent::format(&SpanContext::NONE).is_none());
        let no_span = SpanContext::new(
            TraceId::from(1),
            SpanId::INVALID,
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        assert!(TraceParent::format(&no_span).is_none());
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&Context::new(), &mut carrier);
        assert!(carrier.is_empty());
    }

    #[test]
    fn format_clears_unknown_flags() {
        let sc = SpanContext::new(
            TraceId::from(u128::MAX),
            SpanId::from(u64::MAX),
            TraceFlags::new(0xff),
            false,
            TraceState::NONE,
        );
        let buf = TraceParent::format(&sc).unwrap();
        assert_eq!(
            buf.as_str(),
            "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-03"
        );
        assert_eq!(String::from(buf), buf.to_string());
        assert_eq!(format!("{buf:?}"), format!("{:?}", buf.as_str()));
        assert_eq!(AsRef::<[u8]>::as_ref(&buf), buf.as_bytes());
    }

    #[test]
    fn tracestate_valid_values() {
        let key_256 = format!("a{}", "b".repeat(255));
        let value_256 = "v".repeat(256);
        let thirty_two: Vec<String> = (0..32).map(|i| format!("k{i}=v{i}")).collect();
        let thirty_two = thirty_two.join(",");
        let cases: Vec<(&str, Vec<String>, &str)> = vec![
            ("empty header", vec![String::new()], ""),
            ("only commas and spaces", vec![" , ,\t,".into()], ""),
            ("single", vec!["foo=bar".into()], "foo=bar"),
            (
                "two, order kept",
                vec!["foo=bar,baz=qux".into()],
                "foo=bar,baz=qux",
            ),
            (
                "optional whitespace",
                vec![" foo=bar , \tbaz=qux\t ".into()],
                "foo=bar,baz=qux",
            ),
            (
                "empty members",
                vec!["foo=bar,,baz=1,".into()],
                "foo=bar,baz=1",
            ),
            (
                "several headers joined",
                vec!["foo=1".into(), "bar=2,baz=3".into()],
                "foo=1,bar=2,baz=3",
            ),
            (
                "empty header among others",
                vec!["foo=1".into(), String::new()],
                "foo=1",
            ),
            (
                "multi-tenant key",
                vec!["tenant@vendor=1".into()],
                "tenant@vendor=1",
            ),
            ("key starting with digit", vec!["0abc=1".into()], "0abc=1"),
            (
                "all key characters",
                vec!["a_b-c*d/e=1".into()],
                "a_b-c*d/e=1",
            ),
            ("value with inner space", vec!["foo=a b".into()], "foo=a b"),
            (
                "value starting with space",
                vec!["foo= bar".into()],
                "foo= bar",
            ),
            (
                "all printable value characters",
                vec!["foo=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~".into()],
                "foo=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~",
            ),
            ("key of 256", vec![format!("{key_256}=1")], ""),
            ("value of 256", vec![format!("foo={value_256}")], ""),
            ("exactly 32 members", vec![thirty_two.clone()], ""),
            (
                "duplicate keys, first kept",
                vec!["foo=1,bar=2,foo=3".into()],
                "foo=1,bar=2",
            ),
            (
                "duplicate across headers",
                vec!["foo=1".into(), "foo=2".into()],
                "foo=1",
            ),
        ];
        for (name, headers, expected) in &cases {
            let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
            let state = parse_tracestate(refs.iter().copied())
                .unwrap_or_else(|| panic!("{name}: discarded"));
            let sc = extract(&[VALID], &refs).expect("traceparent is valid");
            assert_eq!(sc.trace_state(), &state, "{name}");
            match *name {
                "key of 256" => assert_eq!(state.get(&key_256), Some("1")),
                "value of 256" => assert_eq!(state.get("foo"), Some(value_256.as_str())),
                "exactly 32 members" => assert_eq!(state.header(), thirty_two),
                _ => assert_eq!(state.header(), *expected, "{name}"),
            }
        }
    }

    #[test]
    fn tracestate_invalid_values_discard_the_header_but_keep_traceparent() {
        let thirty_three: Vec<String> = (0..33).map(|i| format!("k{i}=v{i}")).collect();
        let cases: Vec<(&str, Vec<String>)> = vec![
            ("33 members", vec![thirty_three.join(",")]),
            (
                "33 members over two headers",
                vec![thirty_three[..16].join(","), thirty_three[16..].join(",")],
            ),
            (
                "33 members with a duplicate",
                vec![format!("{},k0=x", thirty_three[..32].join(","))],
            ),
            ("empty value", vec!["foo=".into()]),
            ("empty value among valid", vec!["foo=,bar=3".into()]),
            ("no equals sign", vec!["foo".into()]),
            ("empty key", vec!["=bar".into()]),
            ("uppercase key", vec!["Foo=bar".into()]),
            ("key starting with underscore", vec!["_foo=1".into()]),
            ("key starting with at", vec!["@foo=1".into()]),
            ("key with bang", vec!["foo!=1".into()]),
            ("key of 257", vec![format!("a{}=1", "b".repeat(256))]),
            ("value of 257", vec![format!("foo={}", "v".repeat(257))]),
            ("equals in value", vec!["foo=b=r".into()]),
            ("space before equals", vec!["foo =bar".into()]),
            ("control character in value", vec!["foo=a\u{1}b".into()]),
            ("tab inside value", vec!["foo=a\tb".into()]),
            ("non-ascii value", vec!["foo=caf\u{e9}".into()]),
            ("non-ascii key", vec!["f\u{f6}o=1".into()]),
            (
                "bad member in second header",
                vec!["foo=1".into(), "bar".into()],
            ),
        ];
        for (name, headers) in &cases {
            let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
            assert_eq!(parse_tracestate(refs.iter().copied()), None, "{name}");
            let sc = extract(&[VALID], &refs).unwrap_or_else(|| panic!("{name}: traceparent lost"));
            assert_eq!(sc.trace_state(), &TraceState::NONE, "{name}");
            assert_eq!(sc.trace_id(), TraceId::from_hex(TRACE_ID).unwrap());
        }
    }

    #[test]
    fn tracestate_member_refused_by_otel_is_left_out_of_the_state_but_sent_on() {
        // Valid Level 2 keys that OpenTelemetry's `TraceState` does not accept.
        for key in ["a@b@c", "t@0123456789abcd"] {
            let value = format!("{key}=1,foo=bar");
            let state = parse_tracestate([value.as_str()]).unwrap();
            assert_eq!(state.header(), "foo=bar", "{key}");
            // The propagator keeps the whole list for the next hop.
            let cx = TraceContextPropagator::new()
                .extract_with_context(&Context::new(), &carrier(&[VALID], &[&value]));
            let mut out = HashMap::new();
            TraceContextPropagator::new().inject_context(&cx, &mut out);
            assert_eq!(out["tracestate"], value, "{key}");
        }
    }

    /// `key=value` members `k{i}` whose member length is exactly `len`.
    fn members_of_len(count: usize, len: usize) -> Vec<(String, String)> {
        (0..count)
            .map(|i| {
                let key = format!("k{i}");
                let value = "v".repeat(len - key.len() - 1);
                (key, value)
            })
            .collect()
    }

    fn state_of(members: &[(String, String)]) -> TraceState {
        TraceState::from_key_value(members.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("valid members")
    }

    fn injected_tracestate(state: TraceState) -> Option<String> {
        let sc = SpanContext::new(
            TraceId::from(1),
            SpanId::from(2),
            TraceFlags::SAMPLED,
            true,
            state,
        );
        let mut out = HashMap::new();
        TraceContextPropagator::new()
            .inject_context(&Context::new().with_remote_span_context(sc), &mut out);
        out.remove("tracestate")
    }

    #[test]
    fn tracestate_within_limits_is_sent_whole() {
        // 8 members of 63 characters and 7 commas: 511 characters.
        let members = members_of_len(8, 63);
        let header = injected_tracestate(state_of(&members)).expect("sent");
        assert_eq!(header.len(), 511);
        assert_eq!(header, state_of(&members).header());
        // A single member over 128 characters is fine while the header fits.
        let members = members_of_len(2, 200);
        assert_eq!(
            injected_tracestate(state_of(&members)),
            Some(state_of(&members).header())
        );
    }

    #[test]
    fn largest_extracted_tracestate_is_truncated_on_inject() {
        // The largest header a receiver accepts: 32 members of 513 characters.
        let members: Vec<String> = (0..32)
            .map(|i| format!("k{i:02}{}={}", "a".repeat(253), "v".repeat(256)))
            .collect();
        let received = members.join(",");
        assert_eq!(received.len(), 32 * 513 + 31);
        let sc = extract(&[VALID], &[received.as_str()]).expect("valid traceparent");
        assert_eq!(
            sc.trace_state().header(),
            received,
            "all 32 members accepted"
        );
        // Every member is over 128 characters: all are dropped first.
        assert_eq!(injected_tracestate(sc.trace_state().clone()), None);
    }

    #[test]
    fn tracestate_truncation_drops_long_members_first_then_from_the_right() {
        let mut members = members_of_len(1, 250); // k0, over 128
        members.extend(members_of_len(12, 40).into_iter().skip(1)); // k1..k11, 40 each
        members.push(("late".into(), "x".repeat(150))); // over 128, at the end
        let header = injected_tracestate(state_of(&members)).expect("sent");
        assert!(
            header.len() <= MAX_TRACESTATE_HEADER_LEN,
            "{}",
            header.len()
        );
        // Long members gone; the 11 short ones (11 * 40 + 10 = 450) all fit.
        let keys: Vec<&str> = header
            .split(',')
            .map(|m| m.split_once('=').unwrap().0)
            .collect();
        let expected: Vec<String> = (1..12).map(|i| format!("k{i}")).collect();
        assert_eq!(keys, expected);

        // Only short members, too many characters: dropped from the right.
        let members = members_of_len(20, 40); // 20 * 40 + 19 = 819
        let header = injected_tracestate(state_of(&members)).expect("sent");
        let keys: Vec<&str> = header
            .split(',')
            .map(|m| m.split_once('=').unwrap().0)
            .collect();
        // 12 * 40 + 11 = 491 <= 512 < 13 * 40 + 12.
        let expected: Vec<String> = (0..12).map(|i| format!("k{i}")).collect();
        assert_eq!(keys, expected);
    }

    #[test]
    fn tracestate_is_ignored_without_a_valid_traceparent() {
        assert_eq!(extract(&[], &["foo=bar"]), None);
        let bad = VALID.replacen("00", "ff", 1);
        let base = Context::new().with_value(KeyValue::new("k", "v"));
        let cx = TraceContextPropagator::new()
            .extract_with_context(&base, &carrier(&[&bad], &["foo=bar"]));
        assert!(!cx.has_active_span());
        assert_eq!(cx.get::<KeyValue>(), Some(&KeyValue::new("k", "v")));
    }

    #[test]
    fn invalid_input_returns_the_input_context_unchanged() {
        let remote = SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("a", "1")]).unwrap(),
        );
        let base = Context::new().with_remote_span_context(remote.clone());
        for headers in [
            vec![],
            vec!["garbage".to_owned()],
            vec![VALID.to_owned(), VALID.to_owned()],
        ] {
            let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
            let cx = TraceContextPropagator::new()
                .extract_with_context(&base, &carrier(&refs, &["foo=bar"]));
            assert_eq!(cx.span().span_context(), &remote);
        }
    }

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *seed ^ (*seed >> 29)
    }

    #[test]
    fn inject_then_extract_is_identity() {
        let states = [
            TraceState::NONE,
            TraceState::from_key_value([("foo", "bar")]).unwrap(),
            TraceState::from_key_value([
                ("rojo", "00f067aa0ba902b7"),
                ("congo", "t61rcWkgMzE"),
                ("a@b", " x y"),
            ])
            .unwrap(),
            TraceState::from_key_value((0..32).map(|i| (format!("k{i}"), format!("v{i}"))))
                .unwrap(),
        ];
        let mut seed = 42;
        let propagator = TraceContextPropagator::new();
        for i in 0..400 {
            let trace_id = (u128::from(lcg(&mut seed)) << 64 | u128::from(lcg(&mut seed))).max(1);
            let span_id = lcg(&mut seed).max(1);
            let flags = (i % 4) as u8;
            let sc = SpanContext::new(
                TraceId::from(trace_id),
                SpanId::from(span_id),
                TraceFlags::new(flags),
                true,
                states[i % states.len()].clone(),
            );
            let mut map = HashMap::new();
            propagator.inject_context(
                &Context::new().with_remote_span_context(sc.clone()),
                &mut map,
            );
            assert_eq!(map.contains_key("tracestate"), i % states.len() != 0);
            let cx = propagator.extract_with_context(&Context::new(), &map);
            assert_eq!(cx.span().span_context(), &sc);
            // And header -> context -> header.
            let mut again = HashMap::new();
            propagator.inject_context(&cx, &mut again);
            assert_eq!(again, map);
        }
    }

    #[test]
    fn fields_lists_both_headers() {
        let propagator = TraceContextPropagator::new();
        assert_eq!(
            propagator.fields().collect::<Vec<_>>(),
            ["traceparent", "tracestate"]
        );
    }

    #[test]
    fn same_results_as_the_sdk_propagator_on_valid_input() {
        let ours = TraceContextPropagator::new();
        let sdk = SdkTraceContextPropagator::new();
        let cases: &[(&str, &str)] = &[
            (VALID, ""),
            (VALID, "foo=bar"),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "a@b=1, c=2",
            ),
            (
                "02-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "foo=bar",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09",
                "foo=bar",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
                "foo=bar",
            ),
        ];
        for (traceparent, tracestate) in cases {
            let mut map = HashMap::new();
            map.insert("traceparent".to_owned(), (*traceparent).to_owned());
            if !tracestate.is_empty() {
                map.insert("tracestate".to_owned(), (*tracestate).to_owned());
            }
            let a = ours.extract_with_context(&Context::new(), &map);
            let b = sdk.extract_with_context(&Context::new(), &map);
            let (a, b) = (
                a.span().span_context().clone(),
                b.span().span_context().clone(),
            );
            assert_eq!(a.trace_id(), b.trace_id(), "{traceparent}");
            assert_eq!(a.span_id(), b.span_id(), "{traceparent}");
            assert_eq!(a.is_remote(), b.is_remote(), "{traceparent}");
            assert_eq!(a.is_sampled(), b.is_sampled(), "{traceparent}");
            assert_eq!(a.trace_state(), b.trace_state(), "{traceparent}");
            // The only intended difference: we keep the Level 2 random bit, the SDK clears it.
            assert_eq!(
                a.trace_flags() & TraceFlags::SAMPLED,
                b.trace_flags(),
                "{traceparent}"
            );

            // Each side reads what the other writes.
            let (mut from_ours, mut from_sdk) = (HashMap::new(), HashMap::new());
            ours.inject_context(
                &Context::new().with_remote_span_context(b.clone()),
                &mut from_ours,
            );
            sdk.inject_context(
                &Context::new().with_remote_span_context(a.clone()),
                &mut from_sdk,
            );
            let back_in_sdk = sdk.extract_with_context(&Context::new(), &from_ours);
            let back_in_ours = ours.extract_with_context(&Context::new(), &from_sdk);
            assert_eq!(back_in_sdk.span().span_context(), &b, "{traceparent}");
            let back = back_in_ours.span().span_context().clone();
            assert_eq!(
                (back.trace_id(), back.span_id(), back.trace_state()),
                (a.trace_id(), a.span_id(), a.trace_state())
            );
            // Same traceparent when there is no random bit; we omit an empty tracestate.
            assert_eq!(
                from_ours["traceparent"], from_sdk["traceparent"],
                "{traceparent}"
            );
            assert_eq!(
                from_ours
                    .get("tracestate")
                    .map(String::as_str)
                    .unwrap_or(""),
                from_sdk["tracestate"]
            );
        }
    }
}
