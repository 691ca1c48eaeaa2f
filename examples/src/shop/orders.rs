//! The order service: a tonic server under the `otel_kit_grpc` server layer.
//! `PlaceOrder` publishes `order.created`; the outcome events
//! (`order.confirmed`, `order.cancelled`) are consumed back and recorded.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use otel_kit_core::Telemetry;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_grpc::GrpcServerLayer;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::broker::{ORDER_CREATED, Publisher, Subscription};
use super::proto::order_service_server::{OrderService as OrderServiceApi, OrderServiceServer};
use super::proto::{PlaceOrderReply, PlaceOrderRequest};
use super::{ORDER_ID_ATTRIBUTE, OrderEvent, OrderRequest, SharedPropagator};

/// Request metadata the gRPC server span records
/// (`rpc.request.metadata.<key>`): the mesh headers a proxy relies on.
pub const CAPTURED_METADATA: [&str; 5] = [
    "x-request-id",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
];

/// Span attribute with an order's final status on the outcome's process span.
pub const ORDER_STATUS_ATTRIBUTE: &str = "shop.order.status";

/// The order service (cheap to clone; clones share state).
#[derive(Clone, Debug)]
pub struct OrderService {
    publisher: Arc<Publisher>,
    next_id: Arc<AtomicU64>,
    statuses: Arc<Mutex<HashMap<String, String>>>,
}

impl OrderService {
    /// An order service publishing with `publisher`.
    pub fn new(publisher: Publisher) -> Self {
        OrderService {
            publisher: Arc::new(publisher),
            next_id: Arc::new(AtomicU64::new(1)),
            statuses: Arc::default(),
        }
    }

    /// The last known status of `order_id` (`accepted`, `confirmed`, `cancelled`).
    pub fn status(&self, order_id: &str) -> Option<String> {
        self.statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(order_id)
            .cloned()
    }

    fn set_status(&self, order_id: &str, status: &str) {
        self.statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(order_id.to_owned(), status.to_owned());
    }

    /// Serves gRPC on `listener` until the task is dropped.
    pub fn serve(
        self,
        listener: tokio::net::TcpListener,
        telemetry: &Telemetry,
    ) -> impl Future<Output = ()> + Send + 'static {
        let layer = GrpcServerLayer::builder()
            .tracer_provider(telemetry.tracer_provider())
            .meter_provider(telemetry.meter_provider())
            .propagator(SharedPropagator(telemetry.propagator()))
            .capture_request_headers(CAPTURED_METADATA)
            .build();
        async move {
            let result = tonic::transport::Server::builder()
                .layer(layer)
                .add_service(OrderServiceServer::new(self))
                .serve_with_incoming(TcpIncoming::from(listener))
                .await;
            if let Err(e) = result {
                eprintln!("orders: {e}");
            }
        }
    }

    /// Records the outcome events of `subscription` until it ends.
    pub async fn track_outcomes(self, mut subscription: Subscription) {
        while let Some(event) = subscription.next().await {
            let cx = event.context.clone();
            async {
                let Ok(outcome) = serde_json::from_slice::<OrderEvent>(&event.payload) else {
                    return;
                };
                let status = if outcome.reason.is_some() {
                    "cancelled"
                } else {
                    "confirmed"
                };
                let span = Context::current();
                span.span()
                    .set_attribute(KeyValue::new(ORDER_ID_ATTRIBUTE, outcome.order_id.clone()));
                span.span()
                    .set_attribute(KeyValue::new(ORDER_STATUS_ATTRIBUTE, status));
                self.set_status(&outcome.order_id, status);
            }
            .with_context(cx)
            .await;
            event.end().await;
        }
    }
}

#[tonic::async_trait]
impl OrderServiceApi for OrderService {
    async fn place_order(
        &self,
        request: Request<PlaceOrderRequest>,
    ) -> Result<Response<PlaceOrderReply>, Status> {
        let r = request.into_inner();
        let order_id = format!("ord-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        // The gRPC server span is current: the event is published under it.
        Context::current()
            .span()
            .set_attribute(KeyValue::new(ORDER_ID_ATTRIBUTE, order_id.clone()));
        let event = OrderEvent {
            order_id: order_id.clone(),
            order: OrderRequest {
                customer: r.customer,
                item: r.item,
                quantity: r.quantity,
                amount_cents: r.amount_cents,
                card: r.card,
            },
            reason: None,
        };
        let payload = serde_json::to_vec(&event).map_err(|e| Status::internal(e.to_string()))?;
        self.publisher
            .publish(ORDER_CREATED, &order_id, &payload)
            .await
            .map_err(|e| Status::unavailable(format!("publishing {ORDER_CREATED}: {e}")))?;
        self.set_status(&order_id, "accepted");
        Ok(Response::new(PlaceOrderReply {
            order_id,
            status: "accepted".into(),
        }))
    }
}
