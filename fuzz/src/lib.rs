//! The fuzz targets' bodies ([`targets`], one plain function per target)
//! and the helpers they share: turning raw fuzz input into header sets, and
//! the invariants every propagator must keep.
//!
//! Nothing here uses `libfuzzer-sys` (only the `fuzz_targets/` binaries do),
//! so the workspace test `tests/tests/fuzz_seeds.rs` includes this file as a
//! module and replays the committed seeds through every body on stable.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::baggage::BaggageExt;
use otel_kit_core::opentelemetry::propagation::{Extractor, TextMapPropagator};
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::propagation::{MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS};

pub mod targets;

/// Most `tracestate` members a context may carry after extraction (W3C).
pub const MAX_TRACESTATE_MEMBERS: usize = 32;

/// Splits fuzz input into `(name, value)` byte pairs: one header per line
/// (`\n`), name and value separated by the first `:`; a line without `:` is
/// a name with an empty value. Readable seeds, and any byte can appear in a
/// value.
pub fn header_pairs(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    data.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &line[line.len()..]),
        })
        .collect()
}

/// The pairs as an `http::HeaderMap` (names lowercased by `http`; names or
/// values `http` refuses are left out, as a server would never see them).
pub fn header_map(data: &[u8]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in header_pairs(data) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// The pairs as a text map (lossy UTF-8; the last duplicate wins), the
/// carrier a generic caller would hand to a propagator.
pub fn string_map(data: &[u8]) -> HashMap<String, String> {
    header_pairs(data)
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).to_ascii_lowercase(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

/// Whether injecting may write (or rewrite) header `name`: one of the
/// propagator's `fields`, or a Jaeger baggage header (`uberctx-*`, one per
/// baggage entry, so not among the fields).
pub fn is_propagation_header(name: &str, fields: &[&str]) -> bool {
    fields.iter().any(|f| f.eq_ignore_ascii_case(name))
        || name
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("uberctx-"))
}

/// Checks the bounds every extracted context must respect: at most 32
/// `tracestate` members, baggage within the W3C member and byte limits.
pub fn assert_bounded(cx: &Context) {
    let span = cx.span();
    let state = span.span_context().trace_state();
    let members = state.header().split(',').filter(|m| !m.is_empty()).count();
    assert!(
        members <= MAX_TRACESTATE_MEMBERS,
        "{members} tracestate members"
    );
    let baggage = cx.baggage();
    assert!(
        baggage.len() <= MAX_BAGGAGE_MEMBERS,
        "{} baggage entries",
        baggage.len()
    );
    let bytes: usize = baggage
        .iter()
        .map(|(k, (v, m))| k.as_str().len() + v.as_str().len() + m.as_str().len())
        .sum();
    assert!(bytes <= MAX_BAGGAGE_BYTES, "{bytes} baggage bytes");
}

/// Extracts with `propagator`, checks the bounds, and when a valid span
/// context came out, checks that inject then extract gives it back (trace
/// id, span id, sampled flag, tracestate when the format carries it).
pub fn extract_and_round_trip(propagator: &dyn TextMapPropagator, carrier: &dyn Extractor) {
    let cx = propagator.extract_with_context(&Context::new(), carrier);
    assert_bounded(&cx);
    let span = cx.span();
    let extracted = span.span_context();
    if !extracted.is_valid() {
        return;
    }
    assert!(extracted.is_remote());
    let mut injected: HashMap<String, String> = HashMap::new();
    propagator.inject_context(&cx, &mut injected);
    let again = propagator.extract_with_context(&Context::new(), &injected);
    let again_span = again.span();
    let round = again_span.span_context();
    assert_eq!(round.trace_id(), extracted.trace_id(), "{injected:?}");
    assert_eq!(round.span_id(), extracted.span_id(), "{injected:?}");
    assert_eq!(round.is_sampled(), extracted.is_sampled(), "{injected:?}");
}
