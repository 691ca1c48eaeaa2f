//! The builder setters every instrumentation of the family shares, written
//! once.

/// Adds the shared setters to a builder that embeds an
/// [`Options`](crate::instrument::Options) in the field `$field`: invoke it
/// inside the builder's `impl` block with the groups the builder offers.
///
/// | group | setters |
/// |---|---|
/// | `providers` | `tracer_provider(&P)`, `meter_provider(&P)`, `logger_provider(&P)` (any API provider) |
/// | `propagator` | `propagator(P)` |
/// | `headers` | `capture_request_headers(names)`, `capture_response_headers(names)`, `allow_sensitive_headers(names)` |
/// | `request_headers` | `capture_request_headers(names)`, `allow_sensitive_headers(names)` (message headers) |
/// | `semconv` | `semconv_dup(bool)` |
/// | `exceptions` | `exception_signal(ExceptionSignal)` |
///
/// ```
/// use otel_kit_core::instrument::{Options, SemconvArea, scope};
///
/// /// Options of my layer.
/// pub struct MyLayerBuilder {
///     options: Options,
/// }
///
/// impl MyLayerBuilder {
///     otel_kit_core::instrumentation_setters!(options: providers, propagator, headers, semconv, exceptions);
/// }
///
/// let capture_everything = MyLayerBuilder { options: Options::new(scope("my-layer", "0.1.0")) }
///     .capture_request_headers(["x-tenant"])
///     .semconv_dup(true);
/// # let _ = capture_everything;
/// ```
#[macro_export]
macro_rules! instrumentation_setters {
    ($field:ident: $($group:ident),+ $(,)?) => {
        $( $crate::instrumentation_setters!(@$group $field); )+
    };
    (@providers $field:ident) => {
        /// Records spans with this tracer provider (any
        /// `opentelemetry::trace::TracerProvider`) instead of the global one.
        pub fn tracer_provider<Provider>(mut self, provider: &Provider) -> Self
        where
            Provider: $crate::opentelemetry::trace::TracerProvider,
            Provider::Tracer: Send + Sync + 'static,
            <Provider::Tracer as $crate::opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
        {
            self.$field.set_tracer_provider(provider);
            self
        }

        /// Records metrics with this meter provider instead of the global one.
        pub fn meter_provider<Provider>(mut self, provider: &Provider) -> Self
        where
            Provider: $crate::opentelemetry::metrics::MeterProvider + ?Sized,
        {
            self.$field.set_meter_provider(provider);
            self
        }

        /// Emits exception log records (when the exception signal includes
        /// logs) through this logger provider instead of the one
        /// `otel_kit_core::init` installed.
        pub fn logger_provider<Provider>(mut self, provider: &Provider) -> Self
        where
            Provider: $crate::opentelemetry::logs::LoggerProvider,
            Provider::Logger: Send + Sync + 'static,
        {
            self.$field.set_logger_provider(provider);
            self
        }
    };
    (@propagator $field:ident) => {
        /// Extracts and injects with this propagator instead of the global
        /// one (`otel_kit_core::init` installs the configured W3C / B3 / Jaeger /
        /// mesh composite globally). Extraction is on top of the current
        /// context: see [`Propagation`]($crate::instrument::Propagation).
        pub fn propagator(
            mut self,
            propagator: impl $crate::opentelemetry::propagation::TextMapPropagator
                + Send
                + Sync
                + 'static,
        ) -> Self {
            self.$field.set_propagator(propagator);
            self
        }
    };
    (@headers $field:ident) => {
        $crate::instrumentation_setters!(@request_headers $field);

        /// Records these response headers (case-insensitive) as string-array
        /// attributes. Credentials ([`SENSITIVE_HEADERS`]($crate::instrument::SENSITIVE_HEADERS))
        /// are refused unless [`allow_sensitive_headers`](Self::allow_sensitive_headers)
        /// names them.
        pub fn capture_response_headers<Names, Name>(mut self, names: Names) -> Self
        where
            Names: IntoIterator<Item = Name>,
            Name: AsRef<str>,
        {
            self.$field.set_response_headers(names);
            self
        }
    };
    (@request_headers $field:ident) => {
        /// Records these request headers (for messaging: message headers;
        /// for gRPC: metadata keys), case-insensitive, as string-array
        /// attributes. Credentials ([`SENSITIVE_HEADERS`]($crate::instrument::SENSITIVE_HEADERS))
        /// are refused unless [`allow_sensitive_headers`](Self::allow_sensitive_headers)
        /// names them.
        pub fn capture_request_headers<Names, Name>(mut self, names: Names) -> Self
        where
            Names: IntoIterator<Item = Name>,
            Name: AsRef<str>,
        {
            self.$field.set_request_headers(names);
            self
        }

        /// Lets the capture lists record these sensitive headers
        /// (`authorization`, `cookie`, ...): credentials end up in your
        /// telemetry, so this is an explicit decision.
        pub fn allow_sensitive_headers<Names, Name>(mut self, names: Names) -> Self
        where
            Names: IntoIterator<Item = Name>,
            Name: AsRef<str>,
        {
            self.$field.set_allowed_sensitive_headers(names);
            self
        }
    };
    (@semconv $field:ident) => {
        /// Emits the old names of the conventions too (default: whether
        /// `OTEL_SEMCONV_STABILITY_OPT_IN` has this area's `/dup`).
        pub fn semconv_dup(mut self, dup: bool) -> Self {
            self.$field.set_semconv_dup(dup);
            self
        }
    };
    (@exceptions $field:ident) => {
        /// Where exceptions go: `exception` span events, log records, or
        /// both (default: from `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`).
        pub fn exception_signal(mut self, signal: $crate::config::ExceptionSignal) -> Self {
            self.$field.set_exception_signal(signal);
            self
        }
    };
}
