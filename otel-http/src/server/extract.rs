//! Step 1: the remote context, with the family's one extraction rule.

use http::request::Parts;
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::propagation::HeaderExtractor;

use super::config::ServerConfig;

/// The context the request continues in: what its headers carry (trace,
/// baggage, forwarded mesh headers) **on top of the current context**
/// (`otel_kit_core::instrument::Propagation::extract`). A request without a
/// valid `traceparent` served inside an outer span is that span's child;
/// malformed headers are ignored.
#[inline]
pub(crate) fn extract(config: &ServerConfig, parts: &Parts) -> Context {
    config
        .propagation
        .extract(&HeaderExtractor(&parts.headers))
        .into_context()
}
