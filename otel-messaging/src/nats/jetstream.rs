//! JetStream: publish spans that end at the server's ack, consumer process
//! spans and `ack` / `nak` / `term` settle spans.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::ToSubject;
use async_nats::jetstream::context::PublishError;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::{self, AckKind};
use bytes::Bytes;
use futures_util::Stream;
use otel_core::opentelemetry::context::FutureExt;
use otel_core::opentelemetry::{Context, KeyValue};

use super::{NatsHeaderExtractor, TracedClient};
use crate::common::{Delivered, OperationType, creation_context};

/// Span attribute: the JetStream stream name (project convention).
pub const NATS_STREAM: &str = "messaging.nats.stream";
/// Span attribute: the message's stream sequence (project convention).
pub const NATS_STREAM_SEQUENCE: &str = "messaging.nats.stream.sequence";

/// A JetStream context whose publishes and consumed messages are traced.
#[derive(Clone, Debug)]
pub struct TracedJetStream {
    context: jetstream::Context,
    client: TracedClient,
}

impl TracedJetStream {
    /// A JetStream context over the traced client's connection.
    pub fn new(client: &TracedClient) -> Self {
        Self::from_context(jetstream::new(client.client().clone()), client)
    }

    /// Wraps a JetStream context built elsewhere (domain, prefix, timeouts).
    pub fn from_context(context: jetstream::Context, client: &TracedClient) -> Self {
        Self {
            context,
            client: client.clone(),
        }
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
            Err(e) => span.end_with_error(&format!("{:?}", e.kind()), &e.to_string()),
        }
        result
    }

    /// Starts the process span of a consumed JetStream message.
    pub fn process(&self, message: jetstream::Message) -> Delivered<jetstream::Message> {
        let inst = self.client.instrumentation();
        let mut op = self
            .client
            .op("process", OperationType::Process, &message.message.subject);
        op.counts_consumed = true;
        op.span_attrs.push(KeyValue::new(
            otel_core::semconv::attribute::MESSAGING_MESSAGE_BODY_SIZE,
            message.message.payload.len() as i64,
        ));
        if let Ok(info) = message.info() {
            op.consumer_group = Some(info.consumer.to_owned());
            op.span_attrs
                .push(KeyValue::new(NATS_STREAM, info.stream.to_owned()));
            op.span_attrs.push(KeyValue::new(
                NATS_STREAM_SEQUENCE,
                info.stream_sequence as i64,
            ));
        }
        let empty = HeaderMap::new();
        let headers = message.message.headers.as_ref().unwrap_or(&empty);
        let extractor = NatsHeaderExtractor(headers);
        let creation = creation_context(&extractor);
        let extra = inst.capture().capture(&extractor);
        let span = inst.start_process(&op, &Context::current(), &[creation], extra);
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
