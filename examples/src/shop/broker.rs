//! The event bus of the shop: one small interface over Kafka, NATS and
//! RabbitMQ, each traced with `otel-kit-messaging` (PRODUCER `send` spans,
//! CONSUMER `process` spans).
//!
//! Process spans use [`ProcessMode::Parent`]: the demo shows one connected
//! trace from the gateway to the saga, so each `process` span is the child of
//! the `send` span that produced the message (otel-kit-messaging's default,
//! [`ProcessMode::Link`], would start a new trace linked to the producer).
//!
//! The baggage the producer's context carried is read from the message
//! headers too (otel-kit-messaging puts only the span into the process context),
//! so code that handles an [`Event`] sees the baggage set hops earlier.

use std::fmt;
use std::str::FromStr;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use futures::StreamExt;
use otel_kit_core::Telemetry;
use otel_kit_core::opentelemetry::baggage::BaggageExt;
use otel_kit_core::opentelemetry::propagation::Extractor;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_messaging::kafka::rdkafka::config::ClientConfig;
use otel_kit_messaging::kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use otel_kit_messaging::kafka::rdkafka::message::Message as _;
use otel_kit_messaging::kafka::rdkafka::mocking::MockCluster;
use otel_kit_messaging::kafka::rdkafka::producer::FutureRecord;
use otel_kit_messaging::kafka::rdkafka::{Offset, TopicPartitionList};
use otel_kit_messaging::kafka::{
    KafkaHeaderExtractor, TracedConsumer as KafkaConsumer, TracedProducer,
};
use otel_kit_messaging::nats::{NatsHeaderExtractor, TracedClient, TracedSubscriber, async_nats};
use otel_kit_messaging::rabbitmq::lapin::message::Delivery;
use otel_kit_messaging::rabbitmq::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use otel_kit_messaging::rabbitmq::lapin::types::FieldTable;
use otel_kit_messaging::rabbitmq::lapin::{BasicProperties, Connection, ConnectionProperties};
use otel_kit_messaging::rabbitmq::{AmqpHeaderExtractor, TracedChannel, TracedConsumer};
use otel_kit_messaging::{Delivered, Instrumentation, OperationSpan, ProcessMode};

use super::BoxError;

/// Event published by the order service when an order is accepted.
pub const ORDER_CREATED: &str = "order.created";
/// Event published by the saga when an order went through.
pub const ORDER_CONFIRMED: &str = "order.confirmed";
/// Event published by the saga when an order was compensated.
pub const ORDER_CANCELLED: &str = "order.cancelled";
/// Every event name of the shop.
pub const EVENTS: [&str; 3] = [ORDER_CREATED, ORDER_CONFIRMED, ORDER_CANCELLED];

/// Default NATS URL (`NATS_URL`).
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
/// Default RabbitMQ URL (`AMQP_URL`).
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Which message broker carries the events (`DEMO_BROKER`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BrokerKind {
    /// Kafka: librdkafka's in-process mock cluster unless `KAFKA_BROKERS` is set.
    #[default]
    Kafka,
    /// NATS core publish/subscribe.
    Nats,
    /// RabbitMQ, through the default exchange to one queue per event.
    RabbitMq,
}

impl BrokerKind {
    /// The name used in `DEMO_BROKER`.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerKind::Kafka => "kafka",
            BrokerKind::Nats => "nats",
            BrokerKind::RabbitMq => "rabbitmq",
        }
    }
}

impl fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BrokerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "kafka" => Ok(BrokerKind::Kafka),
            "nats" => Ok(BrokerKind::Nats),
            "rabbitmq" | "amqp" => Ok(BrokerKind::RabbitMq),
            other => Err(format!(
                "unknown broker {other:?} (expected kafka, nats or rabbitmq)"
            )),
        }
    }
}

/// Where the broker is and how its destinations are named.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// The broker.
    pub kind: BrokerKind,
    /// Kafka bootstrap servers; `None` starts an in-process mock cluster.
    pub kafka_brokers: Option<String>,
    /// NATS server URL.
    pub nats_url: String,
    /// RabbitMQ (AMQP) URL.
    pub amqp_url: String,
    /// Prefix of every topic, subject and queue (`{namespace}.order.created`),
    /// so that several shops share one broker.
    pub namespace: String,
}

impl BrokerConfig {
    /// The configuration from `DEMO_BROKER`, `KAFKA_BROKERS`, `NATS_URL`,
    /// `AMQP_URL` and `DEMO_NAMESPACE` (default `shop`).
    pub fn from_env() -> Result<Self, BoxError> {
        let kind = match std::env::var("DEMO_BROKER") {
            Ok(v) if !v.is_empty() => v.parse()?,
            _ => BrokerKind::Kafka,
        };
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(BrokerConfig {
            kind,
            kafka_brokers: var("KAFKA_BROKERS"),
            nats_url: var("NATS_URL").unwrap_or_else(|| DEFAULT_NATS_URL.to_owned()),
            amqp_url: var("AMQP_URL").unwrap_or_else(|| DEFAULT_AMQP_URL.to_owned()),
            namespace: var("DEMO_NAMESPACE").unwrap_or_else(|| "shop".to_owned()),
        })
    }

    /// A configuration for `kind` with the default URLs and `namespace`.
    pub fn new(kind: BrokerKind, namespace: impl Into<String>) -> Self {
        BrokerConfig {
            kind,
            kafka_brokers: None,
            nats_url: DEFAULT_NATS_URL.to_owned(),
            amqp_url: DEFAULT_AMQP_URL.to_owned(),
            namespace: namespace.into(),
        }
    }

    /// The full topic, subject or queue name of `event`.
    pub fn destination(&self, event: &str) -> String {
        format!("{}.{event}", self.namespace)
    }
}

/// A connected broker: where publishers and subscriptions are made.
/// Dropping it stops the in-process Kafka mock cluster, if one was started.
#[derive(Debug)]
pub struct Broker {
    config: BrokerConfig,
    kafka_brokers: String,
    _mock: Option<MockClusterThread>,
}

/// Keeps librdkafka's mock cluster alive on a thread of its own (the cluster
/// handle cannot move between threads); dropping this stops it.
#[derive(Debug)]
struct MockClusterThread {
    _stop: std_mpsc::Sender<()>,
}

impl MockClusterThread {
    /// Starts a one-broker mock cluster with `topics` created; returns it
    /// and its bootstrap servers.
    fn start(topics: Vec<String>) -> Result<(Self, String), BoxError> {
        let (stop_tx, stop_rx) = std_mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<String, String>>();
        std::thread::Builder::new()
            .name("kafka-mock".into())
            .spawn(move || {
                let started = MockCluster::new(1).and_then(|mock| {
                    for topic in &topics {
                        mock.create_topic(topic, 1, 1)?;
                    }
                    Ok(mock)
                });
                match started {
                    Ok(mock) => {
                        let _ = ready_tx.send(Ok(mock.bootstrap_servers()));
                        // Blocks until the sender is dropped.
                        let _ = stop_rx.recv();
                        drop(mock);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                    }
                }
            })?;
        let servers = ready_rx.recv()??;
        Ok((MockClusterThread { _stop: stop_tx }, servers))
    }
}

impl Broker {
    /// Connects (for Kafka without `kafka_brokers`: starts the mock cluster
    /// with the shop's topics).
    pub async fn connect(config: BrokerConfig) -> Result<Self, BoxError> {
        let mut mock = None;
        let mut kafka_brokers = String::new();
        if config.kind == BrokerKind::Kafka {
            kafka_brokers = match &config.kafka_brokers {
                Some(b) => b.clone(),
                None => {
                    let topics = EVENTS.iter().map(|e| config.destination(e)).collect();
                    let (thread, servers) = MockClusterThread::start(topics)?;
                    mock = Some(thread);
                    servers
                }
            };
        }
        Ok(Broker {
            config,
            kafka_brokers,
            _mock: mock,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    fn instrumentation(telemetry: &Telemetry) -> Instrumentation {
        Instrumentation::builder()
            .tracer_provider(telemetry.tracer_provider())
            .meter_provider(telemetry.meter_provider())
            .process_mode(ProcessMode::Parent)
            .build()
    }

    fn kafka_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.kafka_brokers)
            .set("message.timeout.ms", "10000");
        config
    }

    /// A publisher recording with `telemetry`'s providers.
    pub async fn publisher(&self, telemetry: &Telemetry) -> Result<Publisher, BoxError> {
        let inst = Self::instrumentation(telemetry);
        let inner = match self.config.kind {
            BrokerKind::Kafka => {
                PublisherInner::Kafka(TracedProducer::from_config(&self.kafka_config(), inst)?)
            }
            BrokerKind::Nats => PublisherInner::Nats(TracedClient::new(
                async_nats::connect(&self.config.nats_url).await?,
                inst,
            )),
            BrokerKind::RabbitMq => {
                let connection =
                    Connection::connect(&self.config.amqp_url, ConnectionProperties::default())
                        .await?;
                let channel = connection.create_channel().await?;
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
                for event in EVENTS {
                    declare_queue(&channel, &self.config.destination(event)).await?;
                }
                PublisherInner::RabbitMq {
                    channel: TracedChannel::new(channel, inst),
                    _connection: connection,
                }
            }
        };
        Ok(Publisher {
            inner,
            config: self.config.clone(),
        })
    }

    /// A subscription to `event` recording with `telemetry`'s providers;
    /// `group` names the consumer (Kafka group, RabbitMQ consumer tag).
    /// Ready when this returns: later publications are delivered.
    pub async fn subscribe(
        &self,
        telemetry: &Telemetry,
        event: &str,
        group: &str,
    ) -> Result<Subscription, BoxError> {
        let inst = Self::instrumentation(telemetry);
        let destination = self.config.destination(event);
        let inner = match self.config.kind {
            BrokerKind::Kafka => {
                // The group (`messaging.consumer.group.name`) is read from
                // the configuration.
                let consumer: KafkaConsumer<StreamConsumer> = KafkaConsumer::from_config(
                    self.kafka_config()
                        .set("group.id", group)
                        .set("enable.auto.commit", "false"),
                    inst,
                )?;
                // Every partition from the beginning: no group join delay, and
                // nothing published before the assignment is missed.
                let metadata = consumer
                    .consumer()
                    .fetch_metadata(Some(&destination), Duration::from_secs(10))?;
                let mut assignment = TopicPartitionList::new();
                for t in metadata.topics() {
                    for p in t.partitions() {
                        assignment.add_partition_offset(t.name(), p.id(), Offset::Beginning)?;
                    }
                }
                consumer.consumer().assign(&assignment)?;
                SubscriptionInner::Kafka(Box::new(consumer))
            }
            BrokerKind::Nats => {
                let client =
                    TracedClient::new(async_nats::connect(&self.config.nats_url).await?, inst);
                let subscriber = client.subscribe(destination.clone()).await?;
                client.client().flush().await?;
                SubscriptionInner::Nats {
                    subscriber,
                    _client: client,
                }
            }
            BrokerKind::RabbitMq => {
                let connection =
                    Connection::connect(&self.config.amqp_url, ConnectionProperties::default())
                        .await?;
                let channel = connection.create_channel().await?;
                declare_queue(&channel, &destination).await?;
                let traced = TracedChannel::new(channel, inst);
                let consumer = traced
                    .basic_consume(
                        destination.as_str().into(),
                        group.into(),
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
                SubscriptionInner::RabbitMq {
                    consumer,
                    _channel: traced,
                    _connection: connection,
                }
            }
        };
        Ok(Subscription { inner })
    }
}

async fn declare_queue(
    channel: &otel_kit_messaging::rabbitmq::lapin::Channel,
    queue: &str,
) -> Result<(), BoxError> {
    channel
        .queue_declare(
            queue.into(),
            // Deleted once its last consumer is gone: a shop leaves nothing behind.
            QueueDeclareOptions {
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Publishes events in `send` PRODUCER spans under the current context.
pub struct Publisher {
    inner: PublisherInner,
    config: BrokerConfig,
}

enum PublisherInner {
    Kafka(TracedProducer),
    Nats(TracedClient),
    RabbitMq {
        channel: TracedChannel,
        /// Kept open for as long as the channel is used.
        _connection: Connection,
    },
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("broker", &self.config.kind)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Publishes `payload` as `event` (keyed by `key` where the broker has
    /// keys) and waits for the broker to take it.
    pub async fn publish(&self, event: &str, key: &str, payload: &[u8]) -> Result<(), BoxError> {
        let destination = self.config.destination(event);
        match &self.inner {
            PublisherInner::Kafka(producer) => {
                producer
                    .send(
                        FutureRecord::to(&destination).key(key).payload(payload),
                        Duration::from_secs(10),
                    )
                    .await
                    .map_err(|(e, _)| e)?;
            }
            PublisherInner::Nats(client) => {
                client
                    .publish(destination, bytes::Bytes::copy_from_slice(payload))
                    .await?;
                client.client().flush().await?;
            }
            PublisherInner::RabbitMq { channel, .. } => {
                channel
                    .basic_publish(
                        "".into(),
                        destination.as_str().into(),
                        BasicPublishOptions::default(),
                        payload,
                        BasicProperties::default().with_message_id(key.into()),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

/// Delivers events, each inside its CONSUMER `process` span.
pub struct Subscription {
    inner: SubscriptionInner,
}

// One per subscription, never moved on a hot path: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
enum SubscriptionInner {
    Kafka(Box<KafkaConsumer<StreamConsumer>>),
    Nats {
        subscriber: TracedSubscriber,
        /// Keeps the connection the subscription uses.
        _client: TracedClient,
    },
    RabbitMq {
        consumer: TracedConsumer,
        /// Keep the channel and connection the consumer uses open.
        _channel: TracedChannel,
        _connection: Connection,
    },
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

/// One delivered event. Its `process` span ends when it is dropped or
/// [`end`](Self::end)ed (after the acknowledgement, where the broker has one).
#[derive(Debug)]
pub struct Event {
    /// The message body.
    pub payload: Vec<u8>,
    /// The process span's context plus the baggage of the producer's context:
    /// run the handler under it.
    pub context: Context,
    processing: Processing,
}

/// What ends an event's processing.
#[derive(Debug)]
enum Processing {
    /// The process span alone (Kafka offsets are not committed; NATS core
    /// has no acknowledgement).
    Span(OperationSpan),
    /// A RabbitMQ delivery, acknowledged in a `settle` span under its
    /// process span.
    RabbitMq(Box<Delivered<Delivery>>),
}

impl Event {
    /// Acknowledges (RabbitMQ) and ends the process span.
    pub async fn end(self) {
        match self.processing {
            Processing::Span(span) => span.end(),
            Processing::RabbitMq(delivery) => {
                if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                    let text = e.to_string();
                    delivery.end_with_error("ack_failed", &text);
                } else {
                    delivery.end();
                }
            }
        }
    }
}

/// The process context with the baggage read from the message headers.
fn with_baggage(process: &Context, headers: &dyn Extractor) -> Context {
    let remote = otel_kit_core::propagation::extract_with(&Context::new(), headers);
    let baggage = remote.baggage();
    if baggage.is_empty() {
        return process.clone();
    }
    process.with_baggage(
        baggage
            .iter()
            .map(|(k, (v, _))| KeyValue::new(k.clone(), v.clone())),
    )
}

impl Subscription {
    /// The next event, or `None` when the subscription ended.
    pub async fn next(&mut self) -> Option<Event> {
        match &mut self.inner {
            SubscriptionInner::Kafka(consumer) => loop {
                // Detached (owned) so the event outlives the borrow of the
                // consumer; the process span starts on the owned message.
                let message = match consumer.consumer().recv().await {
                    Ok(m) => m.detach(),
                    Err(_) => continue,
                };
                let delivered = consumer.process(message);
                let context = match delivered.headers() {
                    Some(h) => with_baggage(delivered.context(), &KafkaHeaderExtractor(h)),
                    None => delivered.context().clone(),
                };
                let (message, span) = delivered.into_parts();
                return Some(Event {
                    payload: message.payload().unwrap_or_default().to_vec(),
                    context,
                    processing: Processing::Span(span),
                });
            },
            SubscriptionInner::Nats { subscriber, .. } => {
                let delivered = subscriber.next().await?;
                let context = match &delivered.headers {
                    Some(h) => with_baggage(delivered.context(), &NatsHeaderExtractor(h)),
                    None => delivered.context().clone(),
                };
                let (message, span) = delivered.into_parts();
                Some(Event {
                    payload: message.payload.to_vec(),
                    context,
                    processing: Processing::Span(span),
                })
            }
            SubscriptionInner::RabbitMq { consumer, .. } => loop {
                let delivered = match consumer.next().await? {
                    Ok(d) => d,
                    Err(_) => continue,
                };
                let context = match delivered.properties.headers() {
                    Some(h) => with_baggage(delivered.context(), &AmqpHeaderExtractor(h)),
                    None => delivered.context().clone(),
                };
                return Some(Event {
                    payload: delivered.data.clone(),
                    context,
                    processing: Processing::RabbitMq(Box::new(delivered)),
                });
            },
        }
    }
}
