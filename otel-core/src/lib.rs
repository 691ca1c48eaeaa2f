//! One-call OpenTelemetry setup for Rust services, from the standard `OTEL_*` environment.
//!
//! (Crate docs are completed when the setup module lands.)
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod export;
pub mod propagation;
pub mod resource;
pub mod sampling;
#[cfg(feature = "testing")]
pub mod testing;

pub use opentelemetry;
#[cfg(feature = "otlp")]
pub use opentelemetry_otlp;
pub use opentelemetry_sdk;
pub use opentelemetry_semantic_conventions as semconv;
mod setup;
#[cfg(feature = "tracing")]
pub mod tracing_bridge;

pub use setup::{SetupError, SetupReport, ShutdownError, Telemetry, TelemetryBuilder, init};
