//! Configuration from the standard `OTEL_*` environment variables.

mod environment;

pub use environment::Environment;
