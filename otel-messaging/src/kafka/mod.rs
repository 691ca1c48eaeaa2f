//! Kafka (rdkafka): a traced [`FutureProducer`](rdkafka::producer::FutureProducer)
//! ([`TracedProducer`]) whose `send` span ends at the delivery report, a
//! traced consumer ([`TracedConsumer`] over a
//! [`StreamConsumer`](rdkafka::consumer::StreamConsumer) or
//! [`BaseConsumer`](rdkafka::consumer::BaseConsumer): process spans, `poll`
//! receive spans, batches with links, traced commits), the header carrier
//! and a statistics bridge ([`StatsContext`]).
//!
//! Both wrappers are made the same way, `Traced*::new(client,
//! instrumentation)`, or `Traced*::from_config(&config, instrumentation)`,
//! which creates the client and reads from its configuration what the
//! spans record: `client.id`, `group.id` (consumers) and the first
//! `bootstrap.servers` entry.
//!
//! ```no_run
//! use otel_kit_messaging::Instrumentation;
//! use otel_kit_messaging::kafka::{TracedConsumer, TracedProducer};
//! use otel_kit_messaging::kafka::rdkafka::ClientConfig;
//!
//! # fn run() -> Result<(), otel_kit_messaging::kafka::rdkafka::error::KafkaError> {
//! let instrumentation = Instrumentation::default();
//! let mut config = ClientConfig::new();
//! config.set("bootstrap.servers", "127.0.0.1:9092");
//! let producer: TracedProducer = TracedProducer::from_config(&config, instrumentation.clone())?;
//! config.set("group.id", "billing");
//! let consumer: TracedConsumer = TracedConsumer::from_config(&config, instrumentation)?;
//! # Ok(())
//! # }
//! ```
//!
//! Attributes per §4: `messaging.destination.name` = topic,
//! `messaging.destination.partition.id`, `messaging.kafka.offset`,
//! `messaging.kafka.message.key` (when it is UTF-8),
//! `messaging.kafka.message.tombstone` (only when true),
//! `messaging.consumer.group.name` (the `group.id`), `messaging.client.id`,
//! `messaging.kafka.cluster.id` when configured with `with_cluster_id` (or
//! fetched from the cluster with `with_cluster_id_from_cluster`), and
//! `server.address` / `server.port` from the bootstrap list or
//! `with_server`.
//!
//! Batches: [`TracedProducer::send_batch`] makes a `create {topic}`
//! PRODUCER span per record (its context goes into that record's headers)
//! and one `send {topic}` CLIENT span linking them, with
//! `messaging.batch.message_count`; [`TracedConsumer::process_batch`] is the
//! consumer side (one `process` span linking every record's creation
//! context).
//!
//! `messaging.destination.subscription.name` is not recorded: the
//! conventions give Kafka's consumer group its own attribute
//! (`messaging.consumer.group.name`) and define no Kafka subscription.

mod carrier;
mod client;
mod consumer;
mod producer;
mod stats;

/// The client crate this module wraps, re-exported so versions always match.
pub use rdkafka;

use std::borrow::Cow;

use otel_kit_core::instrument::{Propagation, type_error_type, variant_error_type};
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::trace::{SpanContext, TraceContextExt};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};

pub use carrier::{KafkaHeaderExtractor, KafkaHeaderInjector};
pub use consumer::{TracedConsumer, TracedMessageStream};
pub use producer::TracedProducer;
pub use stats::{StatsContext, StatsRecorder};

/// Span attribute `messaging.kafka.cluster.id` (semconv v1.44, Recommended;
/// not yet in the `opentelemetry-semantic-conventions` crate).
pub const MESSAGING_KAFKA_CLUSTER_ID: &str = "messaging.kafka.cluster.id";

/// `error.type` of a Kafka error by the family's rule: the class the
/// error names, that is the librdkafka error code name
/// (`MessageTimedOut`, `UnknownTopicOrPartition`…) when it carries one,
/// else the [`KafkaError`] variant (`Canceled`, `NoMessageReceived`…).
///
/// ```
/// use otel_kit_messaging::kafka::error_type;
/// use otel_kit_messaging::kafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
///
/// let timed_out = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
/// assert_eq!(error_type(&timed_out), "MessageTimedOut");
/// assert_eq!(error_type(&KafkaError::Canceled), "Canceled");
/// ```
pub fn error_type(e: &KafkaError) -> Cow<'static, str> {
    if let Some(code) = e.rdkafka_error_code() {
        return Cow::Owned(variant_error_type(&code));
    }
    // `KafkaError`'s `Debug` is not the derived one (`KafkaError (…)`), so
    // the variants without a code are named here.
    Cow::Borrowed(match e {
        KafkaError::AdminOpCreation(_) => "AdminOpCreation",
        KafkaError::Canceled => "Canceled",
        KafkaError::ClientConfig(..) => "ClientConfig",
        KafkaError::ClientCreation(_) => "ClientCreation",
        KafkaError::NoMessageReceived => "NoMessageReceived",
        KafkaError::Nul(_) => "Nul",
        KafkaError::PartitionEOF(_) => "PartitionEOF",
        KafkaError::PauseResume(_) => "PauseResume",
        KafkaError::Seek(_) => "Seek",
        KafkaError::Subscription(_) => "Subscription",
        _ => type_error_type::<KafkaError>(),
    })
}

/// Whether `cx` holds a valid span context (helper for users deciding to
/// link an ambient context).
pub fn has_span(cx: &Context) -> bool {
    cx.span().span_context().is_valid()
}

/// The span context a Kafka message's headers carry (invalid when none),
/// read with the global propagator by the family's extraction rule (see
/// [`Propagation`]): the remote span context the headers brought.
pub fn creation_span_context<M: Message>(message: &M) -> SpanContext {
    message
        .headers()
        .filter(|h| h.count() > 0)
        .and_then(|h| {
            Propagation::Global
                .extract(&KafkaHeaderExtractor(h))
                .remote()
        })
        .unwrap_or_else(SpanContext::empty_context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::RDKafkaErrorCode;

    #[test]
    fn error_type_is_the_code_name_then_the_variant() {
        assert_eq!(
            error_type(&KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut
            )),
            "MessageTimedOut"
        );
        assert_eq!(
            error_type(&KafkaError::ConsumerCommit(
                RDKafkaErrorCode::UnknownTopicOrPartition
            )),
            "UnknownTopicOrPartition"
        );
        assert_eq!(error_type(&KafkaError::Canceled), "Canceled");
        assert_eq!(
            error_type(&KafkaError::NoMessageReceived),
            "NoMessageReceived"
        );
        assert_eq!(
            error_type(&KafkaError::ClientCreation("bad config".into())),
            "ClientCreation"
        );
    }
}
