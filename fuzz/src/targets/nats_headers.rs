//! The async-nats carrier over arbitrary header maps: building the map from
//! any bytes the client would accept, extracting with every propagator
//! never panics and stays bounded.

use std::str::FromStr;

use super::{assert_bounded, header_pairs};
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::propagation::TextMapCompositePropagator;
use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
use otel_kit_messaging::nats::async_nats::{HeaderMap, HeaderName, HeaderValue};
use otel_kit_messaging::nats::{NatsHeaderExtractor, NatsHeaderInjector};

/// The `nats_headers` fuzz target's body (`fuzz_targets/nats_headers.rs`, replayed over
/// `seeds/nats_headers/` by the workspace test `tests/tests/fuzz_seeds.rs`).
pub fn nats_headers(data: &[u8]) {
    use otel_kit_core::propagation::*;
    let mut headers = HeaderMap::new();
    for (name, value) in header_pairs(data) {
        let name = String::from_utf8_lossy(name);
        let value = String::from_utf8_lossy(value);
        if let (Ok(name), Ok(value)) = (HeaderName::from_str(&name), HeaderValue::from_str(&value))
        {
            headers.append(name, value);
        }
    }
    let propagator = TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
        Box::new(B3Propagator::single()),
        Box::new(JaegerPropagator::new()),
    ]);
    let cx = propagator.extract_with_context(&Context::new(), &NatsHeaderExtractor(&headers));
    assert_bounded(&cx);
    let mut out = headers.clone();
    propagator.inject_context(&cx, &mut NatsHeaderInjector(&mut out));
}
