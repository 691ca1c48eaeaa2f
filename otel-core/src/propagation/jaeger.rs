//! Jaeger propagation: `uber-trace-id` and `uberctx-{key}` baggage headers.
//!
//! The Jaeger format is deprecated in OpenTelemetry but still spoken by older
//! services and meshes. Written here rather than taken from
//! `opentelemetry-jaeger-propagator`, which is not released for
//! `opentelemetry` 0.33.

use std::borrow::Cow;
use std::sync::LazyLock;

use opentelemetry::{
    Context,
    baggage::{Baggage, BaggageExt},
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::hex;
use crate::sampling::{is_force_keep, with_force_keep};

/// The trace context header.
const UBER_TRACE_ID: &str = "uber-trace-id";
/// Prefix of the per-key baggage headers.
const BAGGAGE_PREFIX: &str = "uberctx-";

/// `uber-trace-id` values longer than this are rejected before any decoding
/// (the longest valid value, every `:` percent-encoded, is 77 bytes).
const MAX_TRACE_HEADER_LEN: usize = 256;
/// Baggage values longer than this (encoded) are skipped.
const MAX_BAGGAGE_VALUE_LEN: usize = 4096;
/// At most this many `uberctx-*` headers are read (OTel `Baggage` keeps at
/// most 64 entries and 8192 bytes anyway).
const MAX_BAGGAGE_ENTRIES: usize = 64;

const FLAG_SAMPLED: u8 = 0x01;
const FLAG_DEBUG: u8 = 0x02;

/// Everything but `A-Z a-z 0-9 - . _ ~` is percent-encoded in baggage values
/// (space as `%20`, which both `QueryUnescape`-style and plain percent decoders
/// read back as a space).
const BAGGAGE_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

static FIELDS: LazyLock<[String; 1]> = LazyLock::new(|| [UBER_TRACE_ID.to_owned()]);

/// Jaeger [`TextMapPropagator`]: `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}`
/// plus one `uberctx-{key}: {value}` header per baggage entry.
///
/// Extract:
/// * the whole `uber-trace-id` value is URL-decoded first (`%3A` for `:`);
/// * trace id of 1–32 hex digits and span id of 1–16 hex digits, left-padded
///   with zeros, never zero; upper-case digits are accepted (Jaeger clients
///   parse case-insensitively);
/// * the deprecated parent span id must be 1–16 hex digits and is ignored;
/// * flags are 1–2 hex digits: `0x01` sampled, `0x02` debug. Debug counts
///   only together with sampled (as the Jaeger format defines it) and then
///   sets [`ForceKeep`](crate::sampling::ForceKeep) in the context;
/// * anything else leaves the context's span unchanged;
/// * when the context already holds the same span (same trace and span id,
///   from another propagator of a composite), its `tracestate` and other
///   trace-flag bits are kept;
/// * `uberctx-{key}` headers (key as the carrier reports it, usually lower
///   case) are URL-decoded (`+` read as a space) into OTel [`Baggage`], merged
///   over the context's existing baggage (Jaeger's value wins on a clash).
///   Baggage is extracted whether or not `uber-trace-id` is valid.
///
/// Inject:
/// * `{trace-id}:{span-id}:0:{flags}`: the trace id as 16 hex digits when its
///   high 64 bits are zero (what a 64-bit Jaeger client sent us comes back
///   unchanged), else 32; the span id as 16; the parent as `0`; flags `0`,
///   `1`, or `3` (sampled + debug when the context carries `ForceKeep`),
///   written as one digit, which Jaeger clients read as hex or decimal alike;
/// * each baggage entry as `uberctx-{key}` with its value percent-encoded;
///   baggage metadata (W3C properties) has no Jaeger form and is dropped.
///
/// [`fields`](TextMapPropagator::fields) is `["uber-trace-id"]`: baggage
/// header names depend on the baggage and cannot be listed in advance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JaegerPropagator {
    _private: (),
}

impl JaegerPropagator {
    /// A Jaeger propagator (trace context and `uberctx-*` baggage).
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

/// A valid `uber-trace-id`.
#[derive(Debug, PartialEq, Eq)]
struct JaegerState {
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
    debug: bool,
}

fn parse_uber_trace_id(raw: &str) -> Option<JaegerState> {
    let raw = raw.trim_matches([' ', '\t']);
    if raw.is_empty() || raw.len() > MAX_TRACE_HEADER_LEN {
        return None;
    }
    let value: Cow<'_, str> = if raw.contains('%') {
        percent_decode_str(raw).decode_utf8().ok()?
    } else {
        Cow::Borrowed(raw)
    };
    let mut parts = value.split(':');
    let (trace_id, span_id, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let trace_id = match hex::decode_u128(trace_id.as_bytes(), true)? {
        0 => return None,
        v => TraceId::from(v),
    };
    let span_id = match hex::decode_u64(span_id.as_bytes(), true)? {
        0 => return None,
        v => SpanId::from(v),
    };
    hex::decode_u64(parent.as_bytes(), true)?;
    if flags.len() > 2 {
        return None;
    }
    let flags = u8::try_from(hex::decode_u64(flags.as_bytes(), true)?).ok()?;
    let sampled = flags & FLAG_SAMPLED != 0;
    Some(JaegerState {
        trace_id,
        span_id,
        sampled,
        debug: sampled && flags & FLAG_DEBUG != 0,
    })
}

/// Decodes a baggage value: `+` is a space (Jaeger clients use form encoding),
/// `%XX` a byte; invalid UTF-8 becomes U+FFFD.
fn decode_baggage_value(raw: &str) -> String {
    if raw.contains('+') {
        percent_decode_str(&raw.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    } else {
        percent_decode_str(raw).decode_utf8_lossy().into_owned()
    }
}

/// The baggage key of a `uberctx-{key}` header name, if it is one.
fn baggage_key(header: &str) -> Option<&str> {
    let prefix = header.as_bytes().get(..BAGGAGE_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(BAGGAGE_PREFIX.as_bytes()) {
        return None;
    }
    // The prefix is ASCII, so this is a character boundary.
    header
        .get(BAGGAGE_PREFIX.len()..)
        .filter(|key| !key.is_empty())
}

fn extract_baggage(cx: Context, extractor: &dyn Extractor) -> Context {
    let mut merged: Option<Baggage> = None;
    let mut read = 0;
    for header in extractor.keys() {
        let Some(key) = baggage_key(header) else {
            continue;
        };
        let Some(raw) = extractor.get(header) else {
            continue;
        };
        if raw.len() > MAX_BAGGAGE_VALUE_LEN {
            continue;
        }
        let baggage = merged.get_or_insert_with(|| {
            cx.baggage()
                .iter()
                .map(|(k, (v, m))| (k.clone(), (v.clone(), m.clone())))
                .collect()
        });
        // `insert` enforces the key syntax and the OTel baggage limits.
        let _ = baggage.insert(key.to_owned(), decode_baggage_value(raw));
        read += 1;
        if read == MAX_BAGGAGE_ENTRIES {
            break;
        }
    }
    match merged {
        Some(baggage) => cx.with_baggage(baggage),
        None => cx,
    }
}

fn uber_trace_id(sc: &SpanContext, debug: bool) -> String {
    let trace_id = u128::from_be_bytes(sc.trace_id().to_bytes());
    let mut trace_hex = [0u8; 32];
    hex::encode_u128(trace_id, &mut trace_hex);
    let trace_hex = if trace_id >> 64 == 0 {
        &trace_hex[16..]
    } else {
        &trace_hex[..]
    };
    let mut span_hex = [0u8; 16];
    hex::encode_u64(u64::from_be_bytes(sc.span_id().to_bytes()), &mut span_hex);
    let flags = if debug {
        "3"
    } else if sc.is_sampled() {
        "1"
    } else {
        "0"
    };
    let mut out = String::with_capacity(32 + 1 + 16 + 5);
    out.extend(trace_hex.iter().map(|&b| char::from(b)));
    out.push(':');
    out.extend(span_hex.iter().map(|&b| char::from(b)));
    out.push_str(":0:");
    out.push_str(flags);
    out
}

impl TextMapPropagator for JaegerPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            injector.set(UBER_TRACE_ID, uber_trace_id(sc, is_force_keep(cx)));
        }
        let mut name = String::new();
        for (key, (value, _metadata)) in cx.baggage() {
            name.clear();
            name.push_str(BAGGAGE_PREFIX);
            name.push_str(key.as_str());
            injector.set(
                &name,
                utf8_percent_encode(value.as_str(), BAGGAGE_VALUE).to_string(),
            );
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let state = extractor
            .get(UBER_TRACE_ID)
            .and_then(|v| parse_uber_trace_id(v.split_once(',').map_or(v, |(first, _)| first)));
        let cx = match state {
            Some(s) => {
                let span = cx.span();
                let existing = span.span_context();
                let sc = if existing.trace_id() == s.trace_id && existing.span_id() == s.span_id {
                    // The same span, already extracted by another propagator of the
                    // composite: keep its tracestate and other flag bits.
                    let flags = existing.trace_flags().with_sampled(s.sampled);
                    let state = existing.trace_state().clone();
                    SpanContext::new(s.trace_id, s.span_id, flags, true, state)
                } else {
                    let flags = TraceFlags::default().with_sampled(s.sampled);
                    SpanContext::new(s.trace_id, s.span_id, flags, true, TraceState::NONE)
                };
                let cx = cx.with_remote_span_context(sc);
                if s.debug { with_force_keep(&cx) } else { cx }
            }
            None => cx.clone(),
        };
        extract_baggage(cx, extractor)
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&FIELDS[..])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::propagation::{BaggagePropagator, TraceContextPropagator};
    use opentelemetry::{KeyValue, StringValue};

    use super::*;

    const TRACE_ID: u128 = 0x80f198ee56343ba864fe8b2a57d3eff7;
    const TRACE_ID_HEX: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const SPAN_ID: u64 = 0xe457b5a2e4d86bd1;
    const SPAN_ID_HEX: &str = "e457b5a2e4d86bd1";

    #[derive(Debug, PartialEq)]
    struct Marker(u8);

    fn carrier(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect()
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

    fn extract(value: &str) -> Context {
        JaegerPropagator::new().extract_with_context(
            &Context::new().with_value(Marker(3)),
            &carrier(&[("uber-trace-id", value)]),
        )
    }

    fn inject(cx: &Context) -> HashMap<String, String> {
        let mut out = HashMap::new();
        JaegerPropagator::new().inject_context(cx, &mut out);
        out
    }

    #[test]
    fn extracts_valid_values() {
        // (value, trace id, span id, sampled, debug)
        let cases: Vec<(String, u128, u64, bool, bool)> = vec![
            (
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:1"),
                TRACE_ID,
                SPAN_ID,
                true,
                false,
            ),
            (
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:0"),
                TRACE_ID,
                SPAN_ID,
                false,
                false,
            ),
            (
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:3"),
                TRACE_ID,
                SPAN_ID,
                true,
                true,
            ),
            (
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:03"),
                TRACE_ID,
                SPAN_ID,
                true,
                true,
            ),
            (
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:01"),
                TRACE_ID,
                SPAN_ID,
                true,
                false,
            ),
            // Debug without sampled does not count; firehose (0x08) is ignored.
            (
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:2"),
                TRACE_ID,
                SPAN_ID,
                false,
                false,
            ),
            (
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:09"),
                TRACE_ID,
                SPAN_ID,
                true,
                false,
            ),
            (
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:ff"),
                TRACE_ID,
                SPAN_ID,
                true,
                true,
            ),
            // The parent is ignored.
            (
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:05e3ac9a4f6e3b90:1"),
                TRACE_ID,
                SPAN_ID,
                true,
                false,
            ),
            // Short ids are left-padded.
            (
                "64fe8b2a57d3eff7:e457b5a2e4d86bd1:0:1".into(),
                0x64fe8b2a57d3eff7,
                SPAN_ID,
                true,
                false,
            ),
            ("abc:1:0:1".into(), 0xabc, 1, true, false),
            ("1:1:0:1".into(), 1, 1, true, false),
            // Upper case and URL-encoded.
            (
                format!("{}:{SPAN_ID_HEX}:0:1", TRACE_ID_HEX.to_uppercase()),
                TRACE_ID,
                SPAN_ID,
                true,
                false,
            ),
            (
                format!("{TRACE_ID_HEX}%3A{SPAN_ID_HEX}%3A0%3A1"),
                TRACE_ID,
                SPAN_ID,
                true,
                false,
            ),
            (
                format!("{TRACE_ID_HEX}%3a{SPAN_ID_HEX}:0%3A3"),
                TRACE_ID,
                SPAN_ID,
                true,
                true,
            ),
            (
                format!(" {TRACE_ID_HEX}:{SPAN_ID_HEX}:0:1 "),
                TRACE_ID,
                SPAN_ID,
                true,
                false,
            ),
        ];
        for (value, trace_id, span_id, sampled, debug) in cases {
            let cx = extract(&value);
            assert_eq!(
                cx.span().span_context(),
                &remote(trace_id, span_id, sampled),
                "{value}"
            );
            assert_eq!(is_force_keep(&cx), debug, "{value}");
            assert_eq!(cx.get::<Marker>(), Some(&Marker(3)), "{value}");
        }
    }

    #[test]
    fn rejects_invalid_values() {
        let long = "%3A".repeat(1000);
        let cases: Vec<String> = vec![
            String::new(),
            " ".into(),
            ":::".into(),
            "abc".into(),
            format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0"), // 3 parts
            format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:1:1"), // 5 parts
            format!("0:{SPAN_ID_HEX}:0:1"),            // zero trace id
            format!("{}:{SPAN_ID_HEX}:0:1", "0".repeat(32)),
            format!("{TRACE_ID_HEX}:0:0:1"), // zero span id
            format!("{TRACE_ID_HEX}:{}:0:1", "0".repeat(16)),
            format!("{TRACE_ID_HEX}0:{SPAN_ID_HEX}:0:1"), // 33 digits
            format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}0:0:1"), // 17 digits
            format!(":{SPAN_ID_HEX}:0:1"),
            format!("{TRACE_ID_HEX}::0:1"),
            format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}::1"),
            format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:"),
            format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:100"), // 3 flag digits
            format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:g"),
            format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:zz:1"),
            format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:{}0:1", "1".repeat(16)),
            format!("xyz:{SPAN_ID_HEX}:0:1"),
            format!("{TRACE_ID_HEX}:-1:0:1"),
            format!("{TRACE_ID_HEX}:+1:0:1"),
            format!("{TRACE_ID_HEX}%3A{SPAN_ID_HEX}%3A0"),
            format!("{TRACE_ID_HEX}%FF:{SPAN_ID_HEX}:0:1"), // not UTF-8 once decoded
            format!("{TRACE_ID_HEX}%3G{SPAN_ID_HEX}:0:1"),  // bad escape stays literal
            format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:1 ;x"),
            format!("{TRACE_ID_HEX}:é{}:0:1", &SPAN_ID_HEX[2..]),
            long,
        ];
        for value in cases {
            let cx = extract(&value);
            assert!(!cx.has_active_span(), "{value:?}");
            assert!(!is_force_keep(&cx), "{value:?}");
            assert_eq!(cx.get::<Marker>(), Some(&Marker(3)), "{value:?}");
        }
    }

    #[test]
    fn injects_trace_id_span_id_zero_parent_and_flags() {
        // (trace id, sampled, force-keep, expected)
        let cases = [
            (
                TRACE_ID,
                true,
                false,
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:1"),
            ),
            (
                TRACE_ID,
                false,
                false,
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:0"),
            ),
            (
                TRACE_ID,
                true,
                true,
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:3"),
            ),
            (
                TRACE_ID,
                false,
                true,
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:3"),
            ),
            (
                0x64fe8b2a57d3eff7,
                true,
                false,
                format!("64fe8b2a57d3eff7:{SPAN_ID_HEX}:0:1"),
            ),
            (
                0xabc,
                true,
                false,
                format!("0000000000000abc:{SPAN_ID_HEX}:0:1"),
            ),
            (
                1 << 64,
                true,
                false,
                format!("0000000000000001{}:{SPAN_ID_HEX}:0:1", "0".repeat(16)),
            ),
        ];
        for (trace_id, sampled, debug, expected) in cases {
            let mut cx =
                Context::new().with_remote_span_context(remote(trace_id, SPAN_ID, sampled));
            if debug {
                cx = with_force_keep(&cx);
            }
            assert_eq!(inject(&cx), carrier(&[("uber-trace-id", &expected)]));
        }
        assert!(inject(&Context::new()).is_empty());
        assert!(inject(&with_force_keep(&Context::new())).is_empty());
    }

    #[test]
    fn round_trips_with_debug() {
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
            let wire = inject(&cx);
            let back = JaegerPropagator::new().extract_with_context(&Context::new(), &wire);
            assert_eq!(
                back.span().span_context(),
                &remote(trace_id, SPAN_ID, sampled)
            );
            assert_eq!(is_force_keep(&back), debug);
            // Re-injecting the extracted context gives the same header.
            assert_eq!(inject(&back), wire);
        }
    }

    #[test]
    fn extracts_baggage() {
        let incoming = carrier(&[
            (
                "uber-trace-id",
                &format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:1"),
            ),
            ("uberctx-user", "alice%20smith"),
            ("UberCtx-Plus", "a+b%2Bc"),
            ("uberctx-utf8", "caf%C3%A9"),
            ("uberctx-bad-utf8", "%FF"),
            ("uberctx-", "no key"),
            ("uberctx-bad key", "x"),
            ("x-uberctx-other", "y"),
            ("uberctx-big", &"v".repeat(MAX_BAGGAGE_VALUE_LEN + 1)),
        ]);
        let cx = JaegerPropagator::new().extract_with_context(&Context::new(), &incoming);
        assert!(cx.span().span_context().is_valid());
        let baggage = cx.baggage();
        let get = |k: &str| baggage.get(k).map(StringValue::as_str);
        assert_eq!(get("user"), Some("alice smith"));
        assert_eq!(get("plus"), Some("a b+c"));
        assert_eq!(get("utf8"), Some("café"));
        assert_eq!(get("bad-utf8"), Some("\u{FFFD}"));
        assert_eq!(baggage.len(), 4, "{baggage:?}");
    }

    #[test]
    fn baggage_merges_over_existing_and_survives_an_invalid_trace_header() {
        let existing =
            Context::new().with_baggage([KeyValue::new("keep", "1"), KeyValue::new("user", "old")]);
        let incoming = carrier(&[("uber-trace-id", "garbage"), ("uberctx-user", "new")]);
        let cx = JaegerPropagator::new().extract_with_context(&existing, &incoming);
        assert!(!cx.has_active_span());
        assert_eq!(
            cx.baggage().get("user").map(StringValue::as_str),
            Some("new")
        );
        assert_eq!(cx.baggage().get("keep").map(StringValue::as_str), Some("1"));
        assert_eq!(cx.baggage().len(), 2);
    }

    #[test]
    fn baggage_extraction_is_bounded() {
        let pairs: Vec<(String, String)> = (0..500)
            .map(|i| (format!("uberctx-k{i}"), format!("v{i}")))
            .collect();
        let incoming: HashMap<String, String> = pairs.into_iter().collect();
        let cx = JaegerPropagator::new().extract_with_context(&Context::new(), &incoming);
        assert_eq!(cx.baggage().len(), MAX_BAGGAGE_ENTRIES);
    }

    #[test]
    fn baggage_round_trips_and_is_encoded() {
        let values = [
            "plain",
            "two words",
            "a+b",
            "50%",
            "k=v;p,q",
            "café",
            "/path?x=1&y",
        ];
        let cx = Context::new()
            .with_remote_span_context(remote(TRACE_ID, SPAN_ID, true))
            .with_baggage(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| KeyValue::new(format!("k{i}"), *v)),
            );
        let wire = inject(&cx);
        assert_eq!(wire["uberctx-k1"], "two%20words");
        assert_eq!(wire["uberctx-k2"], "a%2Bb");
        assert_eq!(wire["uberctx-k3"], "50%25");
        for (_, v) in wire.iter() {
            assert!(v.bytes().all(|b| b.is_ascii_graphic()), "{v}");
        }
        let back = JaegerPropagator::new().extract_with_context(&Context::new(), &wire);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(
                back.baggage().get(format!("k{i}")).map(StringValue::as_str),
                Some(*v)
            );
        }
        assert_eq!(back.span().span_context(), &remote(TRACE_ID, SPAN_ID, true));
    }

    #[test]
    fn interop_with_w3c() {
        let incoming = carrier(&[
            ("uber-trace-id", "64fe8b2a57d3eff7:e457b5a2e4d86bd1:0:1"),
            ("uberctx-tenant", "acme"),
        ]);
        let cx = JaegerPropagator::new().extract_with_context(&Context::new(), &incoming);
        let mut out = HashMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut out);
        BaggagePropagator::new().inject_context(&cx, &mut out);
        assert_eq!(
            out["traceparent"],
            "00-000000000000000064fe8b2a57d3eff7-e457b5a2e4d86bd1-01"
        );
        assert_eq!(out["baggage"], "tenant=acme");
    }

    #[test]
    fn same_span_from_w3c_keeps_tracestate() {
        let composite = opentelemetry::propagation::TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(JaegerPropagator::new()),
        ]);
        let traceparent = format!("00-{TRACE_ID_HEX}-{SPAN_ID_HEX}-01");
        // (uber-trace-id, span id, sampled, tracestate kept)
        let cases = [
            (
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:1"),
                SPAN_ID,
                true,
                true,
            ),
            (
                format!("{TRACE_ID_HEX}:{SPAN_ID_HEX}:0:0"),
                SPAN_ID,
                false,
                true,
            ),
            (format!("{TRACE_ID_HEX}:1:0:1"), 1, true, false),
        ];
        for (uber, span_id, sampled, kept) in cases {
            let incoming = carrier(&[
                ("traceparent", &traceparent),
                ("tracestate", "k=v"),
                ("uber-trace-id", &uber),
            ]);
            let cx = composite.extract_with_context(&Context::new(), &incoming);
            let span = cx.span();
            let sc = span.span_context();
            assert_eq!(
                (sc.span_id(), sc.is_sampled()),
                (SpanId::from(span_id), sampled),
                "{uber}"
            );
            assert_eq!(sc.trace_state().get("k"), kept.then_some("v"), "{uber}");
        }
    }

    #[test]
    fn fields_is_the_trace_header() {
        assert_eq!(
            JaegerPropagator::new().fields().collect::<Vec<_>>(),
            ["uber-trace-id"]
        );
    }
}
