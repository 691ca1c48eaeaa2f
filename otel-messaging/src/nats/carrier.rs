//! `async_nats::HeaderMap` as an OpenTelemetry injector / extractor.

use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use otel_kit_core::opentelemetry::propagation::{Extractor, Injector};

use crate::MAX_HEADER_VALUE_LEN;

/// Writes propagation fields into NATS headers, replacing any previous value
/// of the same field. A field name or value NATS cannot carry (control
/// characters, `:`, CR/LF) is skipped instead of panicking.
///
/// ```
/// use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
/// use otel_kit_core::propagation::TraceContextPropagator;
/// use otel_kit_messaging::nats::NatsHeaderInjector;
/// use otel_kit_messaging::nats::async_nats::HeaderMap;
///
/// let propagator = TraceContextPropagator::new();
/// let cx = propagator.extract(&std::collections::HashMap::from([(
///     "traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
/// )]));
/// let mut headers = HeaderMap::new();
/// propagator.inject_context(&cx, &mut NatsHeaderInjector(&mut headers));
/// assert!(headers.get("traceparent").is_some());
/// ```
#[derive(Debug)]
pub struct NatsHeaderInjector<'a>(pub &'a mut HeaderMap);

/// The header name for `key`: the fields the usual propagators write are
/// static names (no parsing, no allocation per message), others are parsed
/// (`None` when NATS cannot carry the name).
fn header_name(key: &str) -> Option<HeaderName> {
    Some(match key {
        "traceparent" => HeaderName::from_static("traceparent"),
        "tracestate" => HeaderName::from_static("tracestate"),
        "baggage" => HeaderName::from_static("baggage"),
        "b3" => HeaderName::from_static("b3"),
        _ => return HeaderName::from_str(key).ok(),
    })
}

/// Whether `value` contains CR or LF (no early exit: the loop vectorises,
/// and propagator values are short).
fn has_line_break(value: &str) -> bool {
    value
        .bytes()
        .fold(false, |found, b| found | (b == b'\r') | (b == b'\n'))
}

impl Injector for NatsHeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // `HeaderValue::from(String)` takes the propagator's string without
        // copying it; it rejects (panics on) CR and LF, checked here first.
        if has_line_break(&value) {
            return;
        }
        if let Some(name) = header_name(key) {
            self.0.insert(name, HeaderValue::from(value));
        }
    }
}

/// Reads propagation fields from NATS headers. Names match
/// case-insensitively; of duplicated fields the last value wins; values
/// longer than [`MAX_HEADER_VALUE_LEN`] are skipped.
///
/// ```
/// use otel_kit_core::opentelemetry::propagation::TextMapPropagator;
/// use otel_kit_core::opentelemetry::trace::TraceContextExt;
/// use otel_kit_core::propagation::TraceContextPropagator;
/// use otel_kit_messaging::nats::NatsHeaderExtractor;
/// use otel_kit_messaging::nats::async_nats::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// let cx = TraceContextPropagator::new().extract(&NatsHeaderExtractor(&headers));
/// assert!(cx.span().span_context().is_remote());
/// ```
#[derive(Debug)]
pub struct NatsHeaderExtractor<'a>(pub &'a HeaderMap);

impl NatsHeaderExtractor<'_> {
    fn values(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(name, _)| AsRef::<str>::as_ref(*name).eq_ignore_ascii_case(key))
            .flat_map(|(_, values)| values.iter())
            .map(HeaderValue::as_str)
            .filter(|v| v.len() <= MAX_HEADER_VALUE_LEN)
    }
}

impl Extractor for NatsHeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.values(key).last()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let all: Vec<&str> = self.values(key).collect();
        (!all.is_empty()).then_some(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injector_stores_known_and_custom_names_and_skips_what_nats_cannot_carry() {
        let mut headers = HeaderMap::new();
        let mut injector = NatsHeaderInjector(&mut headers);
        injector.set("traceparent", "00-old".to_owned());
        injector.set("traceparent", "00-new".to_owned());
        injector.set("x-custom", "v".to_owned());
        injector.set("baggage", "a=1".to_owned());
        // Values with CR or LF and names with ':' or spaces are skipped.
        injector.set("tracestate", "a=b\r\nx: y".to_owned());
        injector.set("x-other", "line\nbreak".to_owned());
        injector.set("bad:name", "v".to_owned());
        injector.set("bad name", "v".to_owned());
        let ex = NatsHeaderExtractor(&headers);
        assert_eq!(ex.get("traceparent"), Some("00-new"));
        assert_eq!(ex.get_all("traceparent").map(|v| v.len()), Some(1));
        assert_eq!(ex.get("x-custom"), Some("v"));
        assert_eq!(ex.get("baggage"), Some("a=1"));
        assert_eq!(ex.get("tracestate"), None);
        assert_eq!(ex.get("x-other"), None);
        let mut keys = ex.keys();
        keys.sort_unstable();
        assert_eq!(keys, ["baggage", "traceparent", "x-custom"]);
    }

    #[test]
    fn line_break_check_matches_the_client_validation() {
        for (value, expected) in [
            ("", false),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                false,
            ),
            ("a\rb", true),
            ("a\nb", true),
            ("\u{2028}", false),
        ] {
            assert_eq!(has_line_break(value), expected, "{value:?}");
            assert_eq!(HeaderValue::from_str(value).is_err(), expected, "{value:?}");
        }
    }
}
