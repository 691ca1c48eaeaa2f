//! OpenTelemetry instrumentation for messaging: Kafka (rdkafka, feature
//! `kafka`), NATS and JetStream (async-nats, feature `nats`) and RabbitMQ
//! (lapin, feature `rabbitmq`).
//!
//! Every client is wrapped the same way, `Traced*::new(client,
//! instrumentation)`: the producer side sends in PRODUCER spans and writes
//! the trace context into the message headers; the consumer side yields
//! each message as a [`Delivered`] with its `process` span, and
//! [`Delivered::process`] runs the handler inside that span (settle calls
//! such as `ack` or `commit` made there are its children):
//!
//! ```no_run
//! use bytes::Bytes;
//! use futures_util::StreamExt;
//! use otel_kit_messaging::{Instrumentation, ProcessMode};
//! use otel_kit_messaging::nats::{TracedClient, async_nats};
//!
//! # async fn run() -> Result<(), async_nats::Error> {
//! // Global providers and propagator (`otel_kit_core::init`), or your own.
//! let instrumentation = Instrumentation::builder()
//!     .process_mode(ProcessMode::Parent) // one connected trace per message
//!     .build();
//! let client = TracedClient::new(async_nats::connect("127.0.0.1:4222").await?, instrumentation);
//!
//! let mut orders = client.subscribe("orders.created").await?;
//! client.publish("orders.created", Bytes::from_static(b"{\"id\":1}")).await?;
//! while let Some(order) = orders.next().await {
//!     order
//!         .process(async |order| {
//!             // Inside `process orders.created`: spans started here are its children.
//!             handle(&order.payload).await
//!         })
//!         .await?;
//! }
//! # Ok(())
//! # }
//! # async fn handle(_: &[u8]) -> Result<(), std::io::Error> { Ok(()) }
//! ```
//!
//! The same shape for each client (each behind its feature):
//!
//! | client | wrap | consume |
//! | --- | --- | --- |
//! | Kafka producer | `kafka::TracedProducer::new(future_producer, instrumentation)` or `::from_config(&config, instrumentation)` | – |
//! | Kafka consumer | `kafka::TracedConsumer::new(stream_consumer, instrumentation)` or `::from_config(&config, instrumentation)` (reads `group.id`) | `stream()`, `recv()`, `poll()` (`BaseConsumer`) |
//! | NATS | `nats::TracedClient::new(client, instrumentation)` | `subscribe`, `queue_subscribe` |
//! | JetStream | `nats::TracedJetStream::new(jetstream::new(client), instrumentation)` | `messages(stream)`, `fetch(batch)` |
//! | RabbitMQ | `rabbitmq::TracedChannel::new(channel, instrumentation)` | `basic_consume`, `basic_get` |
//!
//! Options common to every broker have the same names: the
//! [`InstrumentationBuilder`] options, and `with_server(host, port)` on
//! each wrapper for `server.address` / `server.port`.
//!
//! Every system follows the semantic conventions v1.44 operation model:
//!
//! - producers make a `send {destination}` PRODUCER span and write its
//!   context into the message headers with the configured propagators
//!   (W3C `traceparent` by default; see `otel_kit_core::propagation`);
//! - consumers read the headers by the family's one extraction rule, **on
//!   top of the current context** (`otel_kit_core::instrument::Propagation`):
//!   the current context is the *ambient* one, the remote span context the
//!   headers brought is the message's *creation context*. Each delivered
//!   message gets a `process {destination}` CONSUMER span. By default
//!   ([`ProcessMode::Link`]) its parent is the ambient span (none: a new
//!   root) and it **links** to the creation context; with
//!   [`ProcessMode::Parent`] it is the creation context's **child**, one
//!   connected tree, and links the ambient span. In both modes the process
//!   context (the one the handler runs under) carries what the headers
//!   held besides the span context (the producer's baggage, forwarded mesh
//!   headers) on top of the ambient values: the baggage is the ambient
//!   baggage with the message's entries added (the message's entries win),
//!   even when the span is a new root with a link;
//! - acknowledgements (`ack`, `nack`, `nak`, `reject`, `term`, `commit`) are
//!   CLIENT `settle` spans, children of the process span;
//! - batch sends (`publish_batch`, `send_batch`) make a `create {destination}`
//!   PRODUCER span per message, whose context that message carries (a
//!   message that already carries a trace context keeps it), and one
//!   CLIENT `send` span with `messaging.batch.message_count` and a link to
//!   every creation context; [`InstrumentationBuilder::create_spans`]`(false)`
//!   makes it one PRODUCER send span whose context every message carries;
//! - pull receives (Kafka `poll`, JetStream `fetch`, RabbitMQ `basic_get`)
//!   are CLIENT `receive` spans linking the received messages' creation
//!   contexts (with `messaging.batch.message_count` for a fetched batch);
//! - batch processing (`kafka::TracedConsumer::process_batch`,
//!   `nats::TracedJetStream::process_batch`) is one `process` span with
//!   `messaging.batch.message_count` and a link to every message's creation
//!   context; the batch's messages are settled in settle spans under it
//!   (`kafka::TracedConsumer::commit`, `nats::TracedJetStream::ack` / `nak` /
//!   `term`). Batches carry no baggage into the process context (their
//!   messages may disagree).
//!
//! Headers are written and read with the global text-map propagator
//! (installed by `otel_kit_core::init`), or with the one given to
//! [`InstrumentationBuilder::propagator`].
//!
//! Message headers named with
//! [`InstrumentationBuilder::capture_request_headers`] are recorded as
//! `messaging.header.<name>` (string array) on send, create and process
//! spans, by the family's one sensitive-header rule
//! (`otel_kit_core::instrument::HeaderCapture`): credentials
//! (`authorization`, `cookie`, `x-api-key`… see
//! `otel_kit_core::instrument::SENSITIVE_HEADERS`) are never recorded unless
//! [`InstrumentationBuilder::allow_sensitive_headers`] names them too.
//!
//! `messaging.kafka.cluster.id` is recorded when configured
//! (`kafka::TracedProducer::with_cluster_id` / `with_cluster_id_from_cluster`,
//! the same on `kafka::TracedConsumer`).
//! `messaging.destination.subscription.name` is not recorded by any system:
//! the conventions map Kafka's consumer group and NATS queue groups to
//! `messaging.consumer.group.name`, RabbitMQ's queue to the destination
//! name, and define no subscription for them.
//!
//! Metrics: `messaging.client.sent.messages`,
//! `messaging.client.consumed.messages`,
//! `messaging.client.operation.duration` and `messaging.process.duration`
//! with the §4 attributes (`error.type` on failures).
//!
//! | system | producer | consumer | settle |
//! | --- | --- | --- | --- |
//! | NATS (`nats`) | `nats::TracedClient::publish` / `publish_batch` / `request` / `respond`, `nats::TracedJetStream::publish` / `publish_batch` (end at the server's acks) | `nats::TracedSubscriber` (plain and queue group), `nats::TracedJetStream::messages`, `nats::TracedJetStream::fetch` (pull: receive + process) / `process_batch` | JetStream `ack` / `nak` / `term` |
//! | RabbitMQ (`rabbitmq`) | `rabbitmq::TracedChannel::basic_publish` (ends at the publisher confirm) | `rabbitmq::TracedConsumer`, `rabbitmq::TracedChannel::basic_get` (receive + process) | `ack` / `nack` / `reject` |
//! | Kafka (`kafka`) | `kafka::TracedProducer::send` / `send_batch` (end at the delivery reports) | `kafka::TracedConsumer::stream` / `recv` / `poll` (receive + process) / `process` / `process_batch` | `commit` |
//!
//! Consumers get a [`Delivered`] message: it dereferences to the client's
//! message type; [`Delivered::process`] runs the handler inside the process
//! span and ends it with the handler's outcome, [`Delivered::in_span`] runs
//! any future inside it; otherwise the process span ends when the value is
//! dropped or with [`Delivered::end`] / [`Delivered::end_with_error`].
//!
//! `error.type` follows the family's rule (`otel_kit_core::instrument`, a
//! class the error names first, `_OTHER` for type-erased errors): NATS
//! uses the async-nats error kind (`TimedOut`, `NoResponders`,
//! `MaxPayloadExceeded`…), RabbitMQ the lapin error kind variant
//! (`rabbitmq::error_type`) or `nack` for a negative publisher confirm,
//! Kafka the librdkafka error code name (`MessageTimedOut`,
//! `UnknownPartition`…) or else the `KafkaError` variant
//! (`kafka::error_type`); settle failures are the class the operation
//! names: `ack_failed`, `nack_failed`, `reject_failed`, `term_failed`,
//! `commit_failed`; handler failures are whatever the caller passes to
//! [`Delivered::end_with_error`].
//!
//! Header carriers never panic: non-UTF-8, binary, null, oversized
//! (> [`MAX_HEADER_VALUE_LEN`]) or duplicated values are skipped (the last
//! duplicate wins), and the message is still delivered. Payload bytes are
//! never copied or altered; only trace headers are added.
//!
//! The instrumentation's own options:
//!
//! ```
//! use otel_kit_messaging::{Instrumentation, ProcessMode};
//! use otel_kit_core::opentelemetry_sdk::trace::SdkTracerProvider;
//! use otel_kit_core::opentelemetry_sdk::metrics::SdkMeterProvider;
//!
//! let tracer_provider = SdkTracerProvider::builder().build();
//! let meter_provider = SdkMeterProvider::builder().build();
//! let instrumentation = Instrumentation::builder()
//!     .tracer_provider(&tracer_provider)
//!     .meter_provider(&meter_provider)
//!     .process_mode(ProcessMode::Parent)
//!     // Recorded as `messaging.header.x-tenant`; `authorization` is refused
//!     // unless `.allow_sensitive_headers(["authorization"])` says otherwise.
//!     .capture_request_headers(["x-tenant", "authorization"])
//!     .build();
//! assert_eq!(instrumentation.process_mode(), ProcessMode::Parent);
//! assert!(instrumentation.propagates());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod carrier;
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
mod delivered;
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
mod destination_cache;
mod instrumentation;
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
mod operation;
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
mod operation_span;
mod operation_type;
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
mod settle;
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
mod span_start;

#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;

pub use carrier::MAX_HEADER_VALUE_LEN;
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
pub use delivered::Delivered;
pub use instrumentation::{Instrumentation, InstrumentationBuilder, ProcessMode};
#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
pub use operation_span::OperationSpan;
pub use operation_type::OperationType;
