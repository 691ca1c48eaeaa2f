//! One database operation from start to end: the CLIENT span, its name and
//! attributes, and the `db.client.operation.duration` measurement. Every
//! client module goes through here.

use std::borrow::Cow;
use std::time::Instant;

use otel_kit_core::instrument::{ErrorRecord, ExceptionEvent, record_exception};
use otel_kit_core::opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt};
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::semconv::attribute as sc;

use crate::failure::DbFailure;
use crate::instrumentation::Instrumentation;
use crate::query_text::QueryText;
use crate::statement::Statement;
use crate::target::DbTarget;

/// The log record event of a failed operation when exceptions go to logs.
pub(crate) const DB_CLIENT_EXCEPTION: ExceptionEvent =
    ExceptionEvent::warn("db.client.operation.exception");

/// What an operation is, as the client module sees it.
#[derive(Default)]
pub(crate) struct Spec<'a> {
    /// `db.query.summary` (SQL).
    pub summary: Option<Cow<'static, str>>,
    /// `db.operation.name` (Redis command, `BATCH ...`).
    pub operation_name: Option<Cow<'static, str>>,
    /// `db.query.text`, already in the form to record.
    pub query_text: Option<Cow<'a, str>>,
    /// `db.operation.batch.size` (set only when 2 or more).
    pub batch_size: Option<usize>,
}

impl<'a> Spec<'a> {
    /// The spec of one SQL statement: its summary, and its text in the form
    /// the instrumentation's [`QueryText`] asks for.
    pub(crate) fn sql(
        inst: &Instrumentation,
        statement: &'a Statement,
        parameterized: bool,
    ) -> Self {
        let query_text = match inst.inner.query_text {
            QueryText::Off => None,
            QueryText::Sanitized => Some(Cow::Borrowed(statement.sanitized_text())),
            QueryText::Default if parameterized => Some(Cow::Borrowed(statement.text())),
            QueryText::Default => Some(Cow::Borrowed(statement.sanitized_text())),
        };
        Spec {
            summary: statement.summary.clone(),
            operation_name: None,
            query_text,
            batch_size: None,
        }
    }
}

/// A started operation. End it with [`end`](Self::end); dropped without
/// that (the caller's future was cancelled), it ends as failed with
/// `error.type` `cancelled`.
pub(crate) struct Operation<'t> {
    inst: &'t Instrumentation,
    target: &'t DbTarget,
    cx: Context,
    start: Instant,
    summary: Option<Cow<'static, str>>,
    operation_name: Option<Cow<'static, str>>,
    ended: bool,
}

impl Instrumentation {
    /// Starts the CLIENT span of an operation on `target` under `parent`.
    pub(crate) fn start<'t>(
        &'t self,
        target: &'t DbTarget,
        spec: Spec<'_>,
        parent: &Context,
    ) -> Operation<'t> {
        self.start_with(target, spec, parent, |_| {})
    }

    /// [`start`](Self::start) with `late` adding the attributes only a
    /// recording span needs (built only when the span records).
    pub(crate) fn start_with<'t>(
        &'t self,
        target: &'t DbTarget,
        spec: Spec<'_>,
        parent: &Context,
        mut late: impl FnMut(&mut Vec<KeyValue>),
    ) -> Operation<'t> {
        let name: Cow<'static, str> = match (&spec.summary, &spec.operation_name) {
            (Some(summary), _) => summary.clone(),
            (None, Some(op)) => op.clone(),
            (None, None) => Cow::Borrowed(target.system().as_str()),
        };
        let mut attrs = Vec::with_capacity(8);
        target.push_attributes(&mut attrs);
        if let Some(summary) = &spec.summary {
            attrs.push(KeyValue::new(sc::DB_QUERY_SUMMARY, summary.clone()));
        }
        if let Some(op) = &spec.operation_name {
            attrs.push(KeyValue::new(sc::DB_OPERATION_NAME, op.clone()));
        }
        if let Some(size) = spec.batch_size.filter(|&n| n >= 2) {
            attrs.push(KeyValue::new(
                sc::DB_OPERATION_BATCH_SIZE,
                i64::try_from(size).unwrap_or(i64::MAX),
            ));
        }
        let mut builder = SpanBuilder::from_name(name);
        builder.span_kind = Some(SpanKind::Client);
        builder.attributes = Some(attrs);
        let query_text = spec.query_text;
        let cx = self.inner.tracer.start(builder, parent, |attrs| {
            if let Some(text) = &query_text {
                attrs.push(KeyValue::new(sc::DB_QUERY_TEXT, text.to_string()));
            }
            late(attrs);
        });
        Operation {
            inst: self,
            target,
            cx,
            start: Instant::now(),
            summary: spec.summary,
            operation_name: spec.operation_name,
            ended: false,
        }
    }
}

impl Operation<'_> {
    /// The context holding the span: run the client call under it.
    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// Ends the span and records the duration: `failure` when the
    /// operation failed.
    pub(crate) fn end(mut self, failure: Option<&DbFailure>) {
        self.finish(failure);
    }

    /// [`end`](Self::end) from a result, classifying its error.
    pub(crate) fn end_with<T, E>(
        self,
        result: &Result<T, E>,
        classify: impl FnOnce(&E) -> DbFailure,
    ) {
        match result {
            Ok(_) => self.end(None),
            Err(e) => self.end(Some(&classify(e))),
        }
    }

    fn finish(&mut self, failure: Option<&DbFailure>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let elapsed = self.start.elapsed().as_secs_f64();
        let span = self.cx.span();
        if let Some(f) = failure {
            if let Some(code) = f.status_code() {
                span.set_attribute(KeyValue::new(sc::DB_RESPONSE_STATUS_CODE, code.to_owned()));
            }
            record_exception(
                &span,
                &ErrorRecord {
                    error_type: Cow::Borrowed(f.error_type()),
                    message: (!f.message().is_empty()).then_some(Cow::Borrowed(f.message())),
                    exception: true,
                },
                &self.inst.inner.exceptions,
                DB_CLIENT_EXCEPTION,
            );
        }
        span.end();
        self.record_duration(elapsed, failure);
    }

    fn record_duration(&self, elapsed: f64, failure: Option<&DbFailure>) {
        let attrs = || {
            let mut attrs = Vec::with_capacity(9);
            self.target.push_attributes(&mut attrs);
            if let Some(summary) = &self.summary {
                attrs.push(KeyValue::new(sc::DB_QUERY_SUMMARY, summary.clone()));
            }
            if let Some(op) = &self.operation_name {
                attrs.push(KeyValue::new(sc::DB_OPERATION_NAME, op.clone()));
            }
            if let Some(f) = failure {
                attrs.push(KeyValue::new(sc::ERROR_TYPE, f.error_type().to_owned()));
                if let Some(code) = f.status_code() {
                    attrs.push(KeyValue::new(sc::DB_RESPONSE_STATUS_CODE, code.to_owned()));
                }
            }
            attrs
        };
        let inner = &self.inst.inner;
        // Successful operations with 'static (interned) names record through
        // a handle bound once per (target, summary, operation).
        let key = match (failure, &self.summary, &self.operation_name) {
            (None, Some(Cow::Borrowed(s)), None) => Some((s.as_ptr() as usize, s.len())),
            (None, None, Some(Cow::Borrowed(o))) => Some((o.as_ptr() as usize, o.len() | 1 << 63)),
            _ => None,
        };
        let (target_id, target_alive) = self.target.id();
        let bound = key.and_then(|(name, len)| {
            inner.duration_bound.with(
                (target_id, name, len),
                || (target_alive.clone(), inner.duration.bind(&attrs())),
                |(_, bound)| bound.record(elapsed),
            )
        });
        if bound.is_none() {
            inner.duration.record(elapsed, &attrs());
        }
    }
}

impl Drop for Operation<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.finish(Some(&DbFailure::class(
                "cancelled",
                "operation cancelled before it completed",
            )));
        }
    }
}
