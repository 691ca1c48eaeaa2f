use crate::config::semconv_stability;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanRef, Status};
use std::borrow::Cow;

/// A failed operation, as the error conventions record it.
#[derive(Clone, Debug)]
pub struct ErrorRecord<'a> {
    /// `error.type`: a low-cardinality class (`500`, `DEADLINE_EXCEEDED`,
    /// `timeout`, a Rust error type path, or `_OTHER`).
    pub error_type: Cow<'a, str>,
    /// A description for the span status and `exception.message`, when there
    /// is more to say than the type (never credentials).
    pub message: Option<Cow<'a, str>>,
    /// Whether an `exception` event is added (for failures raised as errors or
    /// panics, not for a status code that explains itself).
    pub exception: bool,
}

/// Marks `span` failed: status Error with the message, `error.type`, and an
/// `exception` event (`exception.type`, `exception.message`) when
/// `record.exception` is set and `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`
/// keeps span events (the default).
pub fn record_error(span: &SpanRef<'_>, record: &ErrorRecord<'_>) {
    span.set_attribute(KeyValue::new(
        opentelemetry_semantic_conventions::attribute::ERROR_TYPE,
        record.error_type.to_string(),
    ));
    if record.exception && semconv_stability().exceptions.span_events() {
        let mut attrs = vec![KeyValue::new(
            opentelemetry_semantic_conventions::attribute::EXCEPTION_TYPE,
            record.error_type.to_string(),
        )];
        if let Some(m) = &record.message {
            attrs.push(KeyValue::new(
                opentelemetry_semantic_conventions::attribute::EXCEPTION_MESSAGE,
                m.to_string(),
            ));
        }
        span.add_event("exception", attrs);
    }
    span.set_status(match &record.message {
        Some(m) => Status::error(m.to_string()),
        None => Status::error(""),
    });
}
