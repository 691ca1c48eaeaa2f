//! RabbitMQ (lapin): header carrier over the AMQP `headers` table, traced
//! `basic_publish` (ending at the publisher confirm when confirms are on),
//! consumer deliveries as process spans, and `ack` / `nack` / `reject` as
//! settle spans.
//!
//! Destination names follow §4: `{exchange}:{routing_key}` on send (only the
//! non-empty part when one is missing, `amq.default` for the default
//! exchange without routing key) and `{exchange}:{routing_key}:{queue}` on
//! process and settle (empty parts omitted, a routing key equal to the queue
//! written once). `messaging.rabbitmq.destination.routing_key` (when
//! non-empty), `messaging.rabbitmq.message.delivery_tag`,
//! `messaging.message.id` and `messaging.message.conversation_id` (AMQP
//! correlation-id) are recorded.

mod carrier;

/// The client crate this module wraps, re-exported so versions always match.
pub use lapin;

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_util::Stream;
use lapin::message::{BasicGetMessage, Delivery};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicRejectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Consumer};
use otel_kit_core::instrument::variant_error_type;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::semconv::attribute as attr;

pub use carrier::{AmqpHeaderExtractor, AmqpHeaderInjector};

use crate::delivered::Delivered;
use crate::instrumentation::Instrumentation;
use crate::operation::{Operation, OperationType};
use crate::operation_span::OperationSpan;

const SYSTEM: &str = "rabbitmq";

/// `messaging.destination.name` of a publish.
pub fn send_destination(exchange: &str, routing_key: &str) -> String {
    match (exchange.is_empty(), routing_key.is_empty()) {
        (true, true) => "amq.default".to_owned(),
        (true, false) => routing_key.to_owned(),
        (false, true) => exchange.to_owned(),
        (false, false) => format!("{exchange}:{routing_key}"),
    }
}

/// `messaging.destination.name` of a delivery from `queue`.
pub fn consume_destination(exchange: &str, routing_key: &str, queue: &str) -> String {
    let mut parts: Vec<&str> = Vec::with_capacity(3);
    if !exchange.is_empty() {
        parts.push(exchange);
    }
    if !routing_key.is_empty() && routing_key != queue {
        parts.push(routing_key);
    }
    if !queue.is_empty() {
        parts.push(queue);
    } else if !routing_key.is_empty() && routing_key == queue {
        parts.push(routing_key);
    }
    parts.join(":")
}

/// `error.type` of a lapin error by the family's rule: the class lapin
/// names, the variant of its error kind (`InvalidChannelState`,
/// `IOError`, `ProtocolError`…).
pub fn error_type(e: &lapin::Error) -> String {
    variant_error_type(e.kind())
}

/// A lapin channel whose publishes and consumers are traced. Cheap to clone.
///
/// A publish with publisher confirms: the `publish orders:created` span
/// ends when the broker confirms (a nack marks it failed).
///
/// ```no_run
/// use otel_kit_messaging::Instrumentation;
/// use otel_kit_messaging::rabbitmq::TracedChannel;
/// use otel_kit_messaging::rabbitmq::lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
/// use otel_kit_messaging::rabbitmq::lapin::{BasicProperties, Connection, ConnectionProperties};
///
/// # async fn run() -> Result<(), otel_kit_messaging::rabbitmq::lapin::Error> {
/// let connection =
///     Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", ConnectionProperties::default()).await?;
/// let channel = connection.create_channel().await?;
/// channel.confirm_select(ConfirmSelectOptions::default()).await?;
/// let channel = TracedChannel::new(channel, Instrumentation::default()).with_server("127.0.0.1", 5672);
/// let confirmation = channel
///     .basic_publish(
///         "orders".into(),
///         "created".into(),
///         BasicPublishOptions::default(),
///         b"{\"total\":42}",
///         BasicProperties::default(),
///     )
///     .await?;
/// assert!(confirmation.is_ack());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TracedChannel {
    channel: Channel,
    inst: Instrumentation,
    server: Option<std::sync::Arc<(String, u16)>>,
}

impl TracedChannel {
    /// Wraps `channel`.
    pub fn new(channel: Channel, instrumentation: Instrumentation) -> Self {
        Self {
            channel,
            inst: instrumentation,
            server: None,
        }
    }

    /// Records `server.address` / `server.port` (the broker) on every span
    /// and metric.
    pub fn with_server(mut self, host: impl Into<String>, port: u16) -> Self {
        self.server = Some(std::sync::Arc::new((host.into(), port)));
        self
    }

    /// The instrumentation in use.
    pub fn instrumentation(&self) -> &Instrumentation {
        &self.inst
    }

    /// The wrapped channel (untraced calls, declarations, qos…).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes `payload` (borrowed, never copied by this crate) with the
    /// trace context added to the `headers` property, in a
    /// `publish {exchange}:{routing_key}` PRODUCER span. With publisher
    /// confirms enabled (`confirm_select`), the span ends when the broker
    /// confirms; a nack marks it failed (`error.type = nack`).
    pub async fn basic_publish(
        &self,
        exchange: ShortString,
        routing_key: ShortString,
        options: BasicPublishOptions,
        payload: &[u8],
        properties: BasicProperties,
    ) -> lapin::Result<Confirmation> {
        let mut op = Operation::new(SYSTEM, "publish", OperationType::Send)
            .destination(send_destination(exchange.as_str(), routing_key.as_str()));
        op.server = self.server.clone();
        if !routing_key.as_str().is_empty() {
            op.span_attrs.push(KeyValue::new(
                attr::MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY,
                routing_key.as_str().to_owned(),
            ));
        }
        op.span_attrs.push(KeyValue::new(
            attr::MESSAGING_MESSAGE_BODY_SIZE,
            payload.len() as i64,
        ));
        message_attrs(&properties, &mut op.span_attrs);
        let mut headers = properties.headers().clone().unwrap_or_default();
        let span = self.inst.start(
            &op,
            &Context::current(),
            Vec::new(),
            self.inst.capture_from(&AmqpHeaderExtractor(&headers)),
        );
        let properties = if self.inst.propagates() {
            self.inst
                .inject(span.context(), &mut AmqpHeaderInjector(&mut headers));
            properties.with_headers(headers)
        } else {
            properties
        };
        let result = async {
            let confirm = self
                .channel
                .basic_publish(exchange, routing_key, options, payload, properties)
                .await?;
            confirm.await
        }
        .with_context(span.context().clone())
        .await;
        match &result {
            Ok(Confirmation::Nack(_)) => {
                span.end_with_error("nack", "the broker nacked the message")
            }
            Ok(_) => span.end(),
            Err(e) => span.end_with_error(&error_type(e), &e.to_string()),
        }
        result
    }

    /// Starts consuming `queue`; the stream yields each delivery with its
    /// `process` span.
    pub async fn basic_consume(
        &self,
        queue: ShortString,
        consumer_tag: ShortString,
        options: BasicConsumeOptions,
        arguments: FieldTable,
    ) -> lapin::Result<TracedConsumer> {
        let consumer = self
            .channel
            .basic_consume(queue, consumer_tag, options, arguments)
            .await?;
        Ok(self.wrap_consumer(consumer))
    }

    /// Wraps a consumer created elsewhere.
    pub fn wrap_consumer(&self, consumer: Consumer) -> TracedConsumer {
        let queue = consumer.queue().as_str().to_owned();
        TracedConsumer {
            inner: consumer,
            channel: self.clone(),
            queue,
        }
    }

    /// Starts the process span of `delivery` (received from `queue`).
    pub fn process(&self, delivery: Delivery, queue: &str) -> Delivered<Delivery> {
        let (op, span) = self.process_span(&delivery, queue, true);
        Delivered::new(delivery, span, op)
    }

    /// Pull: `basic.get` on `queue`. When a message is returned, records a
    /// `receive {destination}` span (CLIENT, covering the call, linked to
    /// the message's creation context) and returns the message with its
    /// process span. `Ok(None)` when the queue was empty (no span).
    pub async fn basic_get(
        &self,
        queue: ShortString,
        options: BasicGetOptions,
    ) -> lapin::Result<Option<Delivered<BasicGetMessage>>> {
        let started = (std::time::SystemTime::now(), std::time::Instant::now());
        let Some(message) = self.channel.basic_get(queue.clone(), options).await? else {
            return Ok(None);
        };
        let mut receive = self.operation(&message.delivery, queue.as_str());
        receive.name = "receive";
        receive.op_type = OperationType::Receive;
        receive.counts_consumed = true;
        let creation = self.inst.creation_context(&AmqpHeaderExtractor(
            message
                .delivery
                .properties
                .headers()
                .as_ref()
                .unwrap_or(&FieldTable::default()),
        ));
        let links = if creation.is_valid() {
            vec![otel_kit_core::opentelemetry::trace::Link::with_context(
                creation,
            )]
        } else {
            Vec::new()
        };
        self.inst
            .start_at(&receive, &Context::current(), links, |_| {}, Some(started))
            .end();
        let (op, span) = self.process_span(&message.delivery, queue.as_str(), false);
        Ok(Some(Delivered::new(message, span, op)))
    }

    /// The consumer-side operation of `delivery` (without body size).
    fn operation(&self, delivery: &Delivery, queue: &str) -> Operation {
        let exchange = delivery.exchange.as_str();
        let routing_key = delivery.routing_key.as_str();
        let mut op = Operation::new(SYSTEM, "process", OperationType::Process)
            .destination(consume_destination(exchange, routing_key, queue));
        op.server = self.server.clone();
        if !routing_key.is_empty() {
            op.span_attrs.push(KeyValue::new(
                attr::MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY,
                routing_key.to_owned(),
            ));
        }
        op.span_attrs.push(KeyValue::new(
            attr::MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG,
            delivery.delivery_tag as i64,
        ));
        message_attrs(&delivery.properties, &mut op.span_attrs);
        op
    }

    fn process_span(
        &self,
        delivery: &Delivery,
        queue: &str,
        counts_consumed: bool,
    ) -> (Operation, OperationSpan) {
        let mut op = self.operation(delivery, queue);
        op.counts_consumed = counts_consumed;
        op.span_attrs.push(KeyValue::new(
            attr::MESSAGING_MESSAGE_BODY_SIZE,
            delivery.data.len() as i64,
        ));
        let extractor = delivery
            .properties
            .headers()
            .as_ref()
            .map(AmqpHeaderExtractor);
        let span = self.inst.start_process(
            &op,
            extractor
                .as_ref()
                .map(|e| e as &dyn otel_kit_core::opentelemetry::propagation::Extractor),
        );
        (op, span)
    }
}

fn message_attrs(properties: &BasicProperties, out: &mut Vec<KeyValue>) {
    if let Some(id) = properties.message_id() {
        out.push(KeyValue::new(
            attr::MESSAGING_MESSAGE_ID,
            id.as_str().to_owned(),
        ));
    }
    if let Some(id) = properties.correlation_id() {
        out.push(KeyValue::new(
            attr::MESSAGING_MESSAGE_CONVERSATION_ID,
            id.as_str().to_owned(),
        ));
    }
}

/// A consumer whose deliveries come with their process span, from
/// [`TracedChannel::basic_consume`].
///
/// ```no_run
/// use futures_util::StreamExt;
/// use otel_kit_messaging::rabbitmq::TracedChannel;
/// use otel_kit_messaging::rabbitmq::lapin::options::{BasicAckOptions, BasicConsumeOptions};
/// use otel_kit_messaging::rabbitmq::lapin::types::FieldTable;
///
/// # async fn run(channel: TracedChannel) -> Result<(), otel_kit_messaging::rabbitmq::lapin::Error> {
/// let mut deliveries = channel
///     .basic_consume("billing".into(), "billing-1".into(), BasicConsumeOptions::default(), FieldTable::default())
///     .await?;
/// while let Some(delivery) = deliveries.next().await {
///     delivery?
///         .process(async |delivery| {
///             // Runs inside `process orders:created:billing`.
///             // ... handle delivery.data ...
///             delivery.ack(BasicAckOptions::default()).await // a settle span under it
///         })
///         .await?;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TracedConsumer {
    inner: Consumer,
    channel: TracedChannel,
    queue: String,
}

impl TracedConsumer {
    /// The wrapped consumer.
    pub fn inner(&self) -> &Consumer {
        &self.inner
    }
}

impl Stream for TracedConsumer {
    type Item = lapin::Result<Delivered<Delivery>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(d))) => Poll::Ready(Some(Ok(this.channel.process(d, &this.queue)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Delivered<Delivery> {
    /// Acknowledges in an `ack {destination}` settle span (child of the
    /// process span).
    pub async fn ack(&self, options: BasicAckOptions) -> lapin::Result<bool> {
        self.settle("ack", self.message().acker.ack(options)).await
    }

    /// Negatively acknowledges in a `nack {destination}` settle span.
    pub async fn nack(&self, options: BasicNackOptions) -> lapin::Result<bool> {
        self.settle("nack", self.message().acker.nack(options))
            .await
    }

    /// Rejects in a `reject {destination}` settle span.
    pub async fn reject(&self, options: BasicRejectOptions) -> lapin::Result<bool> {
        self.settle("reject", self.message().acker.reject(options))
            .await
    }
}

impl Delivered<BasicGetMessage> {
    /// Acknowledges in an `ack {destination}` settle span (child of the
    /// process span).
    pub async fn ack(&self, options: BasicAckOptions) -> lapin::Result<bool> {
        self.settle("ack", self.message().delivery.acker.ack(options))
            .await
    }

    /// Negatively acknowledges in a `nack {destination}` settle span.
    pub async fn nack(&self, options: BasicNackOptions) -> lapin::Result<bool> {
        self.settle("nack", self.message().delivery.acker.nack(options))
            .await
    }

    /// Rejects in a `reject {destination}` settle span.
    pub async fn reject(&self, options: BasicRejectOptions) -> lapin::Result<bool> {
        self.settle("reject", self.message().delivery.acker.reject(options))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_follow_semconv() {
        assert_eq!(send_destination("", ""), "amq.default");
        assert_eq!(send_destination("", "q"), "q");
        assert_eq!(send_destination("ex", ""), "ex");
        assert_eq!(send_destination("ex", "rk"), "ex:rk");
        assert_eq!(consume_destination("", "q", "q"), "q");
        assert_eq!(consume_destination("ex", "rk", "q"), "ex:rk:q");
        assert_eq!(consume_destination("ex", "", "q"), "ex:q");
        assert_eq!(consume_destination("ex", "q", "q"), "ex:q");
    }
}
