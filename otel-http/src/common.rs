//! Pieces both layers share: the providers a layer records with, and the
//! propagator it extracts and injects with.

use std::fmt;
use std::sync::Arc;

use otel_core::opentelemetry::global::{self, BoxedTracer};
use otel_core::opentelemetry::metrics::{Meter, MeterProvider};
use otel_core::opentelemetry::propagation::TextMapPropagator;
use otel_core::opentelemetry::trace::{Span, Tracer, TracerProvider};
use otel_core::opentelemetry::{Context, InstrumentationScope};
use otel_core::propagation::{HeaderExtractor, HeaderInjector};

/// The instrumentation scope name of every span and metric of this crate.
pub const SCOPE_NAME: &str = "otel-http";

pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(otel_core::semconv::SCHEMA_URL)
        .build()
}

pub(crate) fn global_tracer() -> BoxedTracer {
    global::tracer_with_scope(scope())
}

pub(crate) fn global_meter() -> Meter {
    global::meter_with_scope(scope())
}

pub(crate) fn provider_tracer<P>(provider: &P) -> BoxedTracer
where
    P: TracerProvider,
    P::Tracer: Tracer + Send + Sync + 'static,
    <P::Tracer as Tracer>::Span: Span + Send + Sync + 'static,
{
    BoxedTracer::new(Box::new(provider.tracer_with_scope(scope())))
}

pub(crate) fn provider_meter<P: MeterProvider>(provider: &P) -> Meter {
    provider.meter_with_scope(scope())
}

/// Which text-map propagator a layer uses.
#[derive(Clone, Default)]
pub(crate) enum Propagation {
    /// The global one (`opentelemetry::global::set_text_map_propagator`,
    /// installed by `otel_core::init`), read on each request.
    #[default]
    Global,
    /// A propagator given to the builder.
    Custom(Arc<dyn TextMapPropagator + Send + Sync>),
}

impl fmt::Debug for Propagation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Propagation::Global => f.write_str("Global"),
            Propagation::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Propagation {
    /// The current context plus what `headers` carry. Invalid input leaves
    /// the context unchanged (the propagators never panic on bad input).
    pub(crate) fn extract(&self, headers: &http::HeaderMap) -> Context {
        let extractor = HeaderExtractor(headers);
        Context::map_current(|cx| match self {
            Propagation::Global => {
                global::get_text_map_propagator(|p| p.extract_with_context(cx, &extractor))
            }
            Propagation::Custom(p) => p.extract_with_context(cx, &extractor),
        })
    }

    pub(crate) fn inject(&self, cx: &Context, headers: &mut http::HeaderMap) {
        let mut injector = HeaderInjector(headers);
        match self {
            Propagation::Global => {
                global::get_text_map_propagator(|p| p.inject_context(cx, &mut injector))
            }
            Propagation::Custom(p) => p.inject_context(cx, &mut injector),
        }
    }
}

/// The exception options of a builder: the signal and the logger provider,
/// each defaulting to what setup chose.
#[derive(Default)]
pub(crate) struct ExceptionOptions {
    pub signal: Option<otel_core::config::ExceptionSignal>,
    pub logger_provider: Option<otel_core::opentelemetry_sdk::logs::SdkLoggerProvider>,
}

impl ExceptionOptions {
    pub(crate) fn build(self) -> otel_core::instrument::ExceptionEvents {
        otel_core::instrument::ExceptionEvents::resolve(
            self.signal,
            self.logger_provider
                .as_ref()
                .map(|p| otel_core::instrument::ExceptionLoggerHandle::new(p, scope())),
            scope(),
        )
    }
}

/// Records a failed request or attempt on its span (when recording) and,
/// for an exception, as a log record when the signal asks for one (for
/// unsampled requests too).
pub(crate) fn record_failure(
    cx: &Context,
    recording: bool,
    error_type: &str,
    message: Option<String>,
    exception: bool,
    events: &otel_core::instrument::ExceptionEvents,
    event: otel_core::instrument::ExceptionEvent,
) {
    use otel_core::opentelemetry::trace::TraceContextExt as _;
    if recording || exception {
        otel_core::instrument::record_exception(
            &cx.span(),
            &otel_core::instrument::ErrorRecord {
                error_type: std::borrow::Cow::Borrowed(error_type),
                message: message.map(std::borrow::Cow::Owned),
                exception,
            },
            events,
            event,
        );
    }
}
