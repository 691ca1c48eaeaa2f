//! The rdkafka carrier over arbitrary record headers (any name and value
//! bytes, null values, duplicates): extract with every propagator never
//! panics and stays bounded, and injecting keeps the existing headers'
//! bytes.

use super::{assert_bounded, header_pairs, is_propagation_header};
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::propagation::TextMapCompositePropagator;
use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
use otel_kit_messaging::kafka::rdkafka::message::{Header, Headers, OwnedHeaders};
use otel_kit_messaging::kafka::{KafkaHeaderExtractor, KafkaHeaderInjector};

fn propagator() -> TextMapCompositePropagator {
    use otel_kit_core::propagation::*;
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
        Box::new(B3Propagator::multi()),
        Box::new(JaegerPropagator::new()),
    ])
}

/// The `kafka_headers` fuzz target's body (`fuzz_targets/kafka_headers.rs`, replayed over
/// `seeds/kafka_headers/` by the workspace test `tests/tests/fuzz_seeds.rs`).
pub fn kafka_headers(data: &[u8]) {
    let pairs = header_pairs(data);
    let mut headers = OwnedHeaders::new();
    for (name, value) in &pairs {
        // rdkafka header names are `&str`; a leading `!` in the value marks
        // a null value.
        let key = String::from_utf8_lossy(name);
        let value = (value.first() != Some(&b'!')).then_some(*value);
        headers = headers.insert(Header { key: &key, value });
    }
    let propagator = propagator();
    let cx = propagator.extract_with_context(&Context::new(), &KafkaHeaderExtractor(&headers));
    assert_bounded(&cx);

    let mut injector = KafkaHeaderInjector::new();
    propagator.inject_context(&cx, &mut injector);
    let count = headers.count();
    let before: Vec<(String, Option<Vec<u8>>)> = (0..count)
        .map(|i| {
            let h = headers.get(i);
            (h.key.to_owned(), h.value.map(<[u8]>::to_vec))
        })
        .collect();
    let sent = injector.apply(Some(headers));
    // Every header that is not a propagation field is still there, bytes intact.
    let fields: Vec<&str> = propagator.fields().collect();
    let after: Vec<(String, Option<Vec<u8>>)> = (0..sent.count())
        .map(|i| {
            let h = sent.get(i);
            (h.key.to_owned(), h.value.map(<[u8]>::to_vec))
        })
        .collect();
    for header in before
        .iter()
        .filter(|(k, _)| !is_propagation_header(k, &fields))
    {
        assert!(after.contains(header), "{header:?} lost");
    }
}
