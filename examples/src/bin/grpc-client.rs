//! A tonic client traced with `otel-kit-grpc`: each call is a CLIENT span whose
//! context travels in the gRPC metadata to `grpc-server`, so both sides form
//! one trace. It looks up an order, one that does not exist (`NOT_FOUND`),
//! one that fails on the server (`INTERNAL`), then chats over a
//! bidirectional stream.
//!
//! ```text
//! cargo run -p otel-examples --bin grpc-server
//! cargo run -p otel-examples --bin grpc-client
//! ```
//!
//! `GRPC_TARGET` (default `http://127.0.0.1:50051`) and every `OTEL_*`
//! variable are honoured. Without an exporter it prints each trace as a tree.

use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::{TraceContextExt, Tracer};
use otel_kit_grpc::GrpcClientLayer;
use tonic::transport::Channel;
use tower::ServiceBuilder;

pub mod shop {
    tonic::include_proto!("shop.v1");
}

use shop::orders_client::OrdersClient;
use shop::{ChatMessage, GetOrderRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = otel_kit_core::Telemetry::builder()
        .service_name("grpc-client")
        .console_when_unconfigured(true)
        .install()?;

    let target = std::env::var("GRPC_TARGET").unwrap_or_else(|_| "http://127.0.0.1:50051".into());
    let channel = Channel::from_shared(target.clone())?.connect().await?;
    let layer = GrpcClientLayer::builder().target(&target).build();
    let mut client = OrdersClient::new(ServiceBuilder::new().layer(layer).service(channel));

    // One parent span, so the whole run is one trace.
    let root = telemetry.tracer("grpc-client").start("grpc-client demo");
    let cx = Context::current_with_span(root);
    let result: Result<(), Box<dyn std::error::Error>> = async {
        let order = client
            .get_order(GetOrderRequest { id: 1 })
            .await?
            .into_inner();
        println!("order 1: {} x{}", order.item, order.quantity);

        for id in [42, 500] {
            match client.get_order(GetOrderRequest { id }).await {
                Ok(order) => println!("order {id}: {:?}", order.into_inner()),
                Err(status) => println!("order {id}: {:?} ({})", status.code(), status.message()),
            }
        }

        let messages = ["hello", "how are you?", "bye"].map(|m| ChatMessage {
            from: "client".into(),
            message: m.into(),
        });
        let mut replies = client
            .chat(tokio_stream::iter(messages))
            .await?
            .into_inner();
        while let Some(reply) = replies.message().await? {
            println!("chat: {}", reply.message);
        }
        Ok(())
    }
    .with_context(cx.clone())
    .await;
    cx.span().end();
    telemetry.shutdown().await?;
    result
}
