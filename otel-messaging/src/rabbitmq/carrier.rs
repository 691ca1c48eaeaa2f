//! lapin `FieldTable` (the AMQP message `headers` property) as an
//! OpenTelemetry injector / extractor.

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use otel_kit_core::opentelemetry::propagation::{Extractor, Injector};

use crate::MAX_HEADER_VALUE_LEN;

/// Writes propagation fields as long-string entries of an AMQP header
/// table, replacing previous values. Names longer than 255 bytes are
/// skipped.
///
/// ```
/// use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
/// use otel_kit_core::propagation::TraceContextPropagator;
/// use otel_kit_messaging::rabbitmq::AmqpHeaderInjector;
/// use otel_kit_messaging::rabbitmq::lapin::types::FieldTable;
///
/// let propagator = TraceContextPropagator::new();
/// let cx = propagator.extract(&std::collections::HashMap::from([(
///     "traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
/// )]));
/// let mut headers = FieldTable::default();
/// propagator.inject_context(&cx, &mut AmqpHeaderInjector(&mut headers));
/// assert!(headers.contains_key("traceparent"));
/// ```
#[derive(Debug)]
pub struct AmqpHeaderInjector<'a>(pub &'a mut FieldTable);

impl Injector for AmqpHeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let Ok(name) = ShortString::try_new(key) {
            self.0
                .insert(name, AMQPValue::LongString(LongString::from(value)));
        }
    }
}

/// Reads propagation fields from an AMQP header table. Names match
/// case-insensitively; only UTF-8 string values (long or short strings) of
/// at most [`MAX_HEADER_VALUE_LEN`] bytes are read, anything else (binary,
/// numbers, tables, void) is skipped.
///
/// ```
/// use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
/// use otel_kit_core::opentelemetry::trace::TraceContextExt;
/// use otel_kit_core::propagation::TraceContextPropagator;
/// use otel_kit_messaging::rabbitmq::AmqpHeaderExtractor;
/// use otel_kit_messaging::rabbitmq::lapin::types::{AMQPValue, FieldTable};
///
/// let mut headers = FieldTable::default();
/// headers.insert(
///     "traceparent".into(),
///     AMQPValue::LongString("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
/// );
/// let cx = TraceContextPropagator::new().extract(&AmqpHeaderExtractor(&headers));
/// assert!(cx.span().span_context().is_remote());
/// ```
#[derive(Debug)]
pub struct AmqpHeaderExtractor<'a>(pub &'a FieldTable);

fn as_text(value: &AMQPValue) -> Option<&str> {
    let text = match value {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?,
        AMQPValue::ShortString(s) => s.as_str(),
        _ => return None,
    };
    (text.len() <= MAX_HEADER_VALUE_LEN).then_some(text)
}

impl Extractor for AmqpHeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if let Some(v) = self.0.inner().get(key) {
            return as_text(v);
        }
        self.0
            .inner()
            .iter()
            .filter(|(k, _)| k.as_str().eq_ignore_ascii_case(key))
            .filter_map(|(_, v)| as_text(v))
            .next_back()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(ShortString::as_str).collect()
    }
}
