//! The HTTP gateway: axum `POST /orders` under `otel_kit_http::server`, which
//! puts the customer in the baggage and places the order with the order
//! service over gRPC (`otel_kit_grpc` client layer). `GET /healthz` answers
//! probes and is kept out of traces.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use otel_kit_core::Telemetry;
use otel_kit_core::instrument::not;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_grpc::GrpcClientLayer;
use otel_kit_grpc::GrpcClientService;
use otel_kit_http::filter::health_check;
use otel_kit_http::server::ServerLayer;
use tonic::transport::Channel;
use tower::ServiceBuilder;

use super::proto::PlaceOrderRequest;
use super::proto::order_service_client::OrderServiceClient;
use super::{
    BoxError, CUSTOMER_BAGGAGE, ORDER_ID_ATTRIBUTE, OrderAccepted, OrderRequest, SharedPropagator,
};

/// The gateway: a traced gRPC client of the order service.
#[derive(Clone, Debug)]
pub struct Gateway {
    orders: OrderServiceClient<GrpcClientService<Channel>>,
}

impl Gateway {
    /// A gateway calling the order service at `orders_url`
    /// (`http://host:port`; connected on first use), recording with
    /// `telemetry`'s providers and propagating with its propagator.
    pub fn connect(orders_url: &str, telemetry: &Telemetry) -> Result<Self, BoxError> {
        let channel = Channel::from_shared(orders_url.to_owned())?.connect_lazy();
        let layer = GrpcClientLayer::builder()
            .target(orders_url)
            .tracer_provider(telemetry.tracer_provider())
            .meter_provider(telemetry.meter_provider())
            .propagator(SharedPropagator(telemetry.propagator()))
            .build();
        Ok(Gateway {
            orders: OrderServiceClient::new(ServiceBuilder::new().layer(layer).service(channel)),
        })
    }

    /// The gateway's routes under the HTTP server layer.
    pub fn router(self, telemetry: &Telemetry) -> Router {
        Router::new()
            .route("/orders", post(place_order))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(self)
            // Router::layer: routing has run, so spans are named from the route.
            .layer(
                ServerLayer::builder()
                    .tracer_provider(telemetry.tracer_provider())
                    .meter_provider(telemetry.meter_provider())
                    .propagator(SharedPropagator(telemetry.propagator()))
                    .filter(not(health_check()))
                    .build(),
            )
    }

    /// Serves on `listener` until the task is dropped.
    pub fn serve(
        self,
        listener: tokio::net::TcpListener,
        telemetry: &Telemetry,
    ) -> impl Future<Output = ()> + Send + 'static {
        let app = self.router(telemetry);
        async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, service).await {
                eprintln!("gateway: {e}");
            }
        }
    }
}

async fn place_order(State(gateway): State<Gateway>, body: Bytes) -> Response {
    let order: OrderRequest = match serde_json::from_slice(&body) {
        Ok(o) => o,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    // The server span is current: the customer rides along as baggage to
    // every service this request reaches, through gRPC and the broker.
    let cx = otel_kit_core::propagation::baggage_set(
        &Context::current(),
        [(CUSTOMER_BAGGAGE, order.customer.clone())],
    );
    let trace_id = cx.span().span_context().trace_id().to_string();
    let request = PlaceOrderRequest {
        customer: order.customer,
        item: order.item,
        quantity: order.quantity,
        amount_cents: order.amount_cents,
        card: order.card,
    };
    let mut client = gateway.orders.clone();
    match client.place_order(request).with_context(cx.clone()).await {
        Ok(reply) => {
            let reply = reply.into_inner();
            cx.span()
                .set_attribute(KeyValue::new(ORDER_ID_ATTRIBUTE, reply.order_id.clone()));
            let accepted = OrderAccepted {
                order_id: reply.order_id,
                status: reply.status,
                trace_id,
            };
            match serde_json::to_vec(&accepted) {
                Ok(json) => (
                    StatusCode::ACCEPTED,
                    [(http::header::CONTENT_TYPE, "application/json")],
                    json,
                )
                    .into_response(),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
            }
        }
        Err(status) => (
            StatusCode::BAD_GATEWAY,
            format!("order service: {}", status.message()),
        )
            .into_response(),
    }
}
