//! Settle operations (ack, nack, reject, term, commit): CLIENT `settle`
//! spans under the process span of the message (or batch) they settle.

use otel_kit_core::instrument::OTHER;
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::semconv::attribute as attr;

use crate::delivered::Delivered;
use crate::instrumentation::Instrumentation;
use crate::operation::{Operation, OperationType};

/// Runs the settle future `fut` as a span named `{name} {destination}`
/// under `parent` (`base`: the message's process operation).
#[cfg(any(feature = "nats", feature = "rabbitmq"))]
pub(crate) async fn settle<T, E, F>(
    inst: &Instrumentation,
    base: &Operation,
    parent: &Context,
    name: &'static str,
    fut: F,
) -> Result<T, E>
where
    F: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let op = settle_op(base, name);
    let span = inst.start(&op, parent, Vec::new(), |_| {});
    let result = span.in_span(fut).await;
    match &result {
        Ok(_) => span.end(),
        Err(e) => span.end_with_error(name_error(name), &e.to_string()),
    }
    result
}

/// Runs `f` as a settle span named `{name} {destination}` under `parent`
/// (Kafka commits, which are synchronous).
#[cfg(feature = "kafka")]
pub(crate) fn settle_sync<T, E, F>(
    inst: &Instrumentation,
    base: &Operation,
    parent: &Context,
    name: &'static str,
    f: F,
) -> Result<T, E>
where
    F: FnOnce() -> Result<T, E>,
    E: std::fmt::Display,
{
    let op = settle_op(base, name);
    let span = inst.start(&op, parent, Vec::new(), |_| {});
    let result = {
        let _guard = span.context().clone().attach();
        f()
    };
    match &result {
        Ok(_) => span.end(),
        Err(e) => span.end_with_error(name_error(name), &e.to_string()),
    }
    result
}

impl<M> Delivered<M> {
    /// Runs a settle operation (`name`: ack, nack, reject, term…) as a
    /// CLIENT span that is a child of the process span.
    #[cfg(any(feature = "nats", feature = "rabbitmq"))]
    pub(crate) async fn settle<T, E, F>(&self, name: &'static str, fut: F) -> Result<T, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let span = self.span();
        settle(&span.inst, &self.op, span.context(), name, fut).await
    }

    /// Synchronous variant of [`settle`](Self::settle) (Kafka commits).
    #[cfg(feature = "kafka")]
    pub(crate) fn settle_sync<T, E, F>(&self, name: &'static str, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        E: std::fmt::Display,
    {
        let span = self.span();
        settle_sync(&span.inst, &self.op, span.context(), name, f)
    }
}

/// The settle operation of `name` on the message `base` describes.
fn settle_op(base: &Operation, name: &'static str) -> Operation {
    let mut op = base.clone();
    op.name = name;
    op.op_type = OperationType::Settle;
    op.kind = None;
    op.counts_consumed = false;
    op.batch_count = None;
    op.body_size = None;
    op.span_attrs
        .retain(|kv| kv.key.as_str() != attr::MESSAGING_MESSAGE_BODY_SIZE);
    op
}

/// `error.type` of a failed settle operation: the class it names.
fn name_error(name: &str) -> &'static str {
    match name {
        "ack" => "ack_failed",
        "nack" | "nak" => "nack_failed",
        "reject" => "reject_failed",
        "term" => "term_failed",
        "commit" => "commit_failed",
        _ => OTHER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_failures_are_named_by_the_operation() {
        for (name, expected) in [
            ("ack", "ack_failed"),
            ("nack", "nack_failed"),
            ("nak", "nack_failed"),
            ("reject", "reject_failed"),
            ("term", "term_failed"),
            ("commit", "commit_failed"),
            ("other", OTHER),
        ] {
            assert_eq!(name_error(name), expected);
        }
    }
}
