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
//! Producer and consumer are made with `from_config`, which reads from the
//! client configuration what the spans record: the first
//! `bootstrap.servers` entry as `server.address` / `server.port`
//! (librdkafka does not say which broker served a call; `with_server(host,
//! port)` sets it explicitly), `client.id`, and the consumer's `group.id`
//! as `messaging.consumer.group.name`.

use std::time::Duration;

use futures::StreamExt;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::{TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Context, global};
use otel_kit_messaging::kafka::rdkafka::config::ClientConfig;
use otel_kit_messaging::kafka::rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use otel_kit_messaging::kafka::rdkafka::message::Message;
use otel_kit_messaging::kafka::rdkafka::mocking::MockCluster;
use otel_kit_messaging::kafka::rdkafka::producer::FutureRecord;
use otel_kit_messaging::kafka::rdkafka::{Offset, TopicPartitionList};
use otel_kit_messaging::kafka::{TracedConsumer, TracedProducer};
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

    let instrumentation = Instrumentation::builder()
        .process_mode(ProcessMode::Parent)
        .build();
    let producer: TracedProducer = TracedProducer::from_config(&config, instrumentation.clone())?;

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

    let consumer: TracedConsumer<StreamConsumer> = TracedConsumer::from_config(
        config
            .clone()
            .set("group.id", "roundtrip")
            .set("enable.auto.commit", "false"),
        instrumentation,
    )?;
    // Assign every partition from the beginning (no group join delay).
    let metadata = consumer
        .consumer()
        .fetch_metadata(Some(&topic), Duration::from_secs(5))?;
    let mut assignment = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            assignment.add_partition_offset(t.name(), p.id(), Offset::Beginning)?;
        }
    }
    consumer.consumer().assign(&assignment)?;

    let mut messages = consumer.stream();
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
        // The handler runs inside the `process` span: the nested span and
        // the commit's settle span are its children; the span ends with the
        // handler's outcome.
        message
            .process(async |message| {
                if i == 0 {
                    let _span = tracer.start("reserve stock");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                message.commit(consumer.consumer(), CommitMode::Sync)
            })
            .await?;
    }
    drop(messages);

    telemetry.shutdown().await?;
    Ok(())
}
