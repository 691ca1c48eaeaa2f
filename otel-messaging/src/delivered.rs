//! [`Delivered`]: a consumed message with its `process` span, and running
//! the handler inside that span.

use otel_kit_core::instrument::type_error_type;
use otel_kit_core::opentelemetry::Context;

use crate::operation::Operation;
use crate::operation_span::OperationSpan;

/// A message handed to the application together with its `process` span.
///
/// Every traced consumer yields these: Kafka's
/// [`TracedConsumer::stream`](crate::kafka::TracedConsumer::stream) /
/// `recv` / `poll`, NATS's [`TracedSubscriber`](crate::nats::TracedSubscriber)
/// and [`TracedJetStream::messages`](crate::nats::TracedJetStream::messages)
/// / `fetch`, RabbitMQ's [`TracedConsumer`](crate::rabbitmq::TracedConsumer)
/// and `basic_get`. It dereferences to the client's message.
///
/// Handle it with [`process`](Self::process): the handler runs inside the
/// process span (spans it starts, and settle spans such as `ack` or
/// `commit`, are children of it) and the span ends with the handler's
/// outcome. [`in_span`](Self::in_span) runs any future inside the span
/// without ending it. Otherwise the span ends when this value is dropped,
/// or with [`end`](Self::end) / [`end_with_error`](Self::end_with_error).
///
/// ```no_run
/// use futures_util::StreamExt;
/// use otel_kit_messaging::Instrumentation;
/// use otel_kit_messaging::nats::{TracedClient, async_nats};
///
/// # async fn run() -> Result<(), async_nats::Error> {
/// let client = TracedClient::new(
///     async_nats::connect("127.0.0.1:4222").await?,
///     Instrumentation::default(),
/// );
/// let mut orders = client.subscribe("orders.created").await?;
/// while let Some(message) = orders.next().await {
///     message
///         .process(async |message| {
///             // Runs inside `process orders.created`.
///             store(&message.payload).await
///         })
///         .await?;
/// }
/// # Ok(())
/// # }
/// # async fn store(_: &[u8]) -> Result<(), std::io::Error> { Ok(()) }
/// ```
#[derive(Debug)]
pub struct Delivered<M> {
    message: M,
    span: OperationSpan,
    pub(crate) op: Operation,
}

impl<M> Delivered<M> {
    pub(crate) fn new(message: M, span: OperationSpan, op: Operation) -> Self {
        Self { message, span, op }
    }

    /// Runs `handler` with this message inside the process span (its
    /// context current at every poll), then ends the span: a success for
    /// `Ok`; for `Err` a failure with `error.type` the error's Rust type
    /// (`_OTHER` for a type-erased error, the family's rule) and the
    /// error's message. Returns the handler's result.
    ///
    /// Settle in the handler (`message.ack()`, `message.commit(…)`) so the
    /// settle span is a child of the process span. To name the failure
    /// yourself, use [`in_span`](Self::in_span) and
    /// [`end_with_error`](Self::end_with_error).
    pub async fn process<T, E, H>(self, handler: H) -> Result<T, E>
    where
        H: AsyncFnOnce(&Self) -> Result<T, E>,
        E: std::fmt::Display,
    {
        let result = self.in_span(handler(&self)).await;
        match &result {
            Ok(_) => self.span.end(),
            Err(e) => self
                .span
                .end_with_error(type_error_type::<E>(), &e.to_string()),
        }
        result
    }

    /// Runs `work` with the process span's context current (attached at
    /// each poll), so spans it starts are children of the process span;
    /// returns its output. The span stays open: end it, or let it end when
    /// this value is dropped.
    pub async fn in_span<F: IntoFuture>(&self, work: F) -> F::Output {
        self.span.in_span(work).await
    }

    /// The context of the process span (to run work under it by hand).
    pub fn context(&self) -> &Context {
        self.span.context()
    }

    /// The message.
    pub fn message(&self) -> &M {
        &self.message
    }

    /// Ends the process span as a success.
    pub fn end(self) -> M {
        let (message, span) = self.into_parts();
        span.end();
        message
    }

    /// Ends the process span as failed (see [`OperationSpan::end_with_error`]).
    pub fn end_with_error(self, error_type: &str, message: &str) -> M {
        let (m, span) = self.into_parts();
        span.end_with_error(error_type, message);
        m
    }

    /// The message and its (still running) process span.
    pub fn into_parts(self) -> (M, OperationSpan) {
        (self.message, self.span)
    }

    /// The process span.
    pub(crate) fn span(&self) -> &OperationSpan {
        &self.span
    }
}

impl<M> std::ops::Deref for Delivered<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.message
    }
}
