//! NATS (async-nats): header carrier, traced publish / request / respond,
//! subscriber stream adaptor (plain and queue group) and JetStream publish
//! and consumer settle spans.
//!
//! Project convention (NATS has no semantic convention yet):
//! `messaging.system = nats`, `messaging.destination.name` = subject,
//! `messaging.destination.template` = the subscription subject when it has
//! wildcards (`*`, `>`), `messaging.consumer.group.name` = queue group,
//! `messaging.destination.temporary = true` for `_INBOX.` subjects. JetStream
//! adds `messaging.nats.stream.name` and `messaging.nats.stream.sequence`.
//! `messaging.destination.subscription.name` is not recorded: the project
//! convention does not map any NATS concept to it.
//!
//! Batches: [`TracedClient::publish_batch`] and
//! [`TracedJetStream::publish_batch`] make a `create {subject}` PRODUCER
//! span per message (its context goes into that message's headers) and one
//! `publish {subject}` CLIENT span linking them, with
//! `messaging.batch.message_count`. [`TracedJetStream::fetch`] wraps a pull
//! consumer's fetch in a `receive` CLIENT span linking every received
//! message's creation context; each message then comes with its process
//! span, and `ack` / `nak` / `term` are settle spans under it.

mod carrier;

/// The client crate this module wraps, re-exported so versions always match.
pub use async_nats;
mod jetstream;

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use async_nats::client::{PublishError, RequestError};
use async_nats::message::OutboundMessage;
use async_nats::{Client, HeaderMap, Message, SubscribeError, Subscriber, ToSubject};
use bytes::Bytes;
use futures_util::Stream;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::propagation::Extractor;
use otel_kit_core::opentelemetry::trace::{SpanContext, SpanKind};
use otel_kit_core::opentelemetry::{Context, KeyValue};

pub use carrier::{NatsHeaderExtractor, NatsHeaderInjector};
pub use jetstream::{JetStreamMessages, TracedJetStream};

use otel_kit_core::instrument::{HeaderCapture, variant_error_type};

use crate::delivered::Delivered;
use crate::instrumentation::Instrumentation;
use crate::operation::{Operation, OperationType, shared_value};
use crate::operation_span::OperationSpan;
use crate::span_start::OutgoingMessage;

pub(crate) const SYSTEM: &str = "nats";

fn is_temporary(subject: &str) -> bool {
    subject.starts_with("_INBOX.")
}

fn is_wildcard(subject: &str) -> bool {
    subject.split('.').any(|t| t == "*" || t == ">")
}

/// A NATS client whose publishes, requests and subscriptions are traced.
/// Cheap to clone.
///
/// Publish, and request/reply: the responder handles each request inside
/// its `process` span, so its reply's `publish` span is a child of it.
///
/// ```no_run
/// use bytes::Bytes;
/// use futures_util::StreamExt;
/// use otel_kit_messaging::Instrumentation;
/// use otel_kit_messaging::nats::{TracedClient, async_nats};
///
/// # async fn run() -> Result<(), async_nats::Error> {
/// let client = TracedClient::new(
///     async_nats::connect("127.0.0.1:4222").await?,
///     Instrumentation::default(),
/// );
/// // Producer: a `publish orders.created` PRODUCER span, context in the headers.
/// client.publish("orders.created", Bytes::from_static(b"{}")).await?;
///
/// // Responder: each request handled inside its `process prices.quote` span.
/// let mut requests = client.subscribe("prices.quote").await?;
/// let responder = client.clone();
/// tokio::spawn(async move {
///     while let Some(request) = requests.next().await {
///         let _ = request
///             .process(async |request| {
///                 responder.respond(request, Bytes::from_static(b"42")).await
///             })
///             .await;
///     }
/// });
///
/// // Requester: a `request prices.quote` CLIENT span until the reply arrives.
/// let reply = client.request("prices.quote", Bytes::from_static(b"sku-1")).await?;
/// # let _ = reply;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TracedClient {
    client: Client,
    inst: Instrumentation,
    server: Option<std::sync::Arc<(String, u16)>>,
}

impl TracedClient {
    /// Wraps `client`; `server.address` / `server.port` come from the
    /// server's INFO.
    pub fn new(client: Client, instrumentation: Instrumentation) -> Self {
        let info = client.server_info();
        let server =
            (!info.host.is_empty()).then(|| std::sync::Arc::new((info.host.clone(), info.port)));
        Self {
            client,
            inst: instrumentation,
            server,
        }
    }

    /// Records `server.address` / `server.port` (the broker) on every span
    /// and metric instead of the server's INFO.
    pub fn with_server(mut self, host: impl Into<String>, port: u16) -> Self {
        self.server = Some(std::sync::Arc::new((host.into(), port)));
        self
    }

    /// A [`TracedJetStream`] over this client's connection, with the same
    /// instrumentation and server (`jetstream::new(client)`; for a domain,
    /// prefix or timeouts, build the context yourself and use
    /// [`TracedJetStream::new`]).
    pub fn jetstream(&self) -> TracedJetStream {
        TracedJetStream::from_traced(
            async_nats::jetstream::new(self.client.clone()),
            self.clone(),
        )
    }

    /// The wrapped client (untraced calls).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The instrumentation in use.
    pub fn instrumentation(&self) -> &Instrumentation {
        &self.inst
    }

    pub(crate) fn op(
        &self,
        name: &'static str,
        op_type: OperationType,
        subject: &str,
    ) -> Operation {
        let mut op = Operation::new(SYSTEM, name, op_type).destination(subject);
        op.temporary = is_temporary(subject);
        op.server = self.server.clone();
        op
    }

    fn send_span(
        &self,
        name: &'static str,
        subject: &str,
        payload: &Bytes,
        headers: &mut HeaderMap,
        kind: Option<SpanKind>,
    ) -> OperationSpan {
        let mut op = self.op(name, OperationType::Send, subject);
        op.kind = kind;
        op.body_size = Some(payload.len());
        let span = self.inst.start(
            &op,
            &Context::current(),
            Vec::new(),
            self.inst.capture_from(&NatsHeaderExtractor(headers)),
        );
        if self.inst.propagates() {
            self.inst
                .inject(span.context(), &mut NatsHeaderInjector(headers));
        }
        span
    }

    /// Publishes `payload` with the trace context in the NATS headers, in a
    /// `send {subject}` PRODUCER span.
    pub async fn publish<S: ToSubject>(
        &self,
        subject: S,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        self.publish_with_headers(subject, HeaderMap::new(), payload)
            .await
    }

    /// [`publish`](Self::publish) keeping the caller's headers (the trace
    /// headers are added to them).
    pub async fn publish_with_headers<S: ToSubject>(
        &self,
        subject: S,
        mut headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        let subject = subject.to_subject();
        let span = self.send_span("publish", &subject, &payload, &mut headers, None);
        let result = self
            .client
            .publish_with_headers(subject, headers, payload)
            .with_context(span.context().clone())
            .await;
        match &result {
            Ok(()) => span.end(),
            Err(e) => span.end_with_error(&variant_error_type(&e.kind()), &e.to_string()),
        }
        result
    }

    /// The send span of a batch: create spans per message (their contexts
    /// injected), then the `{name} {subject}` span linking them.
    fn start_batch(&self, name: &'static str, messages: &mut [OutgoingNats]) -> OperationSpan {
        let subject = shared_value(messages.iter().map(|m| m.message.subject.as_str()));
        let mut op = self.op(name, OperationType::Send, subject.unwrap_or(""));
        if subject.is_none() {
            op.destination = None;
        }
        self.inst.start_batch_send(op, messages)
    }

    fn outgoing(&self, messages: Vec<OutboundMessage>) -> Vec<OutgoingNats> {
        messages
            .into_iter()
            .map(|message| OutgoingNats {
                client: self.clone(),
                message,
            })
            .collect()
    }

    /// Publishes a batch of messages (each with its own subject, optional
    /// reply subject and headers). Spans: a `create {subject}` PRODUCER
    /// span per message whose context goes into that message's headers (a
    /// message that already carries a trace context keeps it and gets no
    /// create span), then one `publish {subject}` CLIENT span
    /// (`messaging.batch.message_count`, a link to every creation context)
    /// around the publishes; `{subject}` is omitted when the subjects
    /// differ. Like [`publish`](Self::publish) it hands the messages to the
    /// connection without waiting for a flush. Every message is attempted;
    /// the first error is returned (and recorded as `error.type`). With
    /// [`InstrumentationBuilder::create_spans(false)`](crate::InstrumentationBuilder::create_spans)
    /// the publish span is a PRODUCER span whose context every message
    /// carries.
    pub async fn publish_batch(&self, messages: Vec<OutboundMessage>) -> Result<(), PublishError> {
        let mut outgoing = self.outgoing(messages);
        let span = self.start_batch("publish", &mut outgoing);
        let client = &self.client;
        let result = async {
            let mut first_error = None;
            for OutgoingNats { message: m, .. } in outgoing {
                let sent = match (m.reply, m.headers) {
                    (Some(reply), Some(headers)) => {
                        client
                            .publish_with_reply_and_headers(m.subject, reply, headers, m.payload)
                            .await
                    }
                    (Some(reply), None) => {
                        client.publish_with_reply(m.subject, reply, m.payload).await
                    }
                    (None, Some(headers)) => {
                        client
                            .publish_with_headers(m.subject, headers, m.payload)
                            .await
                    }
                    (None, None) => client.publish(m.subject, m.payload).await,
                };
                if let Err(e) = sent {
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        }
        .with_context(span.context().clone())
        .await;
        match &result {
            Ok(()) => span.end(),
            Err(e) => span.end_with_error(&variant_error_type(&e.kind()), &e.to_string()),
        }
        result
    }

    /// Sends a request and waits for the reply, in a `request {subject}`
    /// CLIENT span (operation type `send`) whose context travels in the
    /// request headers; it ends when the reply arrives or the request fails.
    pub async fn request<S: ToSubject>(
        &self,
        subject: S,
        payload: Bytes,
    ) -> Result<Message, RequestError> {
        self.request_with_headers(subject, HeaderMap::new(), payload)
            .await
    }

    /// [`request`](Self::request) keeping the caller's headers.
    pub async fn request_with_headers<S: ToSubject>(
        &self,
        subject: S,
        mut headers: HeaderMap,
        payload: Bytes,
    ) -> Result<Message, RequestError> {
        let subject = subject.to_subject();
        let span = self.send_span(
            "request",
            &subject,
            &payload,
            &mut headers,
            Some(SpanKind::Client),
        );
        let result = self
            .client
            .request_with_headers(subject, headers, payload)
            .with_context(span.context().clone())
            .await;
        match &result {
            Ok(reply) => {
                if let Some(status) = reply.status {
                    span.set_attribute(otel_kit_core::opentelemetry::KeyValue::new(
                        "messaging.nats.reply.status",
                        i64::from(u16::from(status)),
                    ));
                }
                span.end()
            }
            Err(e) => span.end_with_error(&variant_error_type(&e.kind()), &e.to_string()),
        }
        result
    }

    /// Replies to `request` (on its reply subject, usually a temporary
    /// `_INBOX.` subject) in a send span. Returns `Ok(false)` when the
    /// request has no reply subject.
    pub async fn respond(&self, request: &Message, payload: Bytes) -> Result<bool, PublishError> {
        let Some(reply) = request.reply.clone() else {
            return Ok(false);
        };
        self.publish_with_headers(reply, HeaderMap::new(), payload)
            .await
            .map(|()| true)
    }

    /// Subscribes to `subject`; the stream yields each message with its
    /// process span.
    pub async fn subscribe<S: ToSubject>(
        &self,
        subject: S,
    ) -> Result<TracedSubscriber, SubscribeError> {
        let subject = subject.to_subject();
        let inner = self.client.subscribe(subject.clone()).await?;
        Ok(self.wrap_subscriber(inner, &subject, None))
    }

    /// Subscribes to `subject` in queue group `group`
    /// (`messaging.consumer.group.name`).
    pub async fn queue_subscribe<S: ToSubject>(
        &self,
        subject: S,
        group: String,
    ) -> Result<TracedSubscriber, SubscribeError> {
        let subject = subject.to_subject();
        let inner = self
            .client
            .queue_subscribe(subject.clone(), group.clone())
            .await?;
        Ok(self.wrap_subscriber(inner, &subject, Some(group)))
    }

    /// Wraps a subscriber made elsewhere; `subject` is the subscription
    /// subject (a template when it has wildcards).
    pub fn wrap_subscriber(
        &self,
        inner: Subscriber,
        subject: &str,
        group: Option<String>,
    ) -> TracedSubscriber {
        TracedSubscriber {
            inner,
            tracer: self.clone(),
            template: is_wildcard(subject).then(|| subject.to_owned()),
            group,
        }
    }

    /// Starts the process span for `message` (delivered by an untraced
    /// subscription) and pairs them.
    pub fn process(
        &self,
        message: Message,
        template: Option<&str>,
        group: Option<&str>,
    ) -> Delivered<Message> {
        let mut op = self.op("process", OperationType::Process, &message.subject);
        op.template = template.map(str::to_owned);
        op.consumer_group = group.map(str::to_owned);
        op.counts_consumed = true;
        op.span_attrs
            .push(otel_kit_core::opentelemetry::KeyValue::new(
                otel_kit_core::semconv::attribute::MESSAGING_MESSAGE_BODY_SIZE,
                message.payload.len() as i64,
            ));
        let extractor = message.headers.as_ref().map(NatsHeaderExtractor);
        let span = self
            .inst
            .start_process(&op, extractor.as_ref().map(|e| e as &dyn Extractor));
        Delivered::new(message, span, op)
    }
}

/// One message of a batch publish, for the shared batch span logic.
struct OutgoingNats {
    client: TracedClient,
    message: OutboundMessage,
}

impl OutgoingMessage for OutgoingNats {
    fn create_operation(&self) -> Operation {
        let mut op = self
            .client
            .op("create", OperationType::Create, &self.message.subject);
        op.span_attrs.push(KeyValue::new(
            otel_kit_core::semconv::attribute::MESSAGING_MESSAGE_BODY_SIZE,
            self.message.payload.len() as i64,
        ));
        op
    }

    fn existing_context(&self, inst: &Instrumentation) -> SpanContext {
        match &self.message.headers {
            Some(h) => inst.creation_context(&NatsHeaderExtractor(h)),
            None => SpanContext::empty_context(),
        }
    }

    fn capture_headers(&self, capture: &HeaderCapture, out: &mut Vec<KeyValue>) {
        if let Some(h) = &self.message.headers {
            capture.capture_from(&NatsHeaderExtractor(h), out);
        }
    }

    fn inject(&mut self, inst: &Instrumentation, cx: &Context) {
        let headers = self.message.headers.get_or_insert_with(HeaderMap::new);
        inst.inject(cx, &mut NatsHeaderInjector(headers));
    }
}

/// A subscription whose messages come with their process span, from
/// [`TracedClient::subscribe`] or [`TracedClient::queue_subscribe`] (the
/// queue group is recorded as `messaging.consumer.group.name`).
///
/// ```no_run
/// use futures_util::StreamExt;
/// use otel_kit_messaging::nats::{TracedClient, async_nats};
///
/// # async fn run(client: TracedClient) -> Result<(), async_nats::Error> {
/// let mut workers = client.queue_subscribe("jobs.>", "workers".to_owned()).await?;
/// while let Some(job) = workers.next().await {
///     // `process jobs.>` (the wildcard subject is the destination template).
///     job.process(async |job| run_job(&job.payload).await).await?;
/// }
/// # Ok(())
/// # }
/// # async fn run_job(_: &[u8]) -> Result<(), std::io::Error> { Ok(()) }
/// ```
#[derive(Debug)]
pub struct TracedSubscriber {
    inner: Subscriber,
    tracer: TracedClient,
    template: Option<String>,
    group: Option<String>,
}

impl TracedSubscriber {
    /// The wrapped subscriber (to unsubscribe or drain).
    pub fn inner_mut(&mut self) -> &mut Subscriber {
        &mut self.inner
    }
}

impl Stream for TracedSubscriber {
    type Item = Delivered<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(message)) => Poll::Ready(Some(this.tracer.process(
                message,
                this.template.as_deref(),
                this.group.as_deref(),
            ))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
