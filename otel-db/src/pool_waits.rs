//! The wait for a pooled connection: `db.client.connection.wait_time` and
//! `db.client.connection.timeouts` (database conventions v1.44,
//! development), for pools whose `get` this crate wraps.

use std::time::Duration;

use otel_kit_core::instrument::duration_histogram;
use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::metrics::{Counter, Histogram, Meter};
use otel_kit_core::semconv::attribute::DB_CLIENT_CONNECTION_POOL_NAME;
use otel_kit_core::semconv::metric::{
    DB_CLIENT_CONNECTION_TIMEOUTS, DB_CLIENT_CONNECTION_WAIT_TIME,
};

/// `db.client.connection.wait_time` and `db.client.connection.timeouts`
/// of one pool, recorded where a connection is taken from it.
#[derive(Clone, Debug)]
pub(crate) struct PoolWaits {
    wait_time: Histogram<f64>,
    timeouts: Counter<u64>,
    attributes: [KeyValue; 1],
}

impl PoolWaits {
    pub(crate) fn new(meter: &Meter, name: &str) -> Self {
        PoolWaits {
            wait_time: duration_histogram(
                meter,
                DB_CLIENT_CONNECTION_WAIT_TIME,
                "The time it took to obtain an open connection from the pool.",
            ),
            timeouts: meter
                .u64_counter(DB_CLIENT_CONNECTION_TIMEOUTS)
                .with_unit("{timeout}")
                .with_description("The number of connection timeouts that have occurred trying to obtain a connection from the pool.")
                .build(),
            attributes: [KeyValue::new(DB_CLIENT_CONNECTION_POOL_NAME, name.to_owned())],
        }
    }

    /// A connection was obtained after `waited`.
    pub(crate) fn obtained(&self, waited: Duration) {
        self.wait_time
            .record(waited.as_secs_f64(), &self.attributes);
    }

    /// Taking a connection timed out.
    pub(crate) fn timed_out(&self) {
        self.timeouts.add(1, &self.attributes);
    }
}
