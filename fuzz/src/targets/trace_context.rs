//! W3C `traceparent` / `tracestate` extract over arbitrary header sets, the
//! raw-bytes `TraceParent` codec, and inject ∘ extract = identity.

use super::{extract_and_round_trip, header_map, header_pairs};
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::propagation::{
    HeaderExtractor, HeaderInjector, MAX_TRACESTATE_HEADER_LEN, RawTraceState,
    TraceContextPropagator, TraceParent, format_tracestate, parse_tracestate,
};

/// The `trace_context` fuzz target's body (`fuzz_targets/trace_context.rs`, replayed over
/// `seeds/trace_context/` by the workspace test `tests/tests/fuzz_seeds.rs`).
pub fn trace_context(data: &[u8]) {
    // The codec on the raw bytes: a parsed value re-encodes to a value that
    // parses to the same thing.
    if let Some(parent) = TraceParent::parse_bytes(data) {
        let buf = parent.encode();
        assert_eq!(TraceParent::parse(buf.as_str()), Some(parent));
    }
    // tracestate on its own: bounded, and format ∘ parse is stable.
    let values: Vec<String> = header_pairs(data)
        .into_iter()
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    if let Some(state) = parse_tracestate(values.iter().map(String::as_str))
        && let Some(header) = format_tracestate(&state)
    {
        assert!(header.split(',').count() <= 32);
        let again = parse_tracestate([header.as_str()]).expect("formatted tracestate parses");
        assert_eq!(format_tracestate(&again).as_deref(), Some(header.as_str()));
    }
    // The propagator over a real header map, then through inject.
    let headers = header_map(data);
    let propagator = TraceContextPropagator::new();
    extract_and_round_trip(&propagator, &HeaderExtractor(&headers));
    let cx = propagator.extract_with_context(&Context::new(), &HeaderExtractor(&headers));
    if cx.span().span_context().is_valid() {
        let mut out = http::HeaderMap::new();
        propagator.inject_context(&cx, &mut HeaderInjector(&mut out));
        let back = propagator.extract_with_context(&Context::new(), &HeaderExtractor(&out));
        // inject ∘ extract: the received list (the `RawTraceState` when it
        // has members `TraceState` refuses, else the state), except that a
        // header over MAX_TRACESTATE_HEADER_LEN is truncated on inject as W3C
        // says (members over 128 chars first, then from the right).
        let received = match cx.get::<RawTraceState>() {
            Some(raw) => raw.header().to_owned(),
            None => cx.span().span_context().trace_state().header(),
        };
        let sent = out
            .get("tracestate")
            .map(|v| v.to_str().expect("ASCII").to_owned())
            .unwrap_or_default();
        assert!(sent.len() <= MAX_TRACESTATE_HEADER_LEN);
        if received.len() <= MAX_TRACESTATE_HEADER_LEN {
            assert_eq!(sent, received);
        }
        // Sent again from the next hop: unchanged.
        let mut again = http::HeaderMap::new();
        propagator.inject_context(&back, &mut HeaderInjector(&mut again));
        assert_eq!(again.get("tracestate"), out.get("tracestate"));
        assert_eq!(
            back.span().span_context().span_id(),
            cx.span().span_context().span_id()
        );
    }
}
