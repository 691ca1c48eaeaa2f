//! The payment service: axum under `otel_kit_http::server`.
//! `POST /payments/charge` answers per the order's `card`: `ok` pays,
//! `flaky` answers `503` with `Retry-After: 0` on the first call for an
//! order and pays on the next, `declined` answers `402`.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use otel_kit_core::Telemetry;
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_http::server::ServerLayer;
use serde::{Deserialize, Serialize};

use super::{ORDER_ID_ATTRIBUTE, SharedPropagator};

/// Span attribute with the payment decision on the server span.
pub const PAYMENT_OUTCOME_ATTRIBUTE: &str = "shop.payment.outcome";

/// The body of `POST /payments/charge` (JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChargeRequest {
    /// The order paid for.
    pub order_id: String,
    /// Amount in cents.
    pub amount_cents: u64,
    /// `ok`, `flaky` or `declined`.
    pub card: String,
}

/// Orders whose flaky card already failed once.
#[derive(Clone, Default)]
struct FailedOnce(Arc<Mutex<HashSet<String>>>);

async fn charge(State(failed): State<FailedOnce>, body: Bytes) -> Response {
    let request: ChargeRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let cx = Context::current();
    cx.span()
        .set_attribute(KeyValue::new(ORDER_ID_ATTRIBUTE, request.order_id.clone()));
    let outcome = match request.card.as_str() {
        "declined" => "declined",
        "flaky"
            if failed
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(request.order_id.clone()) =>
        {
            "unavailable"
        }
        _ => "paid",
    };
    cx.span()
        .set_attribute(KeyValue::new(PAYMENT_OUTCOME_ATTRIBUTE, outcome));
    match outcome {
        "declined" => (StatusCode::PAYMENT_REQUIRED, "card declined").into_response(),
        "unavailable" => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(http::header::RETRY_AFTER, "0")],
            "try again",
        )
            .into_response(),
        _ => (StatusCode::OK, "paid").into_response(),
    }
}

/// The payment routes under the HTTP server layer.
pub fn router(telemetry: &Telemetry) -> Router {
    Router::new()
        .route("/payments/charge", post(charge))
        .with_state(FailedOnce::default())
        .layer(
            ServerLayer::builder()
                .tracer_provider(telemetry.tracer_provider())
                .meter_provider(telemetry.meter_provider())
                .propagator(SharedPropagator(telemetry.propagator()))
                .build(),
        )
}

/// Serves on `listener` until the task is dropped.
pub fn serve(
    listener: tokio::net::TcpListener,
    telemetry: &Telemetry,
) -> impl Future<Output = ()> + Send + 'static {
    let app = router(telemetry);
    async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, service).await {
            eprintln!("payment: {e}");
        }
    }
}
