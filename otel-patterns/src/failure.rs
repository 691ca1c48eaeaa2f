//! How a pattern records a failure: `error.type` by the family's one rule
//! (`otel_kit_core::instrument`'s `error_type` module), span status and
//! exceptions through `otel_kit_core::instrument::record_exception`.

use crate::BoxError;
use crate::names;
use crate::saga::StepError;
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use otel_kit_core::instrument::{ErrorRecord, ExceptionEvent, ExceptionEvents, record_exception};
use otel_kit_core::opentelemetry;
use std::borrow::Cow;

/// Exception log records of a failed saga (its log refused a write).
pub(crate) const SAGA_EXCEPTION: ExceptionEvent = ExceptionEvent::error(names::SAGA_EXCEPTION);
/// Exception log records of a failed step action or compensation.
pub(crate) const SAGA_STEP_EXCEPTION: ExceptionEvent =
    ExceptionEvent::error(names::SAGA_STEP_EXCEPTION);
/// Exception log records of a failed two-phase-commit transaction (its log
/// refused a write).
pub(crate) const TX_EXCEPTION: ExceptionEvent = ExceptionEvent::error(names::TX_EXCEPTION);
/// Exception log records of a participant call that failed.
pub(crate) const TX_PARTICIPANT_EXCEPTION: ExceptionEvent =
    ExceptionEvent::error(names::TX_PARTICIPANT_EXCEPTION);
/// Exception log records of a retry attempt that failed with an error.
pub(crate) const RETRY_ATTEMPT_EXCEPTION: ExceptionEvent =
    ExceptionEvent::warn(names::RETRY_ATTEMPT_EXCEPTION);

/// `error.type` of a boxed error: the class a [`StepError`] names (rule 2),
/// else `fallback` (what the error's static type said before it was boxed,
/// [`OTHER`] when it was boxed already).
pub(crate) fn boxed_error_type(e: &BoxError, fallback: &'static str) -> Cow<'static, str> {
    StepError::class_of(e, fallback)
}

/// Records `record` on the span of `cx` when it is the pattern's own span
/// (`own`), with an `exception` event or log record per `events`; on a
/// context the pattern does not own (an unsampled saga's step, which runs in
/// the saga span's context) only the exception log record is emitted, so
/// exceptions as logs do not depend on sampling.
pub(crate) fn record(
    cx: &Context,
    own: bool,
    record: &ErrorRecord<'_>,
    events: &ExceptionEvents,
    event: ExceptionEvent,
) {
    let span = cx.span();
    if own {
        record_exception(&span, record, events, event);
    } else {
        events.emit_log(span.span_context(), event, record);
    }
}
