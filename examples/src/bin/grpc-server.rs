//! A tonic server traced with `otel-kit-grpc`: every call is a SERVER span named
//! `shop.v1.Orders/GetOrder` or `shop.v1.Orders/Chat`, continuing the
//! caller's trace from the gRPC metadata; the bidirectional `Chat` span lasts
//! as long as the stream.
//!
//! ```text
//! cargo run -p otel-examples --bin grpc-server
//! cargo run -p otel-examples --bin grpc-client    # in another terminal
//! ```
//!
//! `GetOrder` answers ids 1 to 3, `NOT_FOUND` for other ids (not a server
//! error) and `INTERNAL` for id 500 (a server error). `LISTEN_ADDR` (default
//! `127.0.0.1:50051`) and every `OTEL_*` variable are honoured. Without an
//! exporter it prints each trace as a tree.

use std::net::SocketAddr;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use otel_kit_core::instrument::not;
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_grpc::GrpcServerLayer;
use otel_kit_grpc::filter::health_check;
use tonic::{Request, Response, Status, Streaming};

pub mod shop {
    tonic::include_proto!("shop.v1");
}

use shop::orders_server::{Orders, OrdersServer};
use shop::{ChatMessage, GetOrderRequest, Order};

#[derive(Default)]
struct OrdersService;

type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Orders for OrdersService {
    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<Order>, Status> {
        let id = request.into_inner().id;
        // The handler runs inside the call's span.
        Context::map_current(|cx| {
            cx.span()
                .add_event("order lookup", vec![KeyValue::new("order.id", id as i64)])
        });
        match id {
            1..=3 => Ok(Response::new(Order {
                id,
                item: format!("item-{id}"),
                quantity: id as u32,
            })),
            500 => Err(Status::internal("the order store failed")),
            _ => Err(Status::not_found(format!("no order {id}"))),
        }
    }

    type ChatStream = ChatStream;

    async fn chat(
        &self,
        request: Request<Streaming<ChatMessage>>,
    ) -> Result<Response<ChatStream>, Status> {
        let replies = request.into_inner().map(|msg| {
            let msg = msg?;
            Context::map_current(|cx| {
                cx.span().add_event(
                    "message received",
                    vec![KeyValue::new("from", msg.from.clone())],
                )
            });
            Ok(ChatMessage {
                from: "server".into(),
                message: format!("Echo: {}", msg.message),
            })
        });
        Ok(Response::new(Box::pin(replies)))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = otel_kit_core::Telemetry::builder()
        .service_name("grpc-server")
        .console_when_unconfigured(true)
        .install()?;

    let addr: SocketAddr = std::env::var("LISTEN_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:50051".into())
        .parse()?;
    println!("gRPC server listening on {addr}");
    tonic::transport::Server::builder()
        .layer(
            GrpcServerLayer::builder()
                .filter(not(health_check()))
                .build(),
        )
        .add_service(OrdersServer::new(OrdersService))
        // SIGTERM or Ctrl-C: finish the calls in flight, then flush.
        .serve_with_shutdown(addr, otel_kit_core::shutdown_signal())
        .await?;
    telemetry.shutdown().await?;
    Ok(())
}
