//! One-call OpenTelemetry setup for Rust services, from the standard `OTEL_*`
//! environment, and the shared pieces every layer crate of this family uses.
//!
//! - [`init`] / [`Telemetry::builder`]: tracer, meter and logger providers with
//!   OTLP (gRPC, HTTP/protobuf, HTTP/JSON), console or Prometheus export, the
//!   resource, sampler and propagators, all from `OTEL_*` with builder
//!   overrides. Invalid values are reported by name ([`SetupReport`]), never
//!   a panic; [`TelemetryBuilder::strict`] makes them errors. The returned
//!   [`Telemetry`] flushes everything when dropped or shut down.
//! - [`config`]: the parsed environment, including the semantic-convention
//!   opt-ins the layer crates read ([`config::semconv_stability`]).
//! - [`propagation`]: allocation-free W3C trace context, baggage, B3, Jaeger,
//!   mesh header forwarding, carriers over `http::HeaderMap` and string maps,
//!   and context helpers.
//! - [`sampling`]: rule, rate-limiting and force-keep samplers.
//! - [`resource`]: service, host, OS, process, container and Kubernetes detection.
//! - [`export`]: a console exporter that prints each trace as a tree.
//! - [`instrument`]: the instrumentation core every layer crate is built on
//!   (scope, shared builder options, span start, extraction rule, header
//!   capture, `error.type` rule, exceptions, duration histograms, caches).
//! - [`shutdown_signal`]: SIGINT or SIGTERM, for a server's graceful
//!   shutdown before the [`Telemetry`] is shut down.
//! - [`clock`]: the injectable monotonic clock of samplers and patterns.
//! - `testing` (feature `testing`): in-memory capture with assertions.
//! - `tracing_bridge` (feature `tracing`): `tracing` spans and events on the
//!   same providers.
//!
//! The crate re-exports [`opentelemetry`], [`opentelemetry_sdk`],
//! `opentelemetry_otlp` and the semantic conventions ([`semconv`]): use them
//! through `otel_core::` and a build never mixes two OpenTelemetry versions.
//!
//! # Example
//!
//! ```
//! use otel_core::config::{Environment, ExporterKind};
//! use otel_core::opentelemetry::trace::{Span, Tracer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In a service this is just `otel_core::init()?`, configured by OTEL_*.
//! let telemetry = otel_core::Telemetry::builder()
//!     .environment(Environment::from_pairs([("OTEL_SERVICE_NAME", "docs")]))
//!     .traces_exporter(&[ExporterKind::Console])
//!     .metrics_exporter(&[])
//!     .logs_exporter(&[])
//!     .install_global(false)
//!     .install()?;
//!
//! let tracer = telemetry.tracer("docs");
//! let mut span = tracer.start("hello");
//! span.set_attribute(otel_core::opentelemetry::KeyValue::new("answer", 42));
//! span.end();
//!
//! assert!(telemetry.report().diagnostics().is_empty());
//! drop(telemetry); // flushes: the trace is printed as a tree
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod export;
pub mod instrument;
pub mod propagation;
pub mod resource;
pub mod sampling;
mod setup;
mod shutdown_signal;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "tracing")]
pub mod tracing_bridge;

pub use opentelemetry;
#[cfg(feature = "otlp")]
pub use opentelemetry_otlp;
pub use opentelemetry_sdk;
pub use opentelemetry_semantic_conventions as semconv;
pub use setup::{
    ExportStats, SetupError, SetupReport, ShutdownError, Telemetry, TelemetryBuilder, ValueSource,
    init,
};
pub use shutdown_signal::shutdown_signal;
