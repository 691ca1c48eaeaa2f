use super::error_record::ErrorRecord;
use super::exception::{ExceptionEvent, ExceptionEvents};
use crate::config::semconv_stability;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanRef, Status};

/// Marks `span` failed: status Error with the message, `error.type`, and an
/// `exception` event (`exception.type`, `exception.message`) when
/// `record.exception` is set and `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`
/// keeps span events (the default). Layers that can emit log records use
/// [`record_exception`] instead.
pub fn record_error(span: &SpanRef<'_>, record: &ErrorRecord<'_>) {
    mark_failed(span, record, semconv_stability().exceptions.span_events());
}

/// [`record_error`] with the exception signal of `events`: the `exception`
/// span event and/or a log record named by `event`, attached to the span.
/// A span that does not record still gets its log record: exceptions as
/// logs do not depend on trace sampling.
pub fn record_exception(
    span: &SpanRef<'_>,
    record: &ErrorRecord<'_>,
    events: &ExceptionEvents,
    event: ExceptionEvent,
) {
    if span.is_recording() {
        mark_failed(span, record, events.span_events());
    }
    events.emit_log(span.span_context(), event, record);
}

fn mark_failed(span: &SpanRef<'_>, record: &ErrorRecord<'_>, span_event: bool) {
    span.set_attribute(KeyValue::new(
        opentelemetry_semantic_conventions::attribute::ERROR_TYPE,
        record.error_type.to_string(),
    ));
    if record.exception && span_event {
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
