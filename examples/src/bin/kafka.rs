//! Kafka round trip: produce three orders with trace headers (each `send`
//! span ends at its delivery report), consume them in the same binary (one
//! handled inside a nested span), commit each (settle spans), then flush
//! and exit.
//!
//! ```text
//! cargo run -p otel-examples --bin kafka                     # in-process mock cluster
//! KAFKA_BROKERS=127.0.0.1:9092 cargo run -p otel-examples --bin kafka
//! ```
//!
//! Without `KAFKA_BROKERS` it starts librdkafka's mock cluster (the real
//! Kafka protocol on a random 127.0.0.1 port). With a real broker the topic
//! must exist or be auto-created.
//!
//! librdkafka does not say which broker served a call, so the spans and
//! metrics carry `server.address` / `server.port` only when the tracing is
//! told the broker: here from the same `bootstrap.servers` the clients use
//! (`KafkaTracing::with_bootstrap_servers`, its first entry;
//! `with_server(host, port)` sets it explicitly).

use std::time::Duration;

use futures::StreamExt;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::{TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Context, global};
use otel_kit_messaging::kafka::rdkafka::config::ClientConfig;
use otel_kit_messaging::kafka::rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use otel_kit_messaging::kafka::rdkafka::message::Message;
use otel_kit_messaging::kafka::rdkafka::mocking::MockCluster;
use otel_kit_messaging::kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use otel_kit_messaging::kafka::rdkafka::{Offset, TopicPartitionList};
use otel_kit_messaging::kafka::{KafkaTracing, TracedProducer};
use otel_kit_messaging::{Instrumentation, ProcessMode};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = otel_kit_core::Telemetry::builder()
        .service_name("kafka")
        .console_when_unconfigured(true)
        .install()?;
    let topic = format!("examples-orders-{}", std::process::id());
    let mock;
    let brokers = match std::env::var("KAFKA_BROKERS") {
        Ok(b) => b,
        Err(_) => {
            mock = MockCluster::new(1)?;
            mock.create_topic(&topic, 1, 1)?;
            mock.bootstrap_servers()
        }
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &brokers)
        .set("message.timeout.ms", "10000");

    let tracing = KafkaTracing::new(
        Instrumentation::builder()
            .process_mode(ProcessMode::Parent)
            .build(),
    )
    // `server.address` / `server.port` on every span and metric.
    .with_bootstrap_servers(&brokers)
    .with_consumer_group("roundtrip");
    let producer = TracedProducer::new(config.create::<FutureProducer>()?, tracing.clone());

    let tracer = global::tracer("kafka");
    let checkout = Context::current_with_span(tracer.start("checkout"));
    for i in 0..3 {
        let key = format!("customer-{i}");
        let body = format!("order-{i}");
        producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&body),
                Duration::from_secs(5),
            )
            .with_context(checkout.clone())
            .await
            .map_err(|(e, _)| e)?;
    }
    checkout.span().end();

    let consumer: StreamConsumer = config
        .clone()
        .set("group.id", "roundtrip")
        .set("enable.auto.commit", "false")
        .create()?;
    // Assign every partition from the beginning (no group join delay).
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(5))?;
    let mut assignment = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            assignment.add_partition_offset(t.name(), p.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&assignment)?;

    let mut messages = tracing.stream(consumer.stream());
    for i in 0..3 {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await?
            .ok_or("stream closed")??;
        println!(
            "received {:?} from partition {} offset {}",
            String::from_utf8_lossy(message.payload().unwrap_or_default()),
            message.partition(),
            message.offset()
        );
        if i == 0 {
            async {
                let _span = tracer.start("reserve stock");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            .with_context(message.context().clone())
            .await;
        }
        message.commit(&consumer, CommitMode::Sync)?;
        message.end();
    }
    drop(messages);

    telemetry.shutdown().await?;
    Ok(())
}
