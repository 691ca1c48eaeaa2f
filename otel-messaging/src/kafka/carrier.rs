//! rdkafka record headers as an OpenTelemetry injector / extractor.

use std::panic::{AssertUnwindSafe, catch_unwind};

use otel_kit_core::opentelemetry::propagation::{Extractor, Injector};
use rdkafka::message::{Header, Headers, OwnedHeaders};

use crate::MAX_HEADER_VALUE_LEN;

/// Reads propagation fields from Kafka record headers
/// ([`BorrowedHeaders`](rdkafka::message::BorrowedHeaders) of a consumed
/// message, or [`OwnedHeaders`]). Names match case-insensitively; null,
/// non-UTF-8 and oversized (> [`MAX_HEADER_VALUE_LEN`]) values are skipped;
/// of duplicated names [`get`](Extractor::get) returns the last (the most
/// recently appended), [`get_all`](Extractor::get_all) all of them.
///
/// rdkafka 0.39 panics inside `Headers::try_get` when a header *name* is not
/// UTF-8; such headers are skipped (the panic is caught), never propagated.
///
/// ```
/// use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
/// use otel_kit_core::opentelemetry::trace::TraceContextExt;
/// use otel_kit_core::propagation::TraceContextPropagator;
/// use otel_kit_messaging::kafka::KafkaHeaderExtractor;
/// use otel_kit_messaging::kafka::rdkafka::message::{Header, OwnedHeaders};
///
/// let headers = OwnedHeaders::new().insert(Header {
///     key: "traceparent",
///     value: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
/// });
/// let cx = TraceContextPropagator::new().extract(&KafkaHeaderExtractor(&headers));
/// assert!(cx.span().span_context().is_remote());
/// ```
#[derive(Debug)]
pub struct KafkaHeaderExtractor<'a, H: ?Sized>(pub &'a H);

fn header_at<H: Headers + ?Sized>(headers: &H, idx: usize) -> Option<Header<'_, &[u8]>> {
    catch_unwind(AssertUnwindSafe(|| headers.try_get(idx)))
        .ok()
        .flatten()
}

fn text(value: Option<&[u8]>) -> Option<&str> {
    let bytes = value?;
    if bytes.len() > MAX_HEADER_VALUE_LEN {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

impl<H: Headers + ?Sized> Extractor for KafkaHeaderExtractor<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        (0..self.0.count())
            .rev()
            .filter_map(|i| header_at(self.0, i))
            .filter(|h| h.key.eq_ignore_ascii_case(key))
            .find_map(|h| text(h.value))
    }

    fn keys(&self) -> Vec<&str> {
        (0..self.0.count())
            .filter_map(|i| header_at(self.0, i))
            .map(|h| h.key)
            .collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let all: Vec<&str> = (0..self.0.count())
            .filter_map(|i| header_at(self.0, i))
            .filter(|h| h.key.eq_ignore_ascii_case(key))
            .filter_map(|h| text(h.value))
            .collect();
        (!all.is_empty()).then_some(all)
    }
}

/// Collects propagation fields, then writes them into a record's headers
/// with [`apply`](Self::apply): the existing headers are kept (their bytes
/// untouched) and any previous value of a propagation field is replaced.
///
/// ```
/// use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
/// use otel_kit_core::propagation::TraceContextPropagator;
/// use otel_kit_messaging::kafka::KafkaHeaderInjector;
/// use otel_kit_messaging::kafka::rdkafka::message::{Header, Headers, OwnedHeaders};
///
/// let propagator = TraceContextPropagator::new();
/// let cx = propagator.extract(&std::collections::HashMap::from([(
///     "traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
/// )]));
/// let mut injector = KafkaHeaderInjector::new();
/// propagator.inject_context(&cx, &mut injector);
/// let user = OwnedHeaders::new().insert(Header { key: "x-user", value: Some("kept") });
/// let headers = injector.apply(Some(user));
/// assert_eq!(headers.count(), 2);
/// ```
#[derive(Debug, Default)]
pub struct KafkaHeaderInjector {
    fields: Vec<(String, String)>,
}

impl KafkaHeaderInjector {
    /// An empty injector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no field was set.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The headers to send: `existing` plus the collected fields. Existing
    /// headers are only rebuilt (copied) when one of them has the name of a
    /// propagation field; otherwise the fields are appended in place.
    pub fn apply(self, existing: Option<OwnedHeaders>) -> OwnedHeaders {
        let Some(existing) = existing else {
            let capacity = self.fields.len();
            return self.append_to(OwnedHeaders::new_with_capacity(capacity));
        };
        let collides = (0..existing.count())
            .filter_map(|i| header_at(&existing, i))
            .any(|h| {
                self.fields
                    .iter()
                    .any(|(k, _)| h.key.eq_ignore_ascii_case(k))
            });
        if !collides {
            return self.append_to(existing);
        }
        let mut rebuilt = OwnedHeaders::new_with_capacity(existing.count() + self.fields.len());
        for h in (0..existing.count()).filter_map(|i| header_at(&existing, i)) {
            if self
                .fields
                .iter()
                .any(|(k, _)| h.key.eq_ignore_ascii_case(k))
            {
                continue;
            }
            rebuilt = rebuilt.insert(Header {
                key: h.key,
                value: h.value,
            });
        }
        self.append_to(rebuilt)
    }

    fn append_to(self, mut headers: OwnedHeaders) -> OwnedHeaders {
        for (k, v) in &self.fields {
            headers = headers.insert(Header {
                key: k.as_str(),
                value: Some(v.as_bytes()),
            });
        }
        headers
    }
}

impl Injector for KafkaHeaderInjector {
    fn set(&mut self, key: &str, value: String) {
        if let Some(slot) = self.fields.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
        } else {
            self.fields.push((key.to_owned(), value));
        }
    }
}
