//! The lapin carrier over arbitrary AMQP header tables (string, long-string
//! with any bytes, and non-string values): extract with every propagator
//! never panics and stays bounded; inject keeps the other headers.

use super::{assert_bounded, header_pairs, is_propagation_header};
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::propagation::TextMapCompositePropagator;
use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
use otel_kit_messaging::rabbitmq::lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use otel_kit_messaging::rabbitmq::{AmqpHeaderExtractor, AmqpHeaderInjector};

/// The `amqp_headers` fuzz target's body (`fuzz_targets/amqp_headers.rs`, replayed over
/// `seeds/amqp_headers/` by the workspace test `tests/tests/fuzz_seeds.rs`).
pub fn amqp_headers(data: &[u8]) {
    use otel_kit_core::propagation::*;
    let mut table = FieldTable::default();
    for (name, value) in header_pairs(data) {
        let Ok(name) = ShortString::try_new(String::from_utf8_lossy(name).into_owned()) else {
            continue;
        };
        // The first value byte picks the AMQP type, the rest is the payload.
        let value = match value.split_first() {
            Some((b'#', rest)) => AMQPValue::LongLongInt(rest.len() as i64),
            Some((b'~', rest)) => {
                match ShortString::try_new(String::from_utf8_lossy(rest).into_owned()) {
                    Ok(s) => AMQPValue::ShortString(s),
                    Err(_) => continue,
                }
            }
            Some((b'^', rest)) => AMQPValue::ByteArray(rest.to_vec().into()),
            _ => AMQPValue::LongString(LongString::from(value.to_vec())),
        };
        table.insert(name, value);
    }
    let propagator = TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
        Box::new(B3Propagator::multi()),
        Box::new(JaegerPropagator::new()),
    ]);
    let cx = propagator.extract_with_context(&Context::new(), &AmqpHeaderExtractor(&table));
    assert_bounded(&cx);
    let mut out = table.clone();
    propagator.inject_context(&cx, &mut AmqpHeaderInjector(&mut out));
    let fields: Vec<&str> = propagator.fields().collect();
    for (name, value) in table.inner() {
        if !is_propagation_header(name.as_str(), &fields) {
            assert_eq!(out.inner().get(name), Some(value));
        }
    }
}
