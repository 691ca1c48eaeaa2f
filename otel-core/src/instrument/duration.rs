//! The duration histograms of the conventions, built one way for every
//! layer.

use opentelemetry::metrics::{Histogram, Meter};

/// The advisory bucket boundaries (seconds) of every duration histogram of
/// the semantic conventions (`http.*.request.duration`, `rpc.*.call.duration`,
/// `messaging.*.duration`, `db.client.operation.duration`).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// A duration histogram in seconds with the advisory [`DURATION_BUCKETS`].
///
/// ```
/// use otel_kit_core::instrument::duration_histogram;
/// use otel_kit_core::opentelemetry::global;
///
/// let meter = global::meter("doc");
/// let h = duration_histogram(&meter, "work.duration", "Duration of work.");
/// h.record(0.012, &[]);
/// ```
pub fn duration_histogram(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
}

/// A duration histogram of an old convention (`http.server.duration`,
/// `rpc.client.duration`, ...), in milliseconds with the advisory buckets
/// scaled to them: what `{area}/dup` emits next to the current one.
pub fn old_duration_histogram_ms(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("ms")
        .with_description(description)
        .with_boundaries(DURATION_BUCKETS.iter().map(|s| s * 1000.0).collect())
        .build()
}
