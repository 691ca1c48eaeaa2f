//! B3 propagation (Zipkin), single header (`b3`) and multiple headers (`X-B3-*`).
//!
//! Follows the openzipkin B3 specification and the OpenTelemetry rules for B3
//! (spec `context/api-propagators.md` §B3):
//!
//! * extract tries the single header first, then the multiple headers: a valid
//!   `b3` header wins; a missing or malformed one falls back to `X-B3-*`;
//! * trace ids of 16 or 32 lowercase hex digits (64-bit ids are left-padded with
//!   zeros to 128 bits), span ids of 16 lowercase hex digits, never all zeros;
//! * the debug flag (`b3: …-d`, `X-B3-Flags: 1`) implies sampled and is kept in
//!   the [`Context`] as [`ForceKeep`](crate::sampling::ForceKeep) (OTel's
//!   `SpanContext` has no debug bit), then re-propagated on inject;
//! * `X-B3-ParentSpanId` is validated when present but never injected;
//! * the first value of a header wins (also when a carrier joined repeated
//!   headers with `,`); an empty or garbage value makes the whole input
//!   malformed, and a malformed input leaves the context unchanged.
//!
//! Header names are injected in lowercase (`b3`, `x-b3-traceid`, …): HTTP/2 and
//! gRPC require lowercase names and HTTP/1 names are case-insensitive.
//! [`fields`](TextMapPropagator::fields) returns the same lowercase names.

use std::sync::LazyLock;

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};

use super::hex;
use crate::sampling::{is_force_keep, with_force_keep};

/// Single header name.
pub(crate) const B3_SINGLE: &str = "b3";
/// Multiple-header trace id.
pub(crate) const B3_TRACE_ID: &str = "x-b3-traceid";
/// Multiple-header span id.
pub(crate) const B3_SPAN_ID: &str = "x-b3-spanid";
/// Multiple-header parent span id (read and validated, never injected).
pub(crate) const B3_PARENT_SPAN_ID: &str = "x-b3-parentspanid";
/// Multiple-header sampling decision.
pub(crate) const B3_SAMPLED: &str = "x-b3-sampled";
/// Multiple-header flags (`1` = debug).
pub(crate) const B3_FLAGS: &str = "x-b3-flags";

/// Every header of the B3 family, including the never-injected parent span id.
pub(crate) const B3_FAMILY: [&str; 6] = [
    B3_SINGLE,
    B3_TRACE_ID,
    B3_SPAN_ID,
    B3_PARENT_SPAN_ID,
    B3_SAMPLED,
    B3_FLAGS,
];

static SINGLE_FIELDS: LazyLock<[String; 1]> = LazyLock::new(|| [B3_SINGLE.to_owned()]);
static MULTI_FIELDS: LazyLock<[String; 4]> = LazyLock::new(|| {
    [
        B3_TRACE_ID.to_owned(),
        B3_SPAN_ID.to_owned(),
        B3_SAMPLED.to_owned(),
        B3_FLAGS.to_owned(),
    ]
});
static BOTH_FIELDS: LazyLock<[String; 5]> = LazyLock::new(|| {
    [
        B3_SINGLE.to_owned(),
        B3_TRACE_ID.to_owned(),
        B3_SPAN_ID.to_owned(),
        B3_SAMPLED.to_owned(),
        B3_FLAGS.to_owned(),
    ]
});

/// Which B3 header form [`B3Propagator`] injects. Extraction always accepts both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum B3Encoding {
    /// One `b3: {TraceId}-{SpanId}-{SamplingState}` header (`OTEL_PROPAGATORS=b3`,
    /// the OpenTelemetry default for B3).
    #[default]
    SingleHeader,
    /// `X-B3-TraceId`, `X-B3-SpanId` and `X-B3-Sampled` or `X-B3-Flags`
    /// (`OTEL_PROPAGATORS=b3multi`).
    MultipleHeaders,
    /// Both forms at once, for migrating a fleet from one form to the other.
    SingleAndMultipleHeaders,
}

/// Zipkin B3 [`TextMapPropagator`].
///
/// Extract accepts both forms (single header first). Inject writes the form
/// chosen by [`B3Encoding`]: `B3Propagator::single()` (the default) or
/// `B3Propagator::multi()`.
///
/// # Sampling-only headers
///
/// B3 allows a sampling decision without ids (`b3: 0`, or `X-B3-Sampled: 0`
/// alone), sent by an upstream that decided not to trace. No `SpanContext`
/// can be built from it, yet the decision should be respected. When the
/// context being extracted into has no valid span context, this propagator
/// stores a *remote, invalid* `SpanContext` (zero ids) carrying the decision
/// in its sampled flag:
///
/// * a parent-based sampler sees a remote parent that is not sampled and
///   drops the new span, which still starts a fresh trace id (the SDK never
///   reuses an invalid parent's ids); `b3: 1` likewise marks it sampled, and
///   `b3: d` additionally sets `ForceKeep`;
/// * injecting such a context as-is (a proxy forwarding without a span)
///   re-emits the bare decision (`b3: 0`, `x-b3-sampled: 0`, …); other
///   propagators see an invalid span context and inject nothing.
///
/// When the context already holds a valid span context (e.g. extracted by a
/// propagator earlier in a composite), a sampling-only B3 header leaves it
/// unchanged, except that `d` still sets `ForceKeep`.
///
/// # In a composite
///
/// When the context already holds the same span (same trace and span id, e.g.
/// from a `traceparent` sent alongside the B3 headers, as Istio does), its
/// `tracestate` and other trace-flag bits are kept, and so is its sampling
/// decision when B3 defers.
///
/// # Deferred decisions
///
/// An absent sampling state (`b3: {TraceId}-{SpanId}`) means "defer". OTel's
/// `SpanContext` has only a sampled bit, so a deferred decision is extracted
/// as not sampled (as the OTel Java and JS propagators do) and is re-injected
/// as `0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct B3Propagator {
    encoding: B3Encoding,
}

impl B3Propagator {
    /// A propagator that injects the single `b3` header.
    pub const fn single() -> Self {
        Self::with_encoding(B3Encoding::SingleHeader)
    }

    /// A propagator that injects the multiple `X-B3-*` headers.
    pub const fn multi() -> Self {
        Self::with_encoding(B3Encoding::MultipleHeaders)
    }

    /// A propagator that injects the given header form(s).
    pub const fn with_encoding(encoding: B3Encoding) -> Self {
        Self { encoding }
    }

    /// The header form(s) this propagator injects.
    pub const fn encoding(&self) -> B3Encoding {
        self.encoding
    }
}

/// A B3 sampling state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sampling {
    /// `0`, `false`.
    Deny,
    /// `1`, `true`.
    Accept,
    /// `d`, `X-B3-Flags: 1`: accept and force-keep.
    Debug,
    /// Absent: the receiver decides.
    Defer,
}

/// What a valid B3 input carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct B3State {
    ids: Option<(TraceId, SpanId)>,
    sampling: Sampling,
}

/// The first value of a possibly comma-joined header, without surrounding
/// spaces or tabs. B3 values never contain a comma.
fn first_value(v: &str) -> &str {
    let first = v.split_once(',').map_or(v, |(first, _)| first);
    first.trim_matches([' ', '\t'])
}

/// 16 or 32 lowercase hex digits (16 are left-padded), not all zeros.
fn parse_trace_id(s: &str) -> Option<TraceId> {
    let v = if let Ok(long) = <&[u8; 32]>::try_from(s.as_bytes()) {
        hex::decode_lower_u128(long)?
    } else {
        u128::from(parse_hex16(s)?)
    };
    (v != 0).then(|| TraceId::from(v))
}

/// Exactly 16 lowercase hex digits.
fn parse_hex16(s: &str) -> Option<u64> {
    hex::decode_lower_u64(<&[u8; 16]>::try_from(s.as_bytes()).ok()?)
}

/// Exactly 16 lowercase hex digits, not all zeros.
fn parse_span_id(s: &str) -> Option<SpanId> {
    match parse_hex16(s)? {
        0 => None,
        v => Some(SpanId::from(v)),
    }
}

/// The single-header sampling state (`1`, `0` or `d`).
fn parse_single_state(s: &str) -> Option<Sampling> {
    match s {
        "1" => Some(Sampling::Accept),
        "0" => Some(Sampling::Deny),
        "d" => Some(Sampling::Debug),
        _ => None,
    }
}

/// `{TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]` or `{SamplingState}`.
fn parse_single(value: &str) -> Option<B3State> {
    let value = first_value(value);
    let mut parts = value.split('-');
    let first = parts.next()?;
    let Some(span_id) = parts.next() else {
        return Some(B3State {
            ids: None,
            sampling: parse_single_state(first)?,
        });
    };
    let ids = Some((parse_trace_id(first)?, parse_span_id(span_id)?));
    let sampling = match parts.next() {
        None => Sampling::Defer,
        Some(state) => parse_single_state(state)?,
    };
    if let Some(parent) = parts.next() {
        // Validated (garbage is malformed), then ignored: the parent of the
        // span we continue is of no use to us.
        parse_hex16(parent)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(B3State { ids, sampling })
}

/// `X-B3-Sampled`: `1`/`0`, leniently `true`/`false` (any case).
fn parse_sampled(s: &str) -> Option<bool> {
    match s {
        "1" => Some(true),
        "0" => Some(false),
        _ if s.eq_ignore_ascii_case("true") => Some(true),
        _ if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The `X-B3-*` headers. `None` when absent or malformed.
fn parse_multi(extractor: &dyn Extractor) -> Option<B3State> {
    let get = |name| extractor.get(name).map(first_value);
    let sampled = match get(B3_SAMPLED) {
        None => None,
        Some(v) => Some(parse_sampled(v)?),
    };
    let debug = match get(B3_FLAGS) {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return None,
    };
    if let Some(parent) = get(B3_PARENT_SPAN_ID) {
        parse_hex16(parent)?;
    }
    let ids = match (get(B3_TRACE_ID), get(B3_SPAN_ID)) {
        (Some(trace_id), Some(span_id)) => {
            Some((parse_trace_id(trace_id)?, parse_span_id(span_id)?))
        }
        (None, None) => None,
        _ => return None,
    };
    let sampling = match (debug, sampled) {
        (true, _) => Sampling::Debug,
        (false, Some(true)) => Sampling::Accept,
        (false, Some(false)) => Sampling::Deny,
        (false, None) => Sampling::Defer,
    };
    if ids.is_none() && sampling == Sampling::Defer {
        // Nothing but (at most) a parent span id: no B3 data.
        return None;
    }
    Some(B3State { ids, sampling })
}

/// Single header first, then multiple headers.
fn extract_state(extractor: &dyn Extractor) -> Option<B3State> {
    extractor
        .get(B3_SINGLE)
        .and_then(parse_single)
        .or_else(|| parse_multi(extractor))
}

fn apply(cx: &Context, state: B3State) -> Context {
    let sampled = matches!(state.sampling, Sampling::Accept | Sampling::Debug);
    let flags = TraceFlags::default().with_sampled(sampled);
    let cx = match state.ids {
        Some((trace_id, span_id)) => {
            let span = cx.span();
            let existing = span.span_context();
            let sc = if existing.trace_id() == trace_id && existing.span_id() == span_id {
                // The same span, already extracted by another propagator of the
                // composite (Istio sends traceparent and x-b3-* together): keep its
                // tracestate and other flag bits, and its decision when B3 defers.
                let flags = match state.sampling {
                    Sampling::Defer => existing.trace_flags(),
                    _ => existing.trace_flags().with_sampled(sampled),
                };
                SpanContext::new(
                    trace_id,
                    span_id,
                    flags,
                    true,
                    existing.trace_state().clone(),
                )
            } else {
                SpanContext::new(trace_id, span_id, flags, true, TraceState::NONE)
            };
            cx.with_remote_span_context(sc)
        }
        None if cx.span().span_context().is_valid() => cx.clone(),
        None => {
            let sc = SpanContext::new(
                TraceId::INVALID,
                SpanId::INVALID,
                flags,
                true,
                TraceState::NONE,
            );
            cx.with_remote_span_context(sc)
        }
    };
    if state.sampling == Sampling::Debug {
        with_force_keep(&cx)
    } else {
        cx
    }
}

/// Appends ASCII bytes (hex codec output) to a string.
fn push_ascii(out: &mut String, bytes: &[u8]) {
    out.extend(bytes.iter().map(|&b| char::from(b)));
}

fn trace_id_hex(trace_id: TraceId) -> String {
    let mut buf = [0u8; 32];
    hex::encode_u128(u128::from_be_bytes(trace_id.to_bytes()), &mut buf);
    let mut out = String::with_capacity(32 + 1 + 16 + 2);
    push_ascii(&mut out, &buf);
    out
}

fn span_id_hex(span_id: SpanId) -> [u8; 16] {
    let mut buf = [0u8; 16];
    hex::encode_u64(u64::from_be_bytes(span_id.to_bytes()), &mut buf);
    buf
}

impl B3Propagator {
    fn injects_single(&self) -> bool {
        matches!(
            self.encoding,
            B3Encoding::SingleHeader | B3Encoding::SingleAndMultipleHeaders
        )
    }

    fn injects_multi(&self) -> bool {
        matches!(
            self.encoding,
            B3Encoding::MultipleHeaders | B3Encoding::SingleAndMultipleHeaders
        )
    }
}

impl TextMapPropagator for B3Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        let state = if is_force_keep(cx) {
            Sampling::Debug
        } else if sc.is_sampled() {
            Sampling::Accept
        } else {
            Sampling::Deny
        };
        if sc.is_valid() {
            let trace_id = trace_id_hex(sc.trace_id());
            let span_id = span_id_hex(sc.span_id());
            if self.injects_multi() {
                let mut s = String::with_capacity(16);
                push_ascii(&mut s, &span_id);
                injector.set(B3_TRACE_ID, trace_id.clone());
                injector.set(B3_SPAN_ID, s);
            }
            if self.injects_single() {
                let mut value = trace_id;
                value.push('-');
                push_ascii(&mut value, &span_id);
                value.push_str(match state {
                    Sampling::Debug => "-d",
                    Sampling::Accept => "-1",
                    Sampling::Deny | Sampling::Defer => "-0",
                });
                injector.set(B3_SINGLE, value);
            }
        } else if !sc.is_remote() {
            // No span at all (or a local invalid one): nothing to propagate.
            return;
        } else if self.injects_single() {
            // A sampling-only decision extracted from upstream (see the type docs).
            let value = match state {
                Sampling::Debug => "d",
                Sampling::Accept => "1",
                Sampling::Deny | Sampling::Defer => "0",
            };
            injector.set(B3_SINGLE, value.to_owned());
        }
        if self.injects_multi() {
            // Reached with a valid span context or a remote sampling-only one.
            match state {
                // Debug implies accept: X-B3-Sampled is not sent with it.
                Sampling::Debug => injector.set(B3_FLAGS, "1".to_owned()),
                Sampling::Accept => injector.set(B3_SAMPLED, "1".to_owned()),
                Sampling::Deny | Sampling::Defer => injector.set(B3_SAMPLED, "0".to_owned()),
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extract_state(extractor) {
            Some(state) => apply(cx, state),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        match self.encoding {
            B3Encoding::SingleHeader => FieldIter::new(&SINGLE_FIELDS[..]),
            B3Encoding::MultipleHeaders => FieldIter::new(&MULTI_FIELDS[..]),
            B3Encoding::SingleAndMultipleHeaders => FieldIter::new(&BOTH_FIELDS[..]),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::propagation::TraceContextPropagator;
    use opentelemetry::propagation::TextMapCompositePropagator;
    use opentelemetry::trace::{Span, Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

    use super::*;
    use crate::sampling::is_force_keep;

    const TRACE_ID: u128 = 0x80f198ee56343ba864fe8b2a57d3eff7;
    const TRACE_ID_HEX: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const SHORT_TRACE_ID_HEX: &str = "64fe8b2a57d3eff7";
    const SPAN_ID: u64 = 0xe457b5a2e4d86bd1;
    const SPAN_ID_HEX: &str = "e457b5a2e4d86bd1";
    const PARENT_HEX: &str = "05e3ac9a4f6e3b90";

    /// A marker proving that extract builds on the given context.
    #[derive(Debug, PartialEq)]
    struct Marker(u8);

    fn base() -> Context {
        Context::new().with_value(Marker(7))
    }

    fn carrier(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect()
    }

    /// A carrier that keeps repeated headers, `get` returning the first one.
    #[derive(Debug, Default)]
    struct MultiValue(Vec<(String, String)>);

    impl Extractor for MultiValue {
        fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.iter().map(|(k, _)| k.as_str()).collect()
        }
    }

    fn extract(p: &B3Propagator, pairs: &[(&str, &str)]) -> Context {
        p.extract_with_context(&base(), &carrier(pairs))
    }

    fn sc_of(cx: &Context) -> SpanContext {
        cx.span().span_context().clone()
    }

    fn remote(trace_id: u128, span_id: u64, sampled: bool) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace_id),
            SpanId::from(span_id),
            TraceFlags::default().with_sampled(sampled),
            true,
            TraceState::NONE,
        )
    }

    fn inject(p: &B3Propagator, cx: &Context) -> HashMap<String, String> {
        let mut out = HashMap::new();
        p.inject_context(cx, &mut out);
        out
    }

    fn assert_unchanged(cx: &Context, case: &str) {
        assert_eq!(
            cx.get::<Marker>(),
            Some(&Marker(7)),
            "{case}: base context lost"
        );
        assert!(!cx.has_active_span(), "{case}: a span context was set");
        assert!(!is_force_keep(cx), "{case}: force-keep was set");
    }

    #[test]
    fn extracts_valid_single_headers() {
        let full = format!("{TRACE_ID_HEX}-{SPAN_ID_HEX}");
        let short = format!("{SHORT_TRACE_ID_HEX}-{SPAN_ID_HEX}");
        // (value, trace id, sampled, debug)
        let cases: Vec<(String, u128, bool, bool)> = vec![
            (format!("{full}-1"), TRACE_ID, true, false),
            (format!("{full}-0"), TRACE_ID, false, false),
            (format!("{full}-d"), TRACE_ID, true, true),
            (full.clone(), TRACE_ID, false, false), // defer
            (format!("{full}-1-{PARENT_HEX}"), TRACE_ID, true, false),
            (format!("{full}-0-{PARENT_HEX}"), TRACE_ID, false, false),
            (format!("{short}-1"), 0x64fe8b2a57d3eff7, true, false),
            (format!(" {full}-1\t"), TRACE_ID, true, false),
            // A carrier joining repeated headers: the first value wins.
            (format!("{full}-1, {short}-0"), TRACE_ID, true, false),
        ];
        for (value, trace_id, sampled, debug) in cases {
            let cx = extract(&B3Propagator::single(), &[("b3", &value)]);
            assert_eq!(sc_of(&cx), remote(trace_id, SPAN_ID, sampled), "{value}");
            assert_eq!(is_force_keep(&cx), debug, "{value}");
            assert_eq!(cx.get::<Marker>(), Some(&Marker(7)), "{value}");
        }
    }

    #[test]
    fn rejects_malformed_single_headers() {
        let full = format!("{TRACE_ID_HEX}-{SPAN_ID_HEX}");
        let cases: Vec<String> = vec![
            String::new(),
            " ".into(),
            "-".into(),
            "--".into(),
            ",".into(),
            "2".into(),
            "dd".into(),
            "true".into(),
            "D".into(),
            TRACE_ID_HEX.into(),                                // trace id alone
            format!("{TRACE_ID_HEX}-"),                         // empty span id
            format!("-{SPAN_ID_HEX}-1"),                        // empty trace id
            format!("{}-{SPAN_ID_HEX}-1", &TRACE_ID_HEX[1..]),  // 31 digits
            format!("{TRACE_ID_HEX}0-{SPAN_ID_HEX}-1"),         // 33 digits
            format!("{}-{SPAN_ID_HEX}-1", &TRACE_ID_HEX[..20]), // 20 digits
            format!("{}-{SPAN_ID_HEX}-1", &SHORT_TRACE_ID_HEX[1..]), // 15 digits
            format!("{}-{SPAN_ID_HEX}-1", TRACE_ID_HEX.to_uppercase()),
            format!("{TRACE_ID_HEX}-{}-1", SPAN_ID_HEX.to_uppercase()),
            format!("{}-{SPAN_ID_HEX}-1", "0".repeat(32)), // zero trace id
            format!("{}-{SPAN_ID_HEX}-1", "0".repeat(16)),
            format!("{TRACE_ID_HEX}-{}-1", "0".repeat(16)), // zero span id
            format!("{TRACE_ID_HEX}-{}-1", &SPAN_ID_HEX[1..]),
            format!("{TRACE_ID_HEX}-{SPAN_ID_HEX}0-1"),
            format!("{}g-{SPAN_ID_HEX}-1", &TRACE_ID_HEX[1..]),
            format!("{full}-"), // empty sampling state
            format!("{full}-2"),
            format!("{full}-true"),
            format!("{full}-D"),
            format!("{full}-1-"), // empty parent
            format!("{full}-1-{}", &PARENT_HEX[1..]),
            format!("{full}-1-{PARENT_HEX}x"),
            format!("{full}-1-{PARENT_HEX}-"),
            format!("{full}-1-{PARENT_HEX}-1"),
            format!("{full}_1"),
            format!("{TRACE_ID_HEX}-é{}-1", &SPAN_ID_HEX[2..]),
        ];
        for value in cases {
            let cx = extract(&B3Propagator::single(), &[("b3", &value)]);
            assert_unchanged(&cx, &value);
        }
    }

    #[test]
    fn extracts_valid_multi_headers() {
        // (headers, trace id, sampled, debug)
        type Case<'a> = (Vec<(&'a str, &'a str)>, u128, bool, bool);
        let cases: Vec<Case<'_>> = vec![
            (vec![("X-B3-Sampled", "1")], TRACE_ID, true, false),
            (vec![("X-B3-Sampled", "0")], TRACE_ID, false, false),
            (vec![("X-B3-Sampled", "true")], TRACE_ID, true, false),
            (vec![("X-B3-Sampled", "False")], TRACE_ID, false, false),
            (vec![], TRACE_ID, false, false), // defer
            (vec![("X-B3-Flags", "1")], TRACE_ID, true, true),
            (
                vec![("X-B3-Flags", "1"), ("X-B3-Sampled", "0")],
                TRACE_ID,
                true,
                true,
            ),
            (
                vec![("X-B3-Flags", "0"), ("X-B3-Sampled", "1")],
                TRACE_ID,
                true,
                false,
            ),
            (
                vec![("X-B3-ParentSpanId", PARENT_HEX), ("X-B3-Sampled", "1")],
                TRACE_ID,
                true,
                false,
            ),
            (
                vec![("X-B3-TraceId", SHORT_TRACE_ID_HEX), ("X-B3-Sampled", "1")],
                0x64fe8b2a57d3eff7,
                true,
                false,
            ),
            (vec![("X-B3-Sampled", "1, 0")], TRACE_ID, true, false),
        ];
        for (extra, trace_id, sampled, debug) in cases {
            let mut headers = vec![("X-B3-TraceId", TRACE_ID_HEX), ("X-B3-SpanId", SPAN_ID_HEX)];
            headers.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
            headers.extend(extra.iter().copied());
            let cx = extract(&B3Propagator::multi(), &headers);
            assert_eq!(
                sc_of(&cx),
                remote(trace_id, SPAN_ID, sampled),
                "{headers:?}"
            );
            assert_eq!(is_force_keep(&cx), debug, "{headers:?}");
        }
    }

    #[test]
    fn rejects_malformed_multi_headers() {
        let good = [("X-B3-TraceId", TRACE_ID_HEX), ("X-B3-SpanId", SPAN_ID_HEX)];
        let zeros32 = "0".repeat(32);
        let zeros16 = "0".repeat(16);
        let upper = TRACE_ID_HEX.to_uppercase();
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![("X-B3-TraceId", TRACE_ID_HEX)], // span id missing
            vec![("X-B3-SpanId", SPAN_ID_HEX)],   // trace id missing
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-Sampled", ""),
            ],
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-Sampled", "2"),
            ],
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-Sampled", "yes"),
            ],
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-Sampled", "d"),
            ],
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-Flags", ""),
            ],
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-Flags", "2"),
            ],
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-Flags", "true"),
            ],
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-ParentSpanId", ""),
            ],
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-ParentSpanId", "abc"),
            ],
            vec![
                ("X-B3-TraceId", ""),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-Sampled", "1"),
            ],
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", ""),
                ("X-B3-Sampled", "1"),
            ],
            vec![
                ("X-B3-TraceId", &zeros32),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-Sampled", "1"),
            ],
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", &zeros16),
                ("X-B3-Sampled", "1"),
            ],
            vec![
                ("X-B3-TraceId", &upper),
                ("X-B3-SpanId", SPAN_ID_HEX),
                ("X-B3-Sampled", "1"),
            ],
            vec![
                ("X-B3-TraceId", &TRACE_ID_HEX[..24]),
                ("X-B3-SpanId", SPAN_ID_HEX),
            ],
            vec![
                ("X-B3-TraceId", TRACE_ID_HEX),
                ("X-B3-SpanId", &TRACE_ID_HEX[..15]),
            ],
            vec![("X-B3-Sampled", "")],
            vec![("X-B3-Flags", "x")],
            vec![("X-B3-ParentSpanId", PARENT_HEX)], // no B3 data at all
            vec![],
        ];
        for headers in cases {
            let cx = extract(&B3Propagator::multi(), &headers);
            assert_unchanged(&cx, &format!("{headers:?}"));
        }
        // Sanity: the good pair alone is accepted (defer).
        assert!(sc_of(&extract(&B3Propagator::multi(), &good)).is_valid());
    }

    #[test]
    fn single_header_wins_over_multi_and_malformed_single_falls_back() {
        let single = format!("{TRACE_ID_HEX}-{SPAN_ID_HEX}-1");
        let other_span = "1111111111111111";
        let multi = [
            ("X-B3-TraceId", SHORT_TRACE_ID_HEX),
            ("X-B3-SpanId", other_span),
            ("X-B3-Sampled", "0"),
        ];
        let mut both = multi.to_vec();
        both.push(("b3", &single));
        let cx = extract(&B3Propagator::multi(), &both);
        assert_eq!(sc_of(&cx), remote(TRACE_ID, SPAN_ID, true));

        let mut bad_single = multi.to_vec();
        bad_single.push(("b3", "garbage"));
        let cx = extract(&B3Propagator::single(), &bad_single);
        assert_eq!(
            sc_of(&cx),
            remote(0x64fe8b2a57d3eff7, 0x1111111111111111, false)
        );
    }

    #[test]
    fn first_of_repeated_headers_wins() {
        let first = format!("{TRACE_ID_HEX}-{SPAN_ID_HEX}-1");
        let second = format!("{SHORT_TRACE_ID_HEX}-1111111111111111-0");
        let carrier = MultiValue(vec![("B3".into(), first), ("b3".into(), second)]);
        let cx = B3Propagator::single().extract_with_context(&base(), &carrier);
        assert_eq!(sc_of(&cx), remote(TRACE_ID, SPAN_ID, true));

        let carrier = MultiValue(vec![
            ("x-b3-traceid".into(), TRACE_ID_HEX.into()),
            ("X-B3-SPANID".into(), SPAN_ID_HEX.into()),
            ("x-b3-sampled".into(), "1".into()),
            ("x-b3-sampled".into(), "0".into()),
        ]);
        let cx = B3Propagator::multi().extract_with_context(&base(), &carrier);
        assert_eq!(sc_of(&cx), remote(TRACE_ID, SPAN_ID, true));
    }

    #[test]
    fn injects_single_and_multi() {
        // (sampled, force-keep, single value suffix, multi sampled, multi flags)
        let cases = [
            (true, false, "-1", Some("1"), None),
            (false, false, "-0", Some("0"), None),
            (true, true, "-d", None, Some("1")),
            (false, true, "-d", None, Some("1")),
        ];
        for (sampled, debug, suffix, multi_sampled, multi_flags) in cases {
            let mut cx =
                Context::new().with_remote_span_context(remote(TRACE_ID, SPAN_ID, sampled));
            if debug {
                cx = with_force_keep(&cx);
            }
            let single = inject(&B3Propagator::single(), &cx);
            let expected = format!("{TRACE_ID_HEX}-{SPAN_ID_HEX}{suffix}");
            assert_eq!(single, carrier(&[("b3", &expected)]));

            let multi = inject(&B3Propagator::multi(), &cx);
            let mut expected = vec![("x-b3-traceid", TRACE_ID_HEX), ("x-b3-spanid", SPAN_ID_HEX)];
            if let Some(s) = multi_sampled {
                expected.push(("x-b3-sampled", s));
            }
            if let Some(f) = multi_flags {
                expected.push(("x-b3-flags", f));
            }
            assert_eq!(multi, carrier(&expected));
            assert!(!multi.contains_key(B3_PARENT_SPAN_ID));

            let both = inject(
                &B3Propagator::with_encoding(B3Encoding::SingleAndMultipleHeaders),
                &cx,
            );
            assert_eq!(both.len(), single.len() + multi.len());
        }
    }

    #[test]
    fn injects_lowercase_names_through_a_case_keeping_carrier() {
        #[derive(Default)]
        struct Recorder(Vec<(String, String)>);
        impl Injector for Recorder {
            fn set(&mut self, key: &str, value: String) {
                self.0.push((key.to_owned(), value));
            }
        }
        let cx = Context::new().with_remote_span_context(remote(TRACE_ID, SPAN_ID, true));
        let mut out = Recorder::default();
        B3Propagator::with_encoding(B3Encoding::SingleAndMultipleHeaders)
            .inject_context(&cx, &mut out);
        let names: Vec<&str> = out.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["x-b3-traceid", "x-b3-spanid", "b3", "x-b3-sampled"]);
    }

    #[test]
    fn injects_nothing_without_a_span_context() {
        for p in [B3Propagator::single(), B3Propagator::multi()] {
            assert!(inject(&p, &Context::new()).is_empty());
            // Force-keep alone (e.g. from a mesh force-trace header) has no ids to send.
            assert!(inject(&p, &with_force_keep(&Context::new())).is_empty());
        }
    }

    #[test]
    fn round_trips_both_encodings() {
        for p in [
            B3Propagator::single(),
            B3Propagator::multi(),
            B3Propagator::with_encoding(B3Encoding::SingleAndMultipleHeaders),
        ] {
            for (trace_id, sampled, debug) in [
                (TRACE_ID, true, false),
                (TRACE_ID, false, false),
                (TRACE_ID, true, true),
                (0x64fe8b2a57d3eff7, true, false),
            ] {
                let mut cx =
                    Context::new().with_remote_span_context(remote(trace_id, SPAN_ID, sampled));
                if debug {
                    cx = with_force_keep(&cx);
                }
                let wire = inject(&p, &cx);
                let back = p.extract_with_context(&Context::new(), &wire);
                assert_eq!(
                    sc_of(&back),
                    remote(trace_id, SPAN_ID, sampled),
                    "{p:?} {wire:?}"
                );
                assert_eq!(is_force_keep(&back), debug, "{p:?} {wire:?}");
            }
        }
    }

    #[test]
    fn debug_flag_is_kept_and_repropagated() {
        let incoming = carrier(&[
            ("X-B3-TraceId", TRACE_ID_HEX),
            ("X-B3-SpanId", SPAN_ID_HEX),
            ("X-B3-Flags", "1"),
        ]);
        let cx = B3Propagator::multi().extract_with_context(&Context::new(), &incoming);
        assert!(is_force_keep(&cx));
        assert!(sc_of(&cx).is_sampled());
        // The handler's client span: new span id, same context values.
        let child = cx.with_remote_span_context(remote(TRACE_ID, 0x0102030405060708, true));
        let single = inject(&B3Propagator::single(), &child);
        assert_eq!(single["b3"], format!("{TRACE_ID_HEX}-0102030405060708-d"));
        let multi = inject(&B3Propagator::multi(), &child);
        assert_eq!(multi.get("x-b3-flags").map(String::as_str), Some("1"));
        assert!(!multi.contains_key("x-b3-sampled"));
    }

    #[test]
    fn sampling_only_headers() {
        // (headers, sampled, debug, single re-injected, multi re-injected)
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            bool,
            bool,
            &'a str,
            (&'a str, &'a str),
        );
        let cases: [Case<'_>; 5] = [
            (&[("b3", "0")], false, false, "0", ("x-b3-sampled", "0")),
            (&[("b3", "1")], true, false, "1", ("x-b3-sampled", "1")),
            (&[("b3", "d")], true, true, "d", ("x-b3-flags", "1")),
            (
                &[("X-B3-Sampled", "0")],
                false,
                false,
                "0",
                ("x-b3-sampled", "0"),
            ),
            (&[("X-B3-Flags", "1")], true, true, "d", ("x-b3-flags", "1")),
        ];
        for (headers, sampled, debug, single, multi) in cases {
            let cx = extract(&B3Propagator::single(), headers);
            let sc = sc_of(&cx);
            assert!(cx.has_active_span(), "{headers:?}");
            assert!(!sc.is_valid() && sc.is_remote(), "{headers:?}");
            assert_eq!(sc.is_sampled(), sampled, "{headers:?}");
            assert_eq!(is_force_keep(&cx), debug, "{headers:?}");
            assert_eq!(
                inject(&B3Propagator::single(), &cx),
                carrier(&[("b3", single)])
            );
            assert_eq!(inject(&B3Propagator::multi(), &cx), carrier(&[multi]));
            // W3C has nothing to say about a context without ids.
            let mut w3c = HashMap::new();
            TraceContextPropagator::new().inject_context(&cx, &mut w3c);
            assert!(w3c.is_empty(), "{headers:?}");
        }
    }

    #[test]
    fn sampling_only_header_keeps_an_already_extracted_span_context() {
        let existing = Context::new().with_remote_span_context(remote(TRACE_ID, SPAN_ID, true));
        let cx = B3Propagator::single().extract_with_context(&existing, &carrier(&[("b3", "0")]));
        assert_eq!(sc_of(&cx), remote(TRACE_ID, SPAN_ID, true));
        let cx = B3Propagator::single().extract_with_context(&existing, &carrier(&[("b3", "d")]));
        assert_eq!(sc_of(&cx), remote(TRACE_ID, SPAN_ID, true));
        assert!(is_force_keep(&cx));
    }

    #[test]
    fn same_span_from_w3c_keeps_tracestate_and_decision() {
        let traceparent = format!("00-{TRACE_ID_HEX}-{SPAN_ID_HEX}-01");
        let composite = TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(B3Propagator::single()),
        ]);
        let other = format!("{TRACE_ID_HEX}-1111111111111111-1");
        let defer = format!("{TRACE_ID_HEX}-{SPAN_ID_HEX}");
        let deny = format!("{TRACE_ID_HEX}-{SPAN_ID_HEX}-0");
        // (b3 value, span id, sampled, tracestate kept)
        let cases = [
            (defer.as_str(), SPAN_ID, true, true),
            (deny.as_str(), SPAN_ID, false, true),
            (other.as_str(), 0x1111111111111111, true, false),
        ];
        for (b3, span_id, sampled, kept) in cases {
            let incoming = carrier(&[
                ("traceparent", &traceparent),
                ("tracestate", "k=v"),
                ("b3", b3),
            ]);
            let cx = composite.extract_with_context(&Context::new(), &incoming);
            let sc = sc_of(&cx);
            assert_eq!(
                (sc.span_id(), sc.is_sampled()),
                (SpanId::from(span_id), sampled),
                "{b3}"
            );
            let state = if kept { Some("v") } else { None };
            assert_eq!(sc.trace_state().get("k"), state, "{b3}");
        }
    }

    #[test]
    fn deny_without_ids_is_respected_by_a_parent_based_sampler() {
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .build();
        let tracer = provider.tracer("b3-test");
        for (value, sampled) in [("0", false), ("1", true)] {
            let cx = extract(&B3Propagator::single(), &[("b3", value)]);
            let span = tracer.start_with_context("server", &cx);
            let sc = span.span_context();
            assert!(sc.is_valid(), "a fresh trace is started");
            assert_eq!(sc.is_sampled(), sampled, "b3: {value}");
            assert_eq!(span.is_recording(), sampled, "b3: {value}");
        }
        // And without any B3 header the root sampler decides (AlwaysOn).
        let span = tracer.start_with_context("server", &Context::new());
        assert!(span.span_context().is_sampled());
    }

    #[test]
    fn fields_per_encoding() {
        let fields = |p: B3Propagator| p.fields().map(String::from).collect::<Vec<_>>();
        assert_eq!(fields(B3Propagator::single()), ["b3"]);
        assert_eq!(fields(B3Propagator::default()), ["b3"]);
        assert_eq!(
            fields(B3Propagator::multi()),
            ["x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"]
        );
        assert_eq!(
            fields(B3Propagator::with_encoding(
                B3Encoding::SingleAndMultipleHeaders
            )),
            [
                "b3",
                "x-b3-traceid",
                "x-b3-spanid",
                "x-b3-sampled",
                "x-b3-flags"
            ]
        );
    }

    #[test]
    fn interop_b3_in_w3c_out_keeps_ids() {
        // Ours, and the SDK's as a cross-check.
        let w3c: [&dyn TextMapPropagator; 2] = [
            &TraceContextPropagator::new(),
            &opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        ];
        for w3c in w3c {
            for (b3, flags) in [("1", "01"), ("0", "00"), ("d", "01")] {
                let value = format!("{SHORT_TRACE_ID_HEX}-{SPAN_ID_HEX}-{b3}");
                let cx = extract(&B3Propagator::single(), &[("b3", &value)]);
                let mut out = HashMap::new();
                w3c.inject_context(&cx, &mut out);
                let expected =
                    format!("00-0000000000000000{SHORT_TRACE_ID_HEX}-{SPAN_ID_HEX}-{flags}");
                assert_eq!(out.get("traceparent"), Some(&expected), "{w3c:?}");
                // And back again: W3C in, B3 out.
                let back = w3c.extract_with_context(&Context::new(), &out);
                let b3_out = inject(&B3Propagator::single(), &back);
                let state = if flags == "01" { "1" } else { "0" };
                let expected =
                    format!("0000000000000000{SHORT_TRACE_ID_HEX}-{SPAN_ID_HEX}-{state}");
                assert_eq!(b3_out["b3"], expected, "{w3c:?}");
            }
        }
    }

    #[test]
    fn composite_with_w3c_and_a_real_span() {
        let composite = TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(B3Propagator::multi()),
        ]);
        let incoming = carrier(&[("b3", &format!("{TRACE_ID_HEX}-{SPAN_ID_HEX}-d"))]);
        let cx = composite.extract_with_context(&Context::new(), &incoming);
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
            .build();
        let span = provider.tracer("b3-test").start_with_context("client", &cx);
        let child_span_id = span.span_context().span_id();
        assert_ne!(
            child_span_id,
            SpanId::from(SPAN_ID),
            "never reuse the incoming span id"
        );
        let child = cx.with_span(span);
        let mut out = HashMap::new();
        composite.inject_context(&child, &mut out);
        assert_eq!(out["x-b3-traceid"], TRACE_ID_HEX);
        assert_eq!(out["x-b3-spanid"], format!("{child_span_id}"));
        assert_eq!(out["x-b3-flags"], "1");
        assert_eq!(
            out["traceparent"],
            format!("00-{TRACE_ID_HEX}-{child_span_id}-01")
        );
    }
}
