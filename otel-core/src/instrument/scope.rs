//! The instrumentation scope every span, metric and log record of a layer
//! crate carries: the crate's name and version and the schema URL of the
//! semantic conventions it follows.

use opentelemetry::InstrumentationScope;

/// The scope of the instrumentation `name` at `version`, with the schema URL
/// of the semantic conventions this family follows
/// ([`semconv::SCHEMA_URL`](crate::semconv::SCHEMA_URL)).
///
/// Every layer crate names its scope with this function, so a backend sees
/// the same three fields from each of them.
///
/// ```
/// let scope = otel_kit_core::instrument::scope("my-layer", "1.2.0");
/// assert_eq!(scope.name(), "my-layer");
/// assert_eq!(scope.version(), Some("1.2.0"));
/// assert_eq!(scope.schema_url(), Some(otel_kit_core::semconv::SCHEMA_URL));
/// ```
pub fn scope(name: &'static str, version: &'static str) -> InstrumentationScope {
    InstrumentationScope::builder(name)
        .with_version(version)
        .with_schema_url(opentelemetry_semantic_conventions::SCHEMA_URL)
        .build()
}
