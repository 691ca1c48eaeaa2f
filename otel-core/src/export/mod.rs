//! Exporters this crate adds to the SDK: human-readable console output for
//! the three signals.
//!
//! - [`ConsoleSpanExporter`] prints each finished trace as an indented tree
//!   with durations, statuses, attributes, events and links.
//! - [`ConsoleMetricExporter`] prints a compact summary of each metrics export.
//! - [`ConsoleLogExporter`] prints one line per log record, with its trace and
//!   span ids.
//!
//! All three write to standard output by default, to standard error with
//! `stderr()`, or to any [`std::io::Write`] with `with_writer`; colours are
//! used only on a terminal and when `NO_COLOR` is unset.
//!
//! ```
//! use otel_kit_core::export::ConsoleSpanExporter;
//! use otel_kit_core::opentelemetry::trace::{Tracer, TracerProvider};
//! use otel_kit_core::opentelemetry_sdk::trace::SdkTracerProvider;
//!
//! let provider = SdkTracerProvider::builder()
//!     .with_simple_exporter(ConsoleSpanExporter::new())
//!     .build();
//! provider.tracer("demo").in_span("hello", |_cx| {});
//! provider.shutdown().ok();
//! ```

mod console;
mod console_logs;
mod console_metrics;
mod text;

pub use console::{ConsoleSpanExporter, DEFAULT_MAX_BUFFERED_SPANS, DEFAULT_MAX_WAIT};
pub use console_logs::ConsoleLogExporter;
pub use console_metrics::ConsoleMetricExporter;

#[cfg(test)]
mod tests;
