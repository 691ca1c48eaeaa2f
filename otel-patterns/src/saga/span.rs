//! The spans of a saga: the saga span (`saga {name}`), step and
//! compensation spans (`saga.step {step}`, `saga.compensate {step}`), and
//! how a failure is recorded on them.

use super::SagaInner;
use super::outcome::SagaOutcome;
use crate::failure::{self, SAGA_EXCEPTION, SAGA_STEP_EXCEPTION};
use crate::instrumentation::shared_kv;
use crate::log::LogError;
use crate::names;
use opentelemetry::trace::{Link, SpanBuilder, SpanContext, SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use otel_kit_core::instrument::{ErrorRecord, ExceptionEvents};
use otel_kit_core::opentelemetry;
use std::borrow::Cow;
use std::sync::Arc;

/// The failure that triggered compensations.
pub(super) struct Trigger {
    /// The failed step.
    pub(super) step: Arc<str>,
    /// Its `error.type`.
    pub(super) error_type: String,
    /// Its span, linked from every compensation span.
    pub(super) span: Option<SpanContext>,
}

impl<I> SagaInner<I> {
    /// Starts the saga span under `parent`; a recovered run links to the
    /// `original` saga span.
    pub(super) fn root_span(
        &self,
        parent: &Context,
        id: &str,
        recovered: bool,
        original: Option<SpanContext>,
    ) -> Context {
        let mut b = SpanBuilder::from_name(self.span_name.clone())
            .with_kind(SpanKind::Internal)
            .with_attributes({
                // Room for `saga.outcome` and `error.type`, set at the end,
                // so the SDK's attribute vector never reallocates.
                let mut attrs = Vec::with_capacity(5);
                attrs.extend([
                    shared_kv(names::SAGA_NAME, self.name.clone()),
                    KeyValue::new(names::SAGA_ID, id.to_owned()),
                    KeyValue::new(names::SAGA_RECOVERED, recovered),
                ]);
                attrs
            });
        if let Some(o) = original {
            b = b.with_links(vec![Link::new(
                o,
                vec![KeyValue::new(names::SAGA_LINK_ROLE, "original")],
                0,
            )]);
        }
        self.tracer.start_simple(b, parent)
    }

    /// Ends the saga span with its outcome, or the log failure that
    /// stopped it.
    pub(super) fn end_root(&self, root: &Context, r: Result<&SagaOutcome, &LogError>) {
        let failed = |error_type: &str, message: &'static str| ErrorRecord {
            error_type: Cow::Owned(error_type.to_owned()),
            message: Some(Cow::Borrowed(message)),
            // The step or compensation span recorded the exception.
            exception: false,
        };
        let record = match r {
            Ok(o) => {
                root.span()
                    .set_attribute(KeyValue::new(names::SAGA_OUTCOME, o.as_str()));
                match o {
                    SagaOutcome::Completed => None,
                    SagaOutcome::Compensated { error_type, .. } => {
                        Some(failed(error_type, "saga compensated"))
                    }
                    SagaOutcome::Stuck { error_type, .. } => {
                        Some(failed(error_type, "saga stuck: compensation failed"))
                    }
                }
            }
            Err(e) => Some(log_failure(e)),
        };
        if let Some(record) = record {
            failure::record(root, true, &record, &self.exceptions, SAGA_EXCEPTION);
        }
        root.span().end();
    }

    /// Starts the span of step `index`'s action (no `trigger`) or
    /// compensation; `None` when the saga span is not sampled (steps then
    /// run in its context, without spans of their own).
    pub(super) fn step_span(
        &self,
        root: &Context,
        saga_id: &Arc<str>,
        index: usize,
        name: Cow<'static, str>,
        trigger: Option<&Trigger>,
        links: Option<Vec<Link>>,
    ) -> Option<Context> {
        if !root.span().span_context().is_sampled() {
            return None;
        }
        // Room for the trigger pair, `saga.step.attempts` and `error.type`,
        // so the SDK's attribute vector never reallocates.
        // Built from the shared names (a reference-count increment each),
        // not cloned from stored `KeyValue`s (an out-of-line match).
        let mut attrs = Vec::with_capacity(8);
        attrs.extend([
            shared_kv(names::SAGA_NAME, self.name.clone()),
            shared_kv(names::SAGA_ID, saga_id.clone()),
            shared_kv(names::SAGA_STEP, self.steps[index].name.clone()),
            KeyValue::new(names::SAGA_STEP_INDEX, index as i64),
        ]);
        if let Some(t) = trigger {
            attrs.push(shared_kv(names::SAGA_TRIGGER_STEP, t.step.clone()));
            attrs.push(KeyValue::new(
                names::SAGA_TRIGGER_ERROR,
                t.error_type.clone(),
            ));
        }
        let mut builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Internal)
            .with_attributes(attrs);
        if let Some(links) = links {
            // Only when there are some: an empty vector still costs the SDK
            // a pass over it and a drop.
            builder = builder.with_links(links);
        }
        Some(self.tracer.start_simple(builder, root))
    }
}

/// Ends a step or compensation span. `own` is false for an unsampled saga,
/// whose steps run in the saga span's context: that span is not theirs to
/// annotate or end.
/// A failed step or compensation is recorded, with an exception log record
/// even for an unsampled saga (see [`failure::record`]).
pub(super) fn end_span(
    cx: &Context,
    own: bool,
    attempts: Option<u32>,
    failed: Option<&ErrorRecord<'_>>,
    exceptions: &ExceptionEvents,
) {
    if let Some(record) = failed {
        failure::record(cx, own, record, exceptions, SAGA_STEP_EXCEPTION);
    }
    if !own {
        return;
    }
    let span = cx.span();
    if let Some(n) = attempts {
        span.set_attribute(KeyValue::new(names::SAGA_STEP_ATTEMPTS, i64::from(n)));
    }
    span.end();
}

/// A step or compensation that failed with an error (an exception) or,
/// without a message, timed out (no exception).
pub(super) fn step_failure<'a>(error_type: &'a str, message: Option<&'a str>) -> ErrorRecord<'a> {
    ErrorRecord {
        error_type: Cow::Borrowed(error_type),
        message: Some(Cow::Borrowed(message.unwrap_or("timed out"))),
        exception: message.is_some(),
    }
}

/// The log refused a write: the saga's failure (an exception).
pub(super) fn log_failure(e: &LogError) -> ErrorRecord<'static> {
    ErrorRecord {
        error_type: Cow::Borrowed(otel_kit_core::instrument::type_error_type::<LogError>()),
        message: Some(Cow::Owned(e.to_string())),
        exception: true,
    }
}

/// The log refused a write while a step ran: the step's span is marked
/// failed, the exception is the saga's (recorded on its span).
pub(super) fn log_step_failure(e: &LogError) -> ErrorRecord<'static> {
    ErrorRecord {
        exception: false,
        ..log_failure(e)
    }
}
