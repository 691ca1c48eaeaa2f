//! The instrumentation scope of every span, metric and log record of this
//! crate, and the shared options its builders start from.

use otel_kit_core::instrument::{Options, scope};

/// The instrumentation scope name of every span and metric of this crate.
pub const SCOPE_NAME: &str = "otel-kit-http";

/// The shared options of a builder of this crate, with this crate's scope
/// (name, version, schema URL).
pub(crate) fn options() -> Options {
    Options::new(scope(SCOPE_NAME, env!("CARGO_PKG_VERSION")))
}
