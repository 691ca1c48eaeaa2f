//! JetStream: publish spans that end at the server's ack (single messages
//! and batches), pull fetches as receive spans, consumer process spans and
//! `ack` / `nak` / `term` settle spans.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::ToSubject;
use async_nats::jetstream::consumer::pull::{Batch, BatchError};
use async_nats::jetstream::context::PublishError;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::{self, AckKind};
use async_nats::message::OutboundMessage;
use bytes::Bytes;
use futures_util::Stream;
use otel_kit_core::instrument::{OTHER, variant_error_type};
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::Link;
use otel_kit_core::opentelemetry::{Context, KeyValue};

use super::{NatsHeaderExtractor, OutgoingNats, TracedClient};
use crate::delivered::Delivered;
use crate::instrumentation::Instrumentation;
use crate::operation::{Operation, OperationType, shared_value};
use crate::operation_span::OperationSpan;
use crate::settle::settle;

/// Span attribute: the JetStream stream name (project convention).
pub(crate) const NATS_STREAM: &str = "messaging.nats.stream.name";
/// Span attribute: the message's stream sequence (project convention).
pub(crate) const NATS_STREAM_SEQUENCE: &str = "messaging.nats.stream.sequence";

/// A JetStream context whose publishes and consumed messages are traced.
/// Cheap to clone.
///
/// Publish (the span ends at the server's ack), and a pull consumer whose
/// messages are acked inside their `process` span:
///
/// ```no_run
/// use bytes::Bytes;
/// use otel_kit_messaging::Instrumentation;
/// use otel_kit_messaging::nats::TracedJetStream;
/// use otel_kit_messaging::nats::async_nats::{self, jetstream};
///
/// # async fn run() -> Result<(), async_nats::Error> {
/// let client = async_nats::connect("127.0.0.1:4222").await?;
/// let js = TracedJetStream::new(jetstream::new(client), Instrumentation::default());
/// js.publish("orders.created", Bytes::from_static(b"{}")).await?;
///
/// let stream = js.context().get_stream("ORDERS").await?;
/// let consumer: jetstream::consumer::PullConsumer = stream.get_consumer("billing").await?;
/// // One `receive` span for the fetch, then a `process` span per message.
/// for message in js.fetch(consumer.fetch().max_messages(10).messages()).await? {
///     message
///         .process(async |message| {
///             // ... handle message.payload ...
///             message.ack().await // `ack orders.created`, under the process span
///         })
///         .await?;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TracedJetStream {
    context: jetstream::Context,
    client: TracedClient,
}

impl TracedJetStream {
    /// Wraps `context` (from `jetstream::new(client)` or a
    /// `jetstream::ContextBuilder`); `server.address` / `server.port`
    /// come from the connection's server INFO.
    pub fn new(context: jetstream::Context, instrumentation: Instrumentation) -> Self {
        let client = TracedClient::new(context.client(), instrumentation);
        Self::from_traced(context, client)
    }

    pub(super) fn from_traced(context: jetstream::Context, client: TracedClient) -> Self {
        Self { context, client }
    }

    /// Records `server.address` / `server.port` (the broker) on every span
    /// and metric instead of the server's INFO.
    pub fn with_server(mut self, host: impl Into<String>, port: u16) -> Self {
        self.client = self.client.with_server(host, port);
        self
    }

    /// The instrumentation in use.
    pub fn instrumentation(&self) -> &Instrumentation {
        self.client.instrumentation()
    }

    /// The wrapped context (stream and consumer management, untraced calls).
    pub fn context(&self) -> &jetstream::Context {
        &self.context
    }

    /// Publishes and waits for the server's ack, in a `send {subject}`
    /// PRODUCER span that records the stream and stream sequence.
    pub async fn publish<S: ToSubject>(
        &self,
        subject: S,
        payload: Bytes,
    ) -> Result<PublishAck, PublishError> {
        self.publish_with_headers(subject, HeaderMap::new(), payload)
            .await
    }

    /// [`publish`](Self::publish) keeping the caller's headers.
    pub async fn publish_with_headers<S: ToSubject>(
        &self,
        subject: S,
        mut headers: HeaderMap,
        payload: Bytes,
    ) -> Result<PublishAck, PublishError> {
        let subject = subject.to_subject();
        let span = self
            .client
            .send_span("publish", &subject, &payload, &mut headers, None);
        let cx = span.context().clone();
        let result = async {
            let ack = self
                .context
                .publish_with_headers(subject, headers, payload)
                .await?;
            ack.await
        }
        .with_context(cx)
        .await;
        match &result {
            Ok(ack) => {
                span.set_attribute(KeyValue::new(NATS_STREAM, ack.stream.clone()));
                span.set_attribute(KeyValue::new(NATS_STREAM_SEQUENCE, ack.sequence as i64));
                span.end();
            }
            Err(e) => span.end_with_error(&variant_error_type(&e.kind()), &e.to_string()),
        }
        result
    }

    /// Publishes a batch and waits for every ack, returning the results in
    /// order. Spans as for [`TracedClient::publish_batch`]: a
    /// `create {subject}` PRODUCER span per message (context injected),
    /// one `publish {subject}` CLIENT span with
    /// `messaging.batch.message_count` and links to the creation contexts,
    /// ending at the last ack. It records `messaging.nats.stream.name` when all
    /// acks name one stream, and the first failure's `error.type`. The
    /// messages' reply subjects are ignored (JetStream replies with the ack).
    pub async fn publish_batch(
        &self,
        messages: Vec<OutboundMessage>,
    ) -> Vec<Result<PublishAck, PublishError>> {
        let mut outgoing = self.client.outgoing(messages);
        let span = self.client.start_batch("publish", &mut outgoing);
        let context = &self.context;
        let results = async {
            let mut pending = Vec::with_capacity(outgoing.len());
            for OutgoingNats { message: m, .. } in outgoing {
                let headers = m.headers.unwrap_or_default();
                pending.push(
                    context
                        .publish_with_headers(m.subject, headers, m.payload)
                        .await,
                );
            }
            futures_util::future::join_all(pending.into_iter().map(|p| async move { p?.await }))
                .await
        }
        .with_context(span.context().clone())
        .await;
        if let Some(e) = results.iter().find_map(|r| r.as_ref().err()) {
            span.end_with_error(&variant_error_type(&e.kind()), &e.to_string());
        } else {
            let streams = results.iter().filter_map(|r| r.as_ref().ok());
            if let Some(stream) = shared_value(streams.map(|a| a.stream.as_str())) {
                span.set_attribute(KeyValue::new(NATS_STREAM, stream.to_owned()));
            }
            span.end();
        }
        results
    }

    /// Runs a pull consumer's fetch (`consumer.fetch()….messages()` or
    /// `consumer.batch()….messages()`) in a `receive {subject}` CLIENT span
    /// and returns the received messages, each with its process span
    /// (whose `ack` / `nak` / `term` are settle spans).
    ///
    /// The receive span covers the request until the batch is complete,
    /// links to every message's creation context (with its
    /// `messaging.nats.stream.sequence` as a link attribute), and records
    /// `messaging.batch.message_count`, the consumer name as
    /// `messaging.consumer.group.name` and `messaging.nats.stream.name`. Subject
    /// and consumer are recorded when all messages share them (with no
    /// message the name falls back to `receive {server}`). The messages are
    /// counted in `messaging.client.consumed.messages` once, by the receive
    /// span. A failed request or a failed message ends the span with
    /// `error.type` (the async-nats error kind, or `_OTHER`) and is
    /// returned; messages received before it are not acked, so the server
    /// redelivers them.
    pub async fn fetch<F>(
        &self,
        request: F,
    ) -> Result<Vec<Delivered<jetstream::Message>>, async_nats::Error>
    where
        F: std::future::IntoFuture<Output = Result<Batch, BatchError>>,
    {
        let inst = self.client.instrumentation();
        let started = (std::time::SystemTime::now(), std::time::Instant::now());
        let mut received = Vec::new();
        let outcome: Result<(), (String, async_nats::Error)> = async {
            let mut batch = request
                .await
                .map_err(|e| (variant_error_type(&e.kind()), e.into()))?;
            while let Some(message) = futures_util::StreamExt::next(&mut batch).await {
                // A type-erased error: no class to name.
                received.push(message.map_err(|e| (OTHER.to_owned(), e))?);
            }
            Ok(())
        }
        .await;
        let (op, links) = self.batch_op("receive", OperationType::Receive, &received);
        let span = inst.start_at(&op, &Context::current(), links, |_| {}, Some(started));
        match outcome {
            Ok(()) => {
                span.end();
                Ok(received
                    .into_iter()
                    .map(|m| self.process_counted(m, false))
                    .collect())
            }
            Err((error_type, e)) => {
                span.end_with_error(&error_type, &e.to_string());
                Err(e)
            }
        }
    }

    /// The operation and links of a span over a batch of messages.
    fn batch_op(
        &self,
        name: &'static str,
        op_type: OperationType,
        messages: &[jetstream::Message],
    ) -> (Operation, Vec<Link>) {
        let subject = shared_value(messages.iter().map(|m| m.message.subject.as_str()));
        let mut op = self.client.op(name, op_type, subject.unwrap_or(""));
        if subject.is_none() {
            op.destination = None;
            op.temporary = false;
        }
        op.batch_count = Some(messages.len());
        op.counts_consumed = true;
        let infos: Vec<_> = messages.iter().map(|m| m.info().ok()).collect();
        op.consumer_group = shared_value(infos.iter().map(|i| i.as_ref().map(|i| i.consumer)))
            .flatten()
            .map(str::to_owned);
        if let Some(stream) =
            shared_value(infos.iter().map(|i| i.as_ref().map(|i| i.stream))).flatten()
        {
            op.span_attrs
                .push(KeyValue::new(NATS_STREAM, stream.to_owned()));
        }
        let inst = self.client.instrumentation();
        let links = messages
            .iter()
            .zip(&infos)
            .filter_map(|(m, info)| {
                let creation =
                    inst.creation_context(&NatsHeaderExtractor(m.message.headers.as_ref()?));
                creation.is_valid().then(|| {
                    let attrs = info
                        .iter()
                        .map(|i| KeyValue::new(NATS_STREAM_SEQUENCE, i.stream_sequence as i64))
                        .collect();
                    Link::new(creation, attrs, 0)
                })
            })
            .collect();
        (op, links)
    }

    /// Starts one `process {subject}` CONSUMER span for a batch of messages
    /// handled together (e.g. collected from an untraced
    /// `consumer.batch()` / `fetch()`): `messaging.batch.message_count`, a
    /// link to every message's creation context (with its stream sequence
    /// as a link attribute), the shared consumer and stream, counted in
    /// `messaging.client.consumed.messages`. It stays under the current
    /// context (batches always link). Run the handling under
    /// [`OperationSpan::in_span`](crate::OperationSpan::in_span), settle the
    /// messages with [`ack`](Self::ack) / [`nak`](Self::nak) /
    /// [`term`](Self::term) (settle spans, children of the batch span),
    /// then end it.
    pub fn process_batch(&self, messages: &[jetstream::Message]) -> OperationSpan {
        let (op, links) = self.batch_op("process", OperationType::Process, messages);
        self.client
            .instrumentation()
            .start(&op, &Context::current(), links, |_| {})
    }

    /// Starts the process span of a consumed JetStream message.
    pub fn process(&self, message: jetstream::Message) -> Delivered<jetstream::Message> {
        self.process_counted(message, true)
    }

    /// Acknowledges `message`, one of a batch handled under `parent` (the
    /// span of [`process_batch`](Self::process_batch), usually), in an
    /// `ack {subject}` settle span (CLIENT, child of `parent`) with the
    /// message's consumer, stream and stream sequence. A failure ends the
    /// span with `error.type = ack_failed` and is returned.
    pub async fn ack(
        &self,
        parent: &OperationSpan,
        message: &jetstream::Message,
    ) -> Result<(), async_nats::Error> {
        self.settle_raw(parent, message, "ack", AckKind::Ack).await
    }

    /// Negatively acknowledges `message` (redelivery, optionally after
    /// `delay`) in a `nak {subject}` settle span under `parent`, as
    /// [`ack`](Self::ack).
    pub async fn nak(
        &self,
        parent: &OperationSpan,
        message: &jetstream::Message,
        delay: Option<Duration>,
    ) -> Result<(), async_nats::Error> {
        self.settle_raw(parent, message, "nak", AckKind::Nak(delay))
            .await
    }

    /// Terminates `message` (no redelivery) in a `term {subject}` settle
    /// span under `parent`, as [`ack`](Self::ack).
    pub async fn term(
        &self,
        parent: &OperationSpan,
        message: &jetstream::Message,
    ) -> Result<(), async_nats::Error> {
        self.settle_raw(parent, message, "term", AckKind::Term)
            .await
    }

    async fn settle_raw(
        &self,
        parent: &OperationSpan,
        message: &jetstream::Message,
        name: &'static str,
        kind: AckKind,
    ) -> Result<(), async_nats::Error> {
        let op = self.message_op(message);
        settle(
            self.client.instrumentation(),
            &op,
            parent.context(),
            name,
            message.ack_with(kind),
        )
        .await
    }

    /// The `process` operation of one message: subject, consumer, stream
    /// and stream sequence (no body size).
    fn message_op(&self, message: &jetstream::Message) -> Operation {
        let mut op = self
            .client
            .op("process", OperationType::Process, &message.message.subject);
        if let Ok(info) = message.info() {
            op.consumer_group = Some(info.consumer.to_owned());
            op.span_attrs
                .push(KeyValue::new(NATS_STREAM, info.stream.to_owned()));
            op.span_attrs.push(KeyValue::new(
                NATS_STREAM_SEQUENCE,
                info.stream_sequence as i64,
            ));
        }
        op
    }

    fn process_counted(
        &self,
        message: jetstream::Message,
        counts_consumed: bool,
    ) -> Delivered<jetstream::Message> {
        let inst = self.client.instrumentation();
        let mut op = self.message_op(&message);
        op.counts_consumed = counts_consumed;
        op.span_attrs.push(KeyValue::new(
            otel_kit_core::semconv::attribute::MESSAGING_MESSAGE_BODY_SIZE,
            message.message.payload.len() as i64,
        ));
        let extractor = message.message.headers.as_ref().map(NatsHeaderExtractor);
        let span = inst.start_process(
            &op,
            extractor
                .as_ref()
                .map(|e| e as &dyn otel_kit_core::opentelemetry::propagation::Extractor),
        );
        Delivered::new(message, span, op)
    }

    /// Adapts a consumer's message stream (pull `messages()`, push
    /// `messages()`, …) so it yields each message with its process span.
    pub fn messages<S>(&self, stream: S) -> JetStreamMessages<S> {
        JetStreamMessages {
            inner: stream,
            js: self.clone(),
        }
    }
}

/// Stream adaptor returned by [`TracedJetStream::messages`].
///
/// ```no_run
/// use futures_util::StreamExt;
/// use otel_kit_messaging::nats::TracedJetStream;
/// use otel_kit_messaging::nats::async_nats::{self, jetstream};
///
/// # async fn run(js: TracedJetStream) -> Result<(), async_nats::Error> {
/// let consumer: jetstream::consumer::PullConsumer =
///     js.context().get_stream("ORDERS").await?.get_consumer("billing").await?;
/// let mut messages = js.messages(consumer.messages().await?);
/// while let Some(message) = messages.next().await {
///     message?.process(async |message| message.ack().await).await?;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct JetStreamMessages<S> {
    inner: S,
    js: TracedJetStream,
}

impl<S, E> Stream for JetStreamMessages<S>
where
    S: Stream<Item = Result<jetstream::Message, E>> + Unpin,
{
    type Item = Result<Delivered<jetstream::Message>, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(m))) => Poll::Ready(Some(Ok(this.js.process(m)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Delivered<jetstream::Message> {
    /// Acknowledges the message in an `ack {subject}` settle span (child of
    /// the process span).
    pub async fn ack(&self) -> Result<(), async_nats::Error> {
        self.settle("ack", self.message().ack_with(AckKind::Ack))
            .await
    }

    /// Negatively acknowledges (redelivery, optionally after `delay`) in a
    /// `nak {subject}` settle span.
    pub async fn nak(&self, delay: Option<Duration>) -> Result<(), async_nats::Error> {
        self.settle("nak", self.message().ack_with(AckKind::Nak(delay)))
            .await
    }

    /// Terminates the message (no redelivery) in a `term {subject}` settle
    /// span.
    pub async fn term(&self) -> Result<(), async_nats::Error> {
        self.settle("term", self.message().ack_with(AckKind::Term))
            .await
    }
}
