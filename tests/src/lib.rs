//! Cross-crate end-to-end tests live in `tests/`; this library holds shared helpers for them.
//!
//! - [`collector`]: a real OTLP receiver (rotel) on free loopback ports that
//!   records every span, metric data point and log record it receives.
//! - [`python`]: scripts of `tests/python/interop/` run with the test venv's
//!   Python (the OpenTelemetry Python SDK as a peer), reporting JSON lines.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod collector;
pub mod python;
