//! The connection-pool metrics of the database conventions
//! (`db.client.connection.*`, development), read from a pool's own
//! counters when the meter provider collects.

use std::sync::Arc;

use otel_kit_core::opentelemetry::metrics::Meter;
use otel_kit_core::opentelemetry::{KeyValue, StringValue};
use otel_kit_core::semconv::attribute::{
    DB_CLIENT_CONNECTION_POOL_NAME, DB_CLIENT_CONNECTION_STATE,
};
use otel_kit_core::semconv::metric::{
    DB_CLIENT_CONNECTION_COUNT, DB_CLIENT_CONNECTION_MAX, DB_CLIENT_CONNECTION_PENDING_REQUESTS,
};

use crate::target::DbTarget;

/// A pool's counters at one instant.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolSnapshot {
    pub max: i64,
    pub idle: i64,
    pub used: i64,
    /// Requests waiting for a connection, when the pool tells.
    pub pending: Option<i64>,
}

/// The default `db.client.connection.pool.name`:
/// `{server.address}:{server.port}/{db.namespace}`, as the conventions
/// suggest.
pub(crate) fn default_pool_name(target: &DbTarget) -> String {
    format!(
        "{}:{}/{}",
        target.server_address().unwrap_or(""),
        target
            .server_port()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        target.namespace().unwrap_or("")
    )
}

/// Registers `db.client.connection.count` (by state), `.max` and
/// `.pending_requests` for the pool `name`, observed through `snapshot`
/// (which returns `None` once the pool is gone).
pub(crate) fn observe_pool(
    meter: &Meter,
    name: &str,
    snapshot: impl Fn() -> Option<PoolSnapshot> + Send + Sync + 'static,
) {
    let name: Arc<str> = name.into();
    let snapshot = Arc::new(snapshot);
    let pool = KeyValue::new(DB_CLIENT_CONNECTION_POOL_NAME, StringValue::from(name));
    let (s, p) = (snapshot.clone(), pool.clone());
    meter
        .i64_observable_up_down_counter(DB_CLIENT_CONNECTION_COUNT)
        .with_unit("{connection}")
        .with_description("The number of connections that are currently in the state described by the state attribute.")
        .with_callback(move |observer| {
            if let Some(now) = s() {
                observer.observe(now.idle, &[p.clone(), KeyValue::new(DB_CLIENT_CONNECTION_STATE, "idle")]);
                observer.observe(now.used, &[p.clone(), KeyValue::new(DB_CLIENT_CONNECTION_STATE, "used")]);
            }
        })
        .build();
    let (s, p) = (snapshot.clone(), pool.clone());
    meter
        .i64_observable_up_down_counter(DB_CLIENT_CONNECTION_MAX)
        .with_unit("{connection}")
        .with_description("The maximum number of open connections allowed.")
        .with_callback(move |observer| {
            if let Some(now) = s() {
                observer.observe(now.max, std::slice::from_ref(&p));
            }
        })
        .build();
    let (s, p) = (snapshot, pool);
    meter
        .i64_observable_up_down_counter(DB_CLIENT_CONNECTION_PENDING_REQUESTS)
        .with_unit("{request}")
        .with_description("The number of current pending requests for an open connection.")
        .with_callback(move |observer| {
            if let Some(pending) = s().and_then(|now| now.pending) {
                observer.observe(pending, std::slice::from_ref(&p));
            }
        })
        .build();
}
