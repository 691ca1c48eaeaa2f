//! [`OperationSpan`]: a started messaging span and, when it ends, its
//! duration and message-count metrics.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use otel_kit_core::instrument::{ErrorRecord, ExceptionEvent, record_exception};
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::semconv::attribute as attr;

use crate::destination_cache::{BoundOp, Prepared};
use crate::instrumentation::Instrumentation;
use crate::operation::{Operation, OperationType};

/// A started messaging span with its duration metric: a batch's `process`
/// span, the span of a batch send. End it with [`end`](Self::end) or
/// [`end_with_error`](Self::end_with_error); dropping it ends it as a
/// success.
///
/// Run the work it covers with [`in_span`](Self::in_span) so spans the work
/// starts (and settle spans) are its children:
///
/// ```no_run
/// # async fn run(
/// #     js: otel_kit_messaging::nats::TracedJetStream,
/// #     batch: Vec<otel_kit_messaging::nats::async_nats::jetstream::Message>,
/// # ) -> Result<(), otel_kit_messaging::nats::async_nats::Error> {
/// let span = js.process_batch(&batch); // one `process` span linking every message
/// span.in_span(async {
///     for message in &batch {
///         // ... handle ...
///         js.ack(&span, message).await?; // `ack` settle spans under it
///     }
///     Ok::<_, otel_kit_messaging::nats::async_nats::Error>(())
/// })
/// .await?;
/// span.end();
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct OperationSpan {
    cx: Context,
    start: Instant,
    /// Shared attributes of the operation and their bound instruments
    /// (cached per destination).
    prepared: Arc<Prepared>,
    /// Shared attributes known only later (Kafka partition), then `error.type`.
    metric_extra: Vec<KeyValue>,
    op_type: OperationType,
    count: u64,
    counts_consumed: bool,
    pub(crate) inst: Instrumentation,
    ended: bool,
}

impl OperationSpan {
    /// The span `cx` holds, for `op`, started at `start`.
    pub(crate) fn new(
        cx: Context,
        start: Instant,
        prepared: Arc<Prepared>,
        op: &Operation,
        inst: Instrumentation,
    ) -> Self {
        Self {
            cx,
            start,
            prepared,
            metric_extra: Vec::new(),
            op_type: op.op_type,
            count: op.batch_count.unwrap_or(1) as u64,
            counts_consumed: op.counts_consumed,
            inst,
            ended: false,
        }
    }

    /// The context holding this span.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Runs `work` with this span's context current (attached at each
    /// poll), so spans it starts are children of this span; returns its
    /// output. The span stays open.
    pub async fn in_span<F: IntoFuture>(&self, work: F) -> F::Output {
        otel_kit_core::opentelemetry::context::FutureExt::with_context(
            work.into_future(),
            self.cx.clone(),
        )
        .await
    }

    /// Adds an attribute to the span.
    pub fn set_attribute(&self, kv: KeyValue) {
        self.cx.span().set_attribute(kv);
    }

    /// Adds an attribute to the span and to the metrics recorded when it
    /// ends (for values known only at the end, such as a Kafka partition).
    #[cfg(feature = "kafka")]
    pub(crate) fn set_shared_attribute(&mut self, kv: KeyValue) {
        self.cx.span().set_attribute(kv.clone());
        self.metric_extra.push(kv);
    }

    /// Ends the span as a success and records its metrics.
    pub fn end(mut self) {
        self.finish(None);
    }

    /// Ends the span as failed: `error.type` on span and metrics, status
    /// Error with `message`, and an `exception` event.
    pub fn end_with_error(mut self, error_type: &str, message: &str) {
        self.finish(Some((error_type, message)));
    }

    fn finish(&mut self, error: Option<(&str, &str)>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let elapsed = self.start.elapsed().as_secs_f64();
        let span = self.cx.span();
        let mut extra = std::mem::take(&mut self.metric_extra);
        if let Some((error_type, message)) = error {
            let event = match self.op_type {
                OperationType::Create => ExceptionEvent::MESSAGING_CREATE,
                OperationType::Send => ExceptionEvent::MESSAGING_SEND,
                OperationType::Receive => ExceptionEvent::MESSAGING_RECEIVE,
                OperationType::Process => ExceptionEvent::MESSAGING_PROCESS,
                OperationType::Settle => ExceptionEvent::MESSAGING_SETTLE,
            };
            record_exception(
                &span,
                &ErrorRecord {
                    error_type: Cow::Borrowed(error_type),
                    message: (!message.is_empty()).then_some(Cow::Borrowed(message)),
                    exception: true,
                },
                &self.inst.inner.recording.exceptions,
                event,
            );
            extra.push(KeyValue::new(attr::ERROR_TYPE, error_type.to_owned()));
        }
        let inner = &self.inst.inner.recording;
        let duration = match self.op_type {
            OperationType::Process => &inner.process_duration,
            _ => &inner.operation_duration,
        };
        let counter = if self.op_type == OperationType::Send {
            Some(&inner.sent)
        } else if self.counts_consumed {
            Some(&inner.consumed)
        } else {
            None
        };
        let attrs = &*self.prepared.metric_attrs;
        if extra.is_empty() && self.prepared.cached {
            // The instruments depend on the operation type (part of the
            // prepared entry's key) and on `counts_consumed`.
            let bound =
                self.prepared.bound[usize::from(self.counts_consumed)].get_or_init(|| BoundOp {
                    duration: duration.bind(attrs),
                    count: counter.map(|c| c.bind(attrs)),
                });
            bound.duration.record(elapsed);
            if let Some(c) = &bound.count {
                c.add(self.count);
            }
        } else if extra.is_empty() {
            duration.record(elapsed, attrs);
            if let Some(c) = counter {
                c.add(self.count, attrs);
            }
        } else {
            let attrs: Vec<KeyValue> = attrs.iter().cloned().chain(extra).collect();
            duration.record(elapsed, &attrs);
            if let Some(c) = counter {
                c.add(self.count, &attrs);
            }
        }
        span.end();
    }
}

impl Drop for OperationSpan {
    fn drop(&mut self) {
        self.finish(None);
    }
}
