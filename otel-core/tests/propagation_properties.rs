//! Property tests of every propagator's extract and inject (run by `cargo
//! test`; 256 cases each): arbitrary header values never panic, extracted
//! state is bounded by the W3C limits, and valid contexts round-trip
//! (inject then extract gives the same context).

use std::collections::HashMap;

use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use otel_kit_core::propagation::{
    B3Propagator, BaggagePropagator, ForwardHeadersPropagator, ForwardedHeaders, JaegerPropagator,
    MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS, MAX_FORWARDED_HEADERS, MAX_TRACESTATE_HEADER_LEN,
    MAX_TRACESTATE_MEMBERS, TraceContextPropagator, format_baggage, format_tracestate,
    parse_baggage,
};
use proptest::collection::{hash_map, vec};
use proptest::prelude::*;

/// Every header name any of our propagators reads, plus noise.
const NAMES: &[&str] = &[
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "uber-trace-id",
    "uberctx-user",
    "uberctx-",
    "x-request-id",
    "x-envoy-force-trace",
    "x-other",
];

fn propagators() -> Vec<(&'static str, Box<dyn TextMapPropagator>)> {
    vec![
        ("tracecontext", Box::new(TraceContextPropagator::new())),
        ("baggage", Box::new(BaggagePropagator::new())),
        ("b3", Box::new(B3Propagator::single())),
        ("b3multi", Box::new(B3Propagator::multi())),
        ("jaeger", Box::new(JaegerPropagator::new())),
        ("forward", Box::new(ForwardHeadersPropagator::new())),
    ]
}

/// A value made of pieces that look like the real thing, glued by
/// separators, or any string at all.
fn header_value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("00".to_owned()),
        Just("4bf92f3577b34da6a3ce929d0e0e4736".to_owned()),
        Just("00f067aa0ba902b7".to_owned()),
        Just("01".to_owned()),
        Just("d".to_owned()),
        "[0-9a-fA-F]{1,33}",
        "[-,;:=% \t]",
        "[a-z]{1,8}=[^,]{0,8}",
        any::<String>(),
    ];
    prop_oneof![
        vec(piece, 0..12).prop_map(|pieces| pieces.concat()),
        any::<String>(),
    ]
}

fn carrier() -> impl Strategy<Value = HashMap<String, String>> {
    hash_map(
        prop::sample::select(NAMES).prop_map(str::to_owned),
        header_value(),
        0..8,
    )
}

fn assert_bounded(cx: &Context) -> Result<(), TestCaseError> {
    let span = cx.span();
    let state = span.span_context().trace_state();
    prop_assert!(
        state.header().split(',').filter(|m| !m.is_empty()).count() <= MAX_TRACESTATE_MEMBERS
    );
    if let Some(header) = format_tracestate(state) {
        prop_assert!(header.len() <= MAX_TRACESTATE_HEADER_LEN);
    }
    prop_assert!(cx.baggage().len() <= MAX_BAGGAGE_MEMBERS);
    if let Some(header) = format_baggage(cx.baggage()) {
        prop_assert!(header.len() <= MAX_BAGGAGE_BYTES);
    }
    if let Some(forwarded) = ForwardedHeaders::from_context(cx) {
        prop_assert!(forwarded.len() <= MAX_FORWARDED_HEADERS);
    }
    Ok(())
}

/// A valid tracestate member `key=value` (OpenTelemetry's stricter grammar).
fn tracestate_member() -> impl Strategy<Value = (String, String)> {
    (
        "[a-z][a-z0-9_*/-]{0,15}",
        "[!-+\\--<>-~]([ !-+\\--<>-~]{0,14}[!-+\\--<>-~])?",
    )
}

fn span_context() -> impl Strategy<Value = SpanContext> {
    (
        1..=u128::MAX,
        1..=u64::MAX,
        any::<bool>(),
        vec(tracestate_member(), 0..6),
    )
        .prop_map(|(trace_id, span_id, sampled, members)| {
            let flags = if sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            };
            let mut seen = std::collections::HashSet::new();
            let members: Vec<_> = members
                .into_iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect();
            let state = TraceState::from_key_value(members).expect("valid members");
            SpanContext::new(
                TraceId::from(trace_id),
                SpanId::from(span_id),
                flags,
                true,
                state,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_headers_never_panic_and_stay_bounded(carrier in carrier()) {
        for (_, propagator) in propagators() {
            let cx = propagator.extract_with_context(&Context::new(), &carrier);
            assert_bounded(&cx)?;
            // Whatever was extracted can be injected again.
            let mut out: HashMap<String, String> = HashMap::new();
            propagator.inject_context(&cx, &mut out);
        }
    }

    #[test]
    fn valid_span_contexts_round_trip(sc in span_context()) {
        let cx = Context::new().with_remote_span_context(sc.clone());
        for (name, propagator) in propagators() {
            if matches!(name, "baggage" | "forward") {
                continue;
            }
            let mut carrier: HashMap<String, String> = HashMap::new();
            propagator.inject_context(&cx, &mut carrier);
            let back = propagator.extract_with_context(&Context::new(), &carrier);
            let back_span = back.span();
            let got = back_span.span_context();
            prop_assert_eq!(got.trace_id(), sc.trace_id(), "{}", name);
            prop_assert_eq!(got.span_id(), sc.span_id(), "{}", name);
            prop_assert_eq!(got.is_sampled(), sc.is_sampled(), "{}", name);
            prop_assert!(got.is_remote(), "{}", name);
            if name == "tracecontext" {
                // Small states (here) are sent whole.
                prop_assert_eq!(got.trace_state().header(), sc.trace_state().header());
            }
        }
    }

    #[test]
    fn valid_baggage_round_trips(
        entries in hash_map("[a-zA-Z0-9!#$&'*+.^_`|~-]{1,12}", any::<String>(), 0..20),
    ) {
        let cx = Context::new().with_baggage(
            entries.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        );
        let mut carrier: HashMap<String, String> = HashMap::new();
        BaggagePropagator::new().inject_context(&cx, &mut carrier);
        let back = BaggagePropagator::new().extract_with_context(&Context::new(), &carrier);
        let got: HashMap<String, String> = back
            .baggage()
            .iter()
            .map(|(k, (v, _))| (k.to_string(), v.to_string()))
            .collect();
        let sent: HashMap<String, String> = cx
            .baggage()
            .iter()
            .map(|(k, (v, _))| (k.to_string(), v.to_string()))
            .collect();
        prop_assert_eq!(got, sent);
    }

    #[test]
    fn baggage_parse_is_bounded_and_format_is_stable(values in vec(header_value(), 0..4)) {
        let baggage: Baggage = parse_baggage(values.iter().map(String::as_str));
        prop_assert!(baggage.len() <= MAX_BAGGAGE_MEMBERS);
        if let Some(header) = format_baggage(&baggage) {
            prop_assert!(header.len() <= MAX_BAGGAGE_BYTES);
            let again = parse_baggage([header.as_str()]);
            prop_assert_eq!(format_baggage(&again), Some(header));
        }
    }
}
