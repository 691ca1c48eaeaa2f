//! RabbitMQ round trip: publish three orders with publisher confirms and
//! trace headers, consume them in the same binary (one handled inside a
//! nested span), acknowledge each (settle spans), then flush and exit.
//!
//! ```text
//! cargo run -p otel-examples --bin rabbitmq               # console tree
//! AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f cargo run -p otel-examples --bin rabbitmq
//! ```

use std::time::Duration;

use futures::StreamExt;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::{TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Context, global};
use otel_kit_messaging::rabbitmq::TracedChannel;
use otel_kit_messaging::rabbitmq::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use otel_kit_messaging::rabbitmq::lapin::types::FieldTable;
use otel_kit_messaging::rabbitmq::lapin::{BasicProperties, Connection, ConnectionProperties};
use otel_kit_messaging::{Instrumentation, ProcessMode};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = otel_kit_core::Telemetry::builder()
        .service_name("rabbitmq")
        .console_when_unconfigured(true)
        .install()?;
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queue = format!("examples.orders.{}", std::process::id());
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let traced = TracedChannel::new(
        channel,
        Instrumentation::builder()
            .process_mode(ProcessMode::Parent)
            .build(),
    )
    .with_server("127.0.0.1", 5672);
    let mut consumer = traced
        .basic_consume(
            queue.as_str().into(),
            "roundtrip".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let tracer = global::tracer("rabbitmq");
    let checkout = Context::current_with_span(tracer.start("checkout"));
    for i in 0..3 {
        let body = format!("order-{i}");
        traced
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default().with_correlation_id(format!("c-{i}").into()),
            )
            .with_context(checkout.clone())
            .await?;
    }
    checkout.span().end();

    for i in 0..3 {
        let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await?
            .ok_or("consumer closed")??;
        println!("received {:?}", String::from_utf8_lossy(&delivery.data));
        // The handler runs inside the `process` span: the nested span and
        // the ack's settle span are its children.
        delivery
            .process(async |delivery| {
                if i == 0 {
                    let _span = tracer.start("reserve stock");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                delivery.ack(BasicAckOptions::default()).await
            })
            .await?;
    }

    connection.close(200, "bye".into()).await?;
    telemetry.shutdown().await?;
    Ok(())
}
