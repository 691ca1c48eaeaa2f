//! W3C baggage extract over arbitrary header sets: bounded, and format is
//! stable under parse (format ∘ parse ∘ format = format).

use super::{assert_bounded, header_map};
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::baggage::BaggageExt;
use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
use otel_kit_core::propagation::{
    BaggagePropagator, HeaderExtractor, MAX_BAGGAGE_BYTES, format_baggage, parse_baggage,
};

/// The `baggage` fuzz target's body (`fuzz_targets/baggage.rs`, replayed over
/// `seeds/baggage/` by the workspace test `tests/tests/fuzz_seeds.rs`).
pub fn baggage(data: &[u8]) {
    let headers = header_map(data);
    let cx =
        BaggagePropagator::new().extract_with_context(&Context::new(), &HeaderExtractor(&headers));
    assert_bounded(&cx);
    if let Some(header) = format_baggage(cx.baggage()) {
        assert!(header.len() <= MAX_BAGGAGE_BYTES);
        let again = parse_baggage([header.as_str()]);
        assert_eq!(format_baggage(&again).as_deref(), Some(header.as_str()));
    }
    // The parser on the raw text, split the way several headers would be.
    let text = String::from_utf8_lossy(data);
    let baggage = parse_baggage(text.split('\n'));
    if let Some(header) = format_baggage(&baggage) {
        assert!(header.len() <= MAX_BAGGAGE_BYTES);
    }
}
