//! One-call OpenTelemetry setup for Rust services, from the standard `OTEL_*`
//! environment, and the shared pieces every layer crate of this family uses.
//!
//! ```rust,no_run
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Service name, exporters and endpoint, sampler, propagators: all
//!     // from OTEL_*, every invalid value reported by name, never a panic.
//!     let telemetry = otel_kit_core::init()?;
//!
//!     // ... the service, instrumented with otel-kit-http, otel-kit-grpc,
//!     // otel-kit-messaging; until SIGTERM or Ctrl-C:
//!     otel_kit_core::shutdown_signal().await;
//!
//!     telemetry.shutdown().await?; // flushes every span, metric and log record
//!     Ok(())
//! }
//! ```
//!
//! Defaults in code, which the deployment's `OTEL_*` variables override:
//!
//! ```rust,no_run
//! use otel_kit_core::{Telemetry, config::Protocol};
//!
//! # fn main() -> Result<(), otel_kit_core::SetupError> {
//! let telemetry = Telemetry::builder()
//!     .service_name("checkout")
//!     .service_version(env!("CARGO_PKG_VERSION"))
//!     .otlp_endpoint("http://collector:4317")
//!     .otlp_protocol(Protocol::Grpc)
//!     .install()?;
//! println!("{}", telemetry.report()); // effective configuration, secrets redacted
//! # Ok(()) }
//! ```
//!
//! - [`init`] / [`Telemetry::builder`]: tracer, meter and logger providers with
//!   OTLP (gRPC, HTTP/protobuf, HTTP/JSON), console or Prometheus export, the
//!   resource, sampler and propagators, all from `OTEL_*` with builder
//!   overrides. Invalid values are reported by name ([`SetupReport`]), never
//!   a panic; [`TelemetryBuilder::strict`] makes them errors. The returned
//!   [`Telemetry`] flushes everything when dropped or shut down.
//! - [`config`]: the parsed environment, including the semantic-convention
//!   opt-ins the layer crates read ([`config::semconv_stability`]), and the
//!   declarative configuration file (`OTEL_CONFIG_FILE`, `config::file`,
//!   feature `config-file`).
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
//! `opentelemetry_otlp` (with an OTLP feature) and the semantic conventions
//! ([`semconv`]): use them through `otel_kit_core::` and a build never mixes two
//! OpenTelemetry versions.
//!
//! # Cargo features
//!
//! | feature | default | adds |
//! | --- | --- | --- |
//! | `otlp` | yes | both OTLP transports: `otlp-grpc` and `otlp-http` |
//! | `otlp-grpc` | via `otlp` | OTLP over gRPC (opentelemetry-otlp, tonic) |
//! | `otlp-http` | via `otlp` | OTLP over HTTP, protobuf and JSON (opentelemetry-otlp, reqwest) |
//! | `tls` | yes | TLS and mTLS (rustls, aws-lc) for whichever OTLP transports are enabled; no transport by itself |
//! | `prometheus` | no | a scrape endpoint for `OTEL_METRICS_EXPORTER=prometheus` |
//! | `config-file` | yes | the declarative configuration file, YAML (`config::file`, serde_norway) |
//! | `tracing` | no | `tracing` interop (`tracing_bridge`) |
//! | `testing` | no | in-memory capture with assertions (`testing`) |
//!
//! Exporters are the application's choice, made in its own otel-kit-core
//! dependency (e.g. `default-features = false, features = ["otlp-http",
//! "tls"]` for HTTP only, without tonic). The layer crates (otel-kit-http,
//! otel-kit-grpc, otel-kit-messaging, otel-kit-patterns) depend on otel-kit-core with none of
//! the exporter features, so adding one never compiles an OTLP exporter,
//! tonic, reqwest or a TLS library for it. With one transport compiled in, an
//! unset `OTEL_EXPORTER_OTLP_PROTOCOL` selects it; a protocol whose feature
//! is off is reported as a diagnostic naming the variable, the value and the
//! feature (an error with [`TelemetryBuilder::strict`]).
//!
//! # Checking it in a test
//!
//! A private environment and the console exporter, nothing global:
//!
//! ```
//! use otel_kit_core::config::{Environment, ExporterKind};
//! use otel_kit_core::opentelemetry::trace::{Span, Tracer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In a service this is just `otel_kit_core::init()?`, configured by OTEL_*.
//! let telemetry = otel_kit_core::Telemetry::builder()
//!     .environment(Environment::from_pairs([("OTEL_SERVICE_NAME", "docs")]))
//!     .traces_exporter(&[ExporterKind::Console])
//!     .metrics_exporter(&[])
//!     .logs_exporter(&[])
//!     .install_global(false)
//!     .install()?;
//!
//! let tracer = telemetry.tracer("docs");
//! let mut span = tracer.start("hello");
//! span.set_attribute(otel_kit_core::opentelemetry::KeyValue::new("answer", 42));
//! span.end();
//!
//! assert!(telemetry.report().diagnostics().is_empty());
//! drop(telemetry); // flushes: the trace is printed as a tree
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
pub mod config;
pub mod export;
pub mod instrument;
pub mod propagation;
pub mod resource;
pub mod runtime_metrics;
pub mod sampling;
mod sdk_metrics;
mod setup;
mod shutdown_signal;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "tracing")]
pub mod tracing_bridge;

pub use opentelemetry;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
pub use opentelemetry_otlp;
pub use opentelemetry_sdk;
pub use opentelemetry_semantic_conventions as semconv;
pub use setup::{
    ExportStats, SetupError, SetupReport, ShutdownError, Telemetry, TelemetryBuilder, ValueSource,
    init,
};
pub use shutdown_signal::shutdown_signal;
