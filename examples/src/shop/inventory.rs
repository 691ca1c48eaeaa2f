//! The inventory service: axum under `otel_kit_http::server`.
//! `POST /inventory/reserve` takes stock for an order (`409` when there is
//! not enough), `POST /inventory/release` gives it back (the saga's
//! compensation).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use otel_kit_core::Telemetry;
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_http::server::ServerLayer;
use serde::{Deserialize, Serialize};

use super::{ORDER_ID_ATTRIBUTE, SharedPropagator};

/// Units of every article in stock when the service starts.
pub const INITIAL_STOCK: u32 = 100;

/// The body of both inventory calls (JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StockRequest {
    /// The order the units are for.
    pub order_id: String,
    /// The article.
    pub item: String,
    /// How many units.
    pub quantity: u32,
}

#[derive(Clone, Default)]
struct Stock(Arc<Mutex<HashMap<String, u32>>>);

impl Stock {
    fn change(&self, item: &str, f: impl FnOnce(u32) -> Option<u32>) -> Option<u32> {
        let mut stock = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let units = stock.entry(item.to_owned()).or_insert(INITIAL_STOCK);
        let next = f(*units)?;
        *units = next;
        Some(next)
    }
}

fn parse(body: &Bytes) -> Result<StockRequest, (StatusCode, String)> {
    let request: StockRequest =
        serde_json::from_slice(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    // The server span is current.
    Context::current()
        .span()
        .set_attribute(KeyValue::new(ORDER_ID_ATTRIBUTE, request.order_id.clone()));
    Ok(request)
}

async fn reserve(State(stock): State<Stock>, body: Bytes) -> (StatusCode, String) {
    let request = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match stock.change(&request.item, |u| u.checked_sub(request.quantity)) {
        Some(left) => (StatusCode::OK, format!("reserved; {left} left")),
        None => (StatusCode::CONFLICT, "not enough stock".into()),
    }
}

async fn release(State(stock): State<Stock>, body: Bytes) -> (StatusCode, String) {
    let request = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let left = stock.change(&request.item, |u| u.checked_add(request.quantity));
    (StatusCode::OK, format!("released; {left:?} left"))
}

/// The inventory routes under the HTTP server layer.
pub fn router(telemetry: &Telemetry) -> Router {
    Router::new()
        .route("/inventory/reserve", post(reserve))
        .route("/inventory/release", post(release))
        .with_state(Stock::default())
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
            eprintln!("inventory: {e}");
        }
    }
}
