//! The options every instrumentation builder of the family embeds, and what
//! they resolve to when the layer is built.

use std::fmt;

use opentelemetry::logs::LoggerProvider;
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Tracer, TracerProvider};
use opentelemetry::{InstrumentationScope, global};

use super::exception::{ExceptionEvents, ExceptionLoggerHandle};
use super::headers::HeaderCapture;
use super::propagation::Propagation;
use super::span_start::SpanStarter;
use crate::config::{ExceptionSignal, semconv_stability};

/// Which `OTEL_SEMCONV_STABILITY_OPT_IN` area decides whether the old
/// names are emitted too (`http/dup`, `rpc/dup`, `messaging/dup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SemconvArea {
    /// `http` / `http/dup`.
    Http,
    /// `rpc` / `rpc/dup`.
    Rpc,
    /// `messaging` / `messaging/dup`.
    Messaging,
    /// No old names exist (the family's own conventions).
    None,
}

impl SemconvArea {
    fn emit_old(self) -> bool {
        let s = semconv_stability();
        match self {
            SemconvArea::Http => s.http.emit_old(),
            SemconvArea::Rpc => s.rpc.emit_old(),
            SemconvArea::Messaging => s.messaging.emit_old(),
            SemconvArea::None => false,
        }
    }
}

/// The options shared by every instrumentation builder of the family
/// (otel-kit-http, otel-kit-grpc, otel-kit-messaging, otel-kit-patterns, ...): providers,
/// propagator, header capture, semantic-convention opt-in and exception
/// signal. A builder embeds one and gets the same setters as every other
/// builder with [`instrumentation_setters!`](crate::instrumentation_setters).
///
/// Every option has a default read when the layer is built: the global
/// tracer, meter and logger providers and propagator (installed by
/// `otel_kit_core::init`), no headers captured, the old names per
/// `OTEL_SEMCONV_STABILITY_OPT_IN`, exceptions per
/// `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`.
///
/// Providers are API types: any `TracerProvider`, `MeterProvider` or
/// `LoggerProvider` (the SDK's, a test capture's, a no-op one).
///
/// ```
/// use otel_kit_core::instrument::{Options, SemconvArea, scope};
///
/// let mut options = Options::new(scope("my-layer", "0.1.0"));
/// options.set_request_headers(["x-tenant", "authorization"]);
/// let resolved = options.resolve(SemconvArea::Http, "http.request.header.", "http.response.header.");
/// // Credentials are refused unless allowed explicitly.
/// assert!(!resolved.request_headers.is_empty());
/// ```
#[derive(Clone)]
pub struct Options {
    scope: InstrumentationScope,
    tracer: Option<SpanStarter>,
    meter: Option<Meter>,
    logger: Option<ExceptionLoggerHandle>,
    propagation: Propagation,
    request_headers: Vec<String>,
    response_headers: Vec<String>,
    allowed_sensitive: Vec<String>,
    semconv_dup: Option<bool>,
    exception_signal: Option<ExceptionSignal>,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("scope", &self.scope.name())
            .field("tracer_provider", &self.tracer.is_some())
            .field("meter_provider", &self.meter.is_some())
            .field("logger_provider", &self.logger.is_some())
            .field("propagation", &self.propagation)
            .field("request_headers", &self.request_headers)
            .field("response_headers", &self.response_headers)
            .field("allowed_sensitive", &self.allowed_sensitive)
            .field("semconv_dup", &self.semconv_dup)
            .field("exception_signal", &self.exception_signal)
            .finish()
    }
}

/// [`Options`] with every default filled in, as a layer keeps them.
#[derive(Clone, Debug)]
pub struct ResolvedOptions {
    /// The instrumentation scope.
    pub scope: InstrumentationScope,
    /// Starts the layer's spans.
    pub tracer: SpanStarter,
    /// The layer's meter.
    pub meter: Meter,
    /// Extraction and injection.
    pub propagation: Propagation,
    /// Request (or message) headers recorded as attributes.
    pub request_headers: HeaderCapture,
    /// Response headers recorded as attributes.
    pub response_headers: HeaderCapture,
    /// Whether the old names of the area are emitted too.
    pub semconv_dup: bool,
    /// Where exceptions are recorded.
    pub exceptions: ExceptionEvents,
}

impl Options {
    /// Defaults for the instrumentation `scope` (see [`scope`](super::scope)).
    pub fn new(scope: InstrumentationScope) -> Self {
        Options {
            scope,
            tracer: None,
            meter: None,
            logger: None,
            propagation: Propagation::Global,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            allowed_sensitive: Vec::new(),
            semconv_dup: None,
            exception_signal: None,
        }
    }

    /// The instrumentation scope.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.scope
    }

    /// Spans go to `provider` instead of the global tracer provider.
    pub fn set_tracer_provider<P>(&mut self, provider: &P)
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        self.tracer = Some(SpanStarter::new(provider, self.scope.clone()));
    }

    /// Metrics go to `provider` instead of the global meter provider.
    pub fn set_meter_provider<P: MeterProvider + ?Sized>(&mut self, provider: &P) {
        self.meter = Some(provider.meter_with_scope(self.scope.clone()));
    }

    /// Exception log records go to `provider` instead of the logger
    /// provider `otel_kit_core::init` installed.
    pub fn set_logger_provider<P>(&mut self, provider: &P)
    where
        P: LoggerProvider,
        P::Logger: Send + Sync + 'static,
    {
        self.logger = Some(ExceptionLoggerHandle::new(provider, self.scope.clone()));
    }

    /// Extracts and injects with `propagator` instead of the global one.
    pub fn set_propagator(&mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) {
        self.propagation = Propagation::given(propagator);
    }

    /// The request (or message) headers recorded as attributes.
    pub fn set_request_headers<I, S>(&mut self, names: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.request_headers = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
    }

    /// The response headers recorded as attributes.
    pub fn set_response_headers<I, S>(&mut self, names: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.response_headers = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
    }

    /// Sensitive headers ([`SENSITIVE_HEADERS`](super::SENSITIVE_HEADERS))
    /// that may be recorded when a capture list names them.
    pub fn set_allowed_sensitive_headers<I, S>(&mut self, names: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allowed_sensitive = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
    }

    /// Whether the old names are emitted too (default: the area's
    /// `OTEL_SEMCONV_STABILITY_OPT_IN`).
    pub fn set_semconv_dup(&mut self, dup: bool) {
        self.semconv_dup = Some(dup);
    }

    /// Where exceptions go (default: `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`).
    pub fn set_exception_signal(&mut self, signal: ExceptionSignal) {
        self.exception_signal = Some(signal);
    }

    /// Fills in the defaults (global providers are read now). `area` picks
    /// the stability opt-in; the prefixes name captured headers
    /// (`http.request.header.`, `rpc.request.metadata.`, `messaging.header.`).
    pub fn resolve(
        self,
        area: SemconvArea,
        request_prefix: &str,
        response_prefix: &str,
    ) -> ResolvedOptions {
        let scope = self.scope;
        ResolvedOptions {
            tracer: self
                .tracer
                .unwrap_or_else(|| SpanStarter::global(scope.clone())),
            meter: self
                .meter
                .unwrap_or_else(|| global::meter_provider().meter_with_scope(scope.clone())),
            propagation: self.propagation,
            request_headers: HeaderCapture::with_allowed(
                request_prefix,
                &self.request_headers,
                &self.allowed_sensitive,
            ),
            response_headers: HeaderCapture::with_allowed(
                response_prefix,
                &self.response_headers,
                &self.allowed_sensitive,
            ),
            semconv_dup: self.semconv_dup.unwrap_or_else(|| area.emit_old()),
            exceptions: ExceptionEvents::resolve(self.exception_signal, self.logger, scope.clone()),
            scope,
        }
    }
}
