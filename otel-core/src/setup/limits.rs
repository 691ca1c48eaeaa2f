//! `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`: the SDK's span limits have no
//! value-length limit, so this processor truncates values before export.

use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use std::time::Duration;

/// Wraps a processor and truncates string values (and each string of a string
/// array) to `max` characters on span end, in span, event and link attributes.
#[derive(Debug)]
pub(crate) struct ValueLengthLimit<P> {
    pub(crate) inner: P,
    pub(crate) max: usize,
}

fn truncate(s: &str, max: usize) -> Option<String> {
    let (cut, _) = s.char_indices().nth(max)?;
    Some(s[..cut].to_string())
}

fn limit(kv: &mut KeyValue, max: usize) {
    match &mut kv.value {
        Value::String(s) => {
            if let Some(t) = truncate(s.as_str(), max) {
                *s = StringValue::from(t);
            }
        }
        Value::Array(Array::String(items)) => {
            for s in items.iter_mut() {
                if let Some(t) = truncate(s.as_str(), max) {
                    *s = StringValue::from(t);
                }
            }
        }
        _ => {}
    }
}

impl<P: SpanProcessor> SpanProcessor for ValueLengthLimit<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx)
    }

    fn on_end(&self, mut span: SpanData) {
        span.attributes
            .iter_mut()
            .for_each(|kv| limit(kv, self.max));
        for event in span.events.events.iter_mut() {
            event
                .attributes
                .iter_mut()
                .for_each(|kv| limit(kv, self.max));
        }
        for link in span.links.links.iter_mut() {
            link.attributes
                .iter_mut()
                .for_each(|kv| limit(kv, self.max));
        }
        self.inner.on_end(span)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_by_characters() {
        let mut kv = KeyValue::new("k", "héllo wörld");
        limit(&mut kv, 4);
        assert_eq!(kv.value.as_str(), "héll");
        let mut arr = KeyValue::new(
            "a",
            Value::Array(Array::String(vec!["abcdef".into(), "ab".into()])),
        );
        limit(&mut arr, 3);
        assert_eq!(
            arr.value,
            Value::Array(Array::String(vec!["abc".into(), "ab".into()]))
        );
        let mut n = KeyValue::new("n", 123456789_i64);
        limit(&mut n, 2);
        assert_eq!(n.value, Value::I64(123456789));
    }
}
