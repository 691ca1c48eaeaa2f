//! NATS round trip: publish three orders with trace headers, consume them in
//! the same binary (one handled inside a nested span), answer a request,
//! then flush and exit.
//!
//! ```text
//! cargo run -p otel-examples --bin nats                    # console tree
//! NATS_URL=nats://127.0.0.1:4222 OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 \
//!     cargo run -p otel-examples --bin nats               # OTLP
//! ```
//!
//! Process spans use `ProcessMode::Parent` here, so each `process` span is a
//! child of its `publish` span and the console shows one tree per order.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::{TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Context, global};
use otel_kit_messaging::nats::{TracedClient, async_nats};
use otel_kit_messaging::{Instrumentation, ProcessMode};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = otel_kit_core::Telemetry::builder()
        .service_name("nats")
        .console_when_unconfigured(true)
        .install()?;
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let instrumentation = Instrumentation::builder()
        .process_mode(ProcessMode::Parent)
        .build();
    let client = TracedClient::new(async_nats::connect(url).await?, instrumentation);
    let subject = format!("examples.orders.{}", std::process::id());
    let mut orders = client.subscribe(subject.clone()).await?;
    let service = format!("examples.stock.{}", std::process::id());
    let mut requests = client.subscribe(service.clone()).await?;
    client.client().flush().await?;

    // The stock service answers one request.
    let responder = client.clone();
    let serve = tokio::spawn(async move {
        if let Some(request) = requests.next().await {
            // Answered inside the request's `process` span: the reply's
            // `publish` span is its child.
            let _ = request
                .process(async |request| {
                    responder
                        .respond(request, Bytes::from_static(b"in stock"))
                        .await
                })
                .await;
        }
    });

    let tracer = global::tracer("nats");
    let checkout = Context::current_with_span(tracer.start("checkout"));
    for i in 0..3 {
        client
            .publish(subject.clone(), Bytes::from(format!("order-{i}")))
            .with_context(checkout.clone())
            .await?;
    }
    checkout.span().end();

    for i in 0..3 {
        let message = tokio::time::timeout(Duration::from_secs(10), orders.next())
            .await?
            .ok_or("subscription closed")?;
        println!("received {:?}", String::from_utf8_lossy(&message.payload));
        // The handler runs inside the `process` span. The first order is
        // handled inside a nested span that asks the stock service
        // (request/reply) from within it.
        message
            .process(async |_| {
                if i == 0 {
                    let span = tracer.start("reserve stock");
                    let cx = Context::current_with_span(span);
                    let reply = client
                        .request(service.clone(), Bytes::from_static(b"order-0"))
                        .with_context(cx.clone())
                        .await;
                    if let Ok(reply) = reply {
                        println!("stock: {:?}", String::from_utf8_lossy(&reply.payload));
                    }
                    cx.span().end();
                }
                Ok::<_, std::convert::Infallible>(())
            })
            .await?;
    }

    serve.await?;
    telemetry.shutdown().await?;
    Ok(())
}
