//! Test kit (feature `testing`): capture spans, metrics and logs in memory
//! and assert on them.
//!
//! Make a [`Capture`] per test, inject its providers into the code under
//! test, then query what was recorded:
//!
//! - spans: [`Capture::spans`], [`Capture::span`] (exactly one by name),
//!   [`Capture::spans_named`], [`Capture::find`], [`Capture::tree`] for the
//!   shape of a whole trace in one `assert_eq!`, and [`CapturedSpan`]'s
//!   lookups and assertions (`attr`, `assert_attr`, `assert_kind`, …);
//! - relations: [`assert_parent`], [`assert_root`], [`assert_same_trace`],
//!   [`assert_linked`];
//! - metrics: [`Capture::collect_metrics`] then [`MetricsSnapshot::histogram`],
//!   [`MetricsSnapshot::sum_u64`] and friends, and [`Points::point_with`],
//!   [`Points::assert_value`], [`Points::assert_count`];
//! - logs: [`Capture::logs`].
//!
//! Every assertion panics with a message that shows what was captured, and
//! points at the calling line.
//!
//! ```
//! use otel_kit_core::opentelemetry::KeyValue;
//! use otel_kit_core::opentelemetry::trace::{SpanKind, Tracer};
//! use otel_kit_core::testing::{Capture, assert_root};
//!
//! let capture = Capture::new();
//! let tracer = capture.tracer("test");
//! let _span = tracer
//!     .span_builder("GET /health")
//!     .with_kind(SpanKind::Server)
//!     .start(&tracer);
//! drop(_span);
//!
//! let span = capture.span("GET /health");
//! assert_root(&span);
//! span.assert_kind(SpanKind::Server);
//!
//! let duration = capture.meter("test").f64_histogram("http.server.request.duration").build();
//! duration.record(0.25, &[KeyValue::new("http.route", "/health")]);
//! duration.record(0.75, &[KeyValue::new("http.route", "/health")]);
//! let metrics = capture.collect_metrics();
//! let point = metrics
//!     .histogram("http.server.request.duration")
//!     .point_with(&[KeyValue::new("http.route", "/health")])
//!     .clone();
//! assert_eq!((point.count, point.sum), (2, 1.0));
//! ```

mod capture;
mod logs;
mod metrics;
mod span;
mod value;

pub use capture::{Capture, CaptureBuilder};
pub use logs::CapturedLog;
#[cfg(test)]
pub(crate) use metrics::SnapshotExporter;
pub use metrics::{
    DataPoint, HistogramPoint, MetricKind, MetricView, MetricsSnapshot, NumberPoint, Points,
};
pub use span::{CapturedSpan, assert_linked, assert_parent, assert_root, assert_same_trace};
pub use value::ExpectedValue;

#[cfg(test)]
mod tests;
