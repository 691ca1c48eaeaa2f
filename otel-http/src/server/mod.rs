//! The server middleware: a SERVER span and the server metrics per request.
//!
//! [`ServerLayer`] wraps any tower HTTP service (an axum `Router` through
//! `Router::layer`, a hyper service through `tower::ServiceBuilder`). For each
//! request it:
//!
//! 1. runs the filter; a filtered request gets neither span nor metrics, but
//!    the incoming context (trace, baggage, mesh headers) is still extracted
//!    and attached so calls made while handling it propagate it;
//! 2. extracts the remote context with the configured propagator (the global
//!    one by default) and starts a SERVER span named `{method} {route}`
//!    (`{method}` alone when no route template is known, never the raw path),
//!    or, in public-endpoint mode, a new root span linked to the remote one;
//! 3. builds the optional attributes only when the span is recording;
//! 4. calls the inner service with the span's context attached (in `call`
//!    and on every poll), catching a panic (a 500 response, configurable);
//! 5. ends the span and records `http.server.request.duration` when the
//!    response body has been fully sent, failed, or was dropped.
//!
//! `error.type` values this layer emits: the status code (`"500"`) for a 5xx
//! response, `panic` for a caught panic, the inner service's error type name
//! (`std::any::type_name`) when it returns an error, and the body error's
//! type name when the response body fails (see [`ResponseBody`]).
//!
//! The route template comes from axum's `MatchedPath` (feature `axum`; apply
//! the layer with `Router::layer` so routing has happened, nested routers
//! included) or from an [`HttpRoute`] request extension set by any other
//! router.

mod body;
mod future;
mod names;
mod service;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::request::Parts;
use otel_core::config::ExceptionSignal;
use otel_core::instrument::{
    BoundCache, DURATION_BUCKETS, ExceptionEvents, Filter, HeaderCapture, StaticKey,
};
use otel_core::opentelemetry::KeyValue;
use otel_core::opentelemetry::global::BoxedTracer;
use otel_core::opentelemetry::metrics::{
    BoundHistogram, BoundUpDownCounter, Histogram, Meter, MeterProvider, UpDownCounter,
};
use otel_core::opentelemetry::propagation::TextMapPropagator;
use otel_core::opentelemetry::trace::{Span, Tracer, TracerProvider};
use otel_core::opentelemetry_sdk::logs::SdkLoggerProvider;
use otel_core::semconv::metric as scm;
use tower::Layer;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use service::ServerService;
pub(crate) use service::content_length;

use crate::attributes::{KnownMethods, old};
use crate::common::{
    ExceptionOptions, Propagation, global_meter, global_tracer, provider_meter, provider_tracer,
};
use crate::redact::Redactor;

/// The route template of a request (`/users/{id}`), as a request extension,
/// for routers other than axum: set it before the server layer runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRoute(pub Cow<'static, str>);

/// The socket address of the peer, as a request extension, for servers
/// other than axum (axum's `ConnectInfo<SocketAddr>` is read with feature
/// `axum`): `network.peer.address` / `network.peer.port`, and the fallback of
/// `client.address`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

type SpanNameFn = dyn Fn(&Parts, Option<&str>) -> String + Send + Sync;
type LabelFn = dyn Fn(&Parts) -> Vec<KeyValue> + Send + Sync;
type DecideFn = dyn Fn(&Parts) -> bool + Send + Sync;

/// How many attribute sets each server instrument binds (routes × methods ×
/// status codes of a typical service fit; more sets are recorded unbound).
const BOUND_SETS: usize = 2048;

/// The attribute set of a bound `http.server.active_requests`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ActiveKey {
    pub method: StaticKey,
    pub scheme: StaticKey,
}

/// The attribute set of a bound `http.server.request.duration`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DurationKey {
    pub active: ActiveKey,
    pub route: Option<StaticKey>,
    pub status: Option<u16>,
    pub error_type: Option<StaticKey>,
    pub version: Option<StaticKey>,
}

pub(crate) struct ServerMetrics {
    pub duration: Histogram<f64>,
    /// `duration` bound per attribute set, for the sets made only of static
    /// strings and the status code (no opt-in address, no labeler).
    pub duration_bound: BoundCache<DurationKey, BoundHistogram<f64>>,
    pub active: Option<UpDownCounter<i64>>,
    /// `active` bound per (method, scheme).
    pub active_bound: BoundCache<ActiveKey, BoundUpDownCounter<i64>>,
    pub request_size: Option<Histogram<u64>>,
    pub response_size: Option<Histogram<u64>>,
    /// `http.server.duration` in milliseconds, with `http/dup`.
    pub old_duration: Option<Histogram<f64>>,
}

impl ServerMetrics {
    fn new(meter: &Meter, active: bool, sizes: bool, dup: bool) -> Self {
        let size = |name: &'static str, desc: &'static str| {
            meter
                .u64_histogram(name)
                .with_unit("By")
                .with_description(desc)
                .build()
        };
        ServerMetrics {
            duration: meter
                .f64_histogram(scm::HTTP_SERVER_REQUEST_DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP server requests.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            duration_bound: BoundCache::new(BOUND_SETS),
            active_bound: BoundCache::new(BOUND_SETS),
            active: active.then(|| {
                meter
                    .i64_up_down_counter(scm::HTTP_SERVER_ACTIVE_REQUESTS)
                    .with_unit("{request}")
                    .with_description("Number of active HTTP server requests.")
                    .build()
            }),
            request_size: sizes.then(|| {
                size(
                    scm::HTTP_SERVER_REQUEST_BODY_SIZE,
                    "Size of HTTP server request bodies.",
                )
            }),
            response_size: sizes.then(|| {
                size(
                    scm::HTTP_SERVER_RESPONSE_BODY_SIZE,
                    "Size of HTTP server response bodies.",
                )
            }),
            old_duration: dup.then(|| {
                meter
                    .f64_histogram(old::HTTP_SERVER_DURATION)
                    .with_unit("ms")
                    .with_description("Duration of HTTP server requests (old convention).")
                    .with_boundaries(DURATION_BUCKETS.iter().map(|b| b * 1000.0).collect())
                    .build()
            }),
        }
    }
}

pub(crate) struct ServerConfig {
    pub tracer: BoxedTracer,
    pub metrics: Option<ServerMetrics>,
    pub propagation: Propagation,
    pub filter: Option<Box<dyn Filter<Parts>>>,
    pub public_endpoint: Option<Box<DecideFn>>,
    pub span_name: Option<Box<SpanNameFn>>,
    pub span_labeler: Option<Box<LabelFn>>,
    pub metric_labeler: Option<Box<LabelFn>>,
    pub request_headers: HeaderCapture,
    pub response_headers: HeaderCapture,
    pub known_methods: KnownMethods,
    pub redactor: Redactor,
    pub trace_response: bool,
    pub catch_panic: bool,
    pub dup: bool,
    pub sampling_attributes: bool,
    pub metric_server_address: bool,
    pub exceptions: ExceptionEvents,
}

/// A tower [`Layer`] adding a SERVER span and the server metrics to an HTTP
/// service. Build it with [`ServerLayer::builder`]; [`ServerLayer::new`] uses
/// the global providers and propagator with the default options.
///
/// ```
/// use axum::{Router, routing::get};
/// use otel_http::server::ServerLayer;
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "alice" }))
///     .layer(ServerLayer::new());
/// ```
#[derive(Clone)]
pub struct ServerLayer {
    config: Arc<ServerConfig>,
}

impl fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerLayer").finish_non_exhaustive()
    }
}

impl Default for ServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerLayer {
    /// The layer with the default options and the global providers.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for the options.
    pub fn builder() -> ServerLayerBuilder {
        ServerLayerBuilder::default()
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerService::new(inner, Arc::clone(&self.config))
    }
}

/// Options of a [`ServerLayer`].
pub struct ServerLayerBuilder {
    tracer: Option<BoxedTracer>,
    meter: Option<Meter>,
    metrics: bool,
    active_requests: bool,
    body_sizes: bool,
    propagation: Propagation,
    filter: Option<Box<dyn Filter<Parts>>>,
    public_endpoint: Option<Box<DecideFn>>,
    span_name: Option<Box<SpanNameFn>>,
    span_labeler: Option<Box<LabelFn>>,
    metric_labeler: Option<Box<LabelFn>>,
    request_headers: HeaderCapture,
    response_headers: HeaderCapture,
    known_methods: Option<KnownMethods>,
    redactor: Redactor,
    trace_response: bool,
    catch_panic: bool,
    dup: Option<bool>,
    sampling_attributes: bool,
    metric_server_address: bool,
    exceptions: ExceptionOptions,
}

impl Default for ServerLayerBuilder {
    fn default() -> Self {
        ServerLayerBuilder {
            tracer: None,
            meter: None,
            metrics: true,
            active_requests: true,
            body_sizes: false,
            propagation: Propagation::Global,
            filter: None,
            public_endpoint: None,
            span_name: None,
            span_labeler: None,
            metric_labeler: None,
            request_headers: HeaderCapture::default(),
            response_headers: HeaderCapture::default(),
            known_methods: None,
            redactor: Redactor::default(),
            trace_response: false,
            catch_panic: true,
            dup: None,
            sampling_attributes: false,
            metric_server_address: false,
            exceptions: ExceptionOptions::default(),
        }
    }
}

impl fmt::Debug for ServerLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerLayerBuilder").finish_non_exhaustive()
    }
}

impl ServerLayerBuilder {
    /// Records spans with this provider instead of the global one.
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Tracer + Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Span + Send + Sync + 'static,
    {
        self.tracer = Some(provider_tracer(provider));
        self
    }

    /// Records metrics with this provider instead of the global one.
    pub fn meter_provider<P: MeterProvider>(mut self, provider: &P) -> Self {
        self.meter = Some(provider_meter(provider));
        self
    }

    /// Extracts the incoming context with this propagator instead of the
    /// global one (the global one is read on each request; a given one
    /// avoids that read).
    pub fn propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.propagation = Propagation::Custom(Arc::new(propagator));
        self
    }

    /// Whether metrics are recorded (default: on).
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Whether `http.server.active_requests` is recorded (default: on; the
    /// conventions rate it opt-in; off saves two measurements per request).
    pub fn active_requests(mut self, on: bool) -> Self {
        self.active_requests = on;
        self
    }

    /// Also records the opt-in `http.server.request.body.size` (from
    /// `Content-Length`) and `http.server.response.body.size` (bytes sent)
    /// histograms, and the matching span attributes.
    pub fn body_size_metrics(mut self, on: bool) -> Self {
        self.body_sizes = on;
        self
    }

    /// Only requests `filter` passes are instrumented; the others still get
    /// the incoming context attached. See [`crate::filter`].
    pub fn filter(mut self, filter: impl Filter<Parts> + 'static) -> Self {
        self.filter = Some(Box::new(filter));
        self
    }

    /// Public-endpoint mode for every request: the span is a new root,
    /// linked to the incoming span context instead of being its child.
    pub fn public_endpoint(self) -> Self {
        self.public_endpoint_fn(|_| true)
    }

    /// Public-endpoint mode decided per request (`true` = new linked root).
    pub fn public_endpoint_fn(
        mut self,
        decide: impl Fn(&Parts) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.public_endpoint = Some(Box::new(decide));
        self
    }

    /// Names spans with `format(request head, route template)` instead of
    /// `{method} {route}`. Never return the raw path: it is high-cardinality.
    pub fn span_name(
        mut self,
        format: impl Fn(&Parts, Option<&str>) -> String + Send + Sync + 'static,
    ) -> Self {
        self.span_name = Some(Box::new(format));
        self
    }

    /// Extra span attributes from the request (called only for recording
    /// spans).
    pub fn span_attributes(
        mut self,
        labeler: impl Fn(&Parts) -> Vec<KeyValue> + Send + Sync + 'static,
    ) -> Self {
        self.span_labeler = Some(Box::new(labeler));
        self
    }

    /// Extra attributes of the duration and size metrics from the request
    /// (keep them low-cardinality).
    pub fn metric_attributes(
        mut self,
        labeler: impl Fn(&Parts) -> Vec<KeyValue> + Send + Sync + 'static,
    ) -> Self {
        self.metric_labeler = Some(Box::new(labeler));
        self
    }

    /// Captures these request headers as `http.request.header.<name>`
    /// (string arrays). Credentials (`Authorization`, `Cookie`, …) are
    /// refused; see [`capture_sensitive_request_headers`](Self::capture_sensitive_request_headers).
    pub fn capture_request_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.request_headers = HeaderCapture::new("http.request.header.", names);
        self
    }

    /// Explicitly captures sensitive request headers too (credentials end up
    /// in your telemetry: think twice).
    pub fn capture_sensitive_request_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.request_headers = self
            .request_headers
            .allow_sensitive("http.request.header.", names);
        self
    }

    /// Captures these response headers as `http.response.header.<name>`
    /// (`Set-Cookie` and other credentials refused).
    pub fn capture_response_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.response_headers = HeaderCapture::new("http.response.header.", names);
        self
    }

    /// The methods recorded as themselves (default: the conventions' list,
    /// or `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`).
    pub fn known_methods(mut self, methods: KnownMethods) -> Self {
        self.known_methods = Some(methods);
        self
    }

    /// The query keys redacted from `url.query`.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Adds a `traceresponse` header (`00-{trace id}-{span id}-{flags}`) to
    /// responses of traced requests (default: off).
    pub fn trace_response(mut self, on: bool) -> Self {
        self.trace_response = on;
        self
    }

    /// Whether a panic in the inner service is caught and turned into a 500
    /// response (default: on). Off: the panic unwinds; the span still ends.
    pub fn catch_panic(mut self, on: bool) -> Self {
        self.catch_panic = on;
        self
    }

    /// Emits the old attribute names too (default: from
    /// `OTEL_SEMCONV_STABILITY_OPT_IN=http/dup`).
    pub fn emit_old_names(mut self, on: bool) -> Self {
        self.dup = Some(on);
        self
    }

    /// Emits exceptions (a panic, a body or transport error) as log records
    /// through this provider when the exception signal includes logs
    /// (default: the provider `otel_core::init` installed).
    pub fn logger_provider(mut self, provider: &SdkLoggerProvider) -> Self {
        self.exceptions.logger_provider = Some(provider.clone());
        self
    }

    /// Where exceptions go: `exception` span events, log records, or both
    /// (default: from `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`).
    pub fn exception_signal(mut self, signal: ExceptionSignal) -> Self {
        self.exceptions.signal = Some(signal);
        self
    }

    /// Passes every creation-time attribute of the conventions to the
    /// sampler (default: off: the sampler sees the span name, which holds
    /// the method and route, plus `http.request.method` and `url.scheme`;
    /// the rest is set right after the span starts, and only when it is
    /// recording, so an unsampled request builds none of it).
    pub fn sampling_attributes(mut self, on: bool) -> Self {
        self.sampling_attributes = on;
        self
    }

    /// Adds the opt-in `server.address` / `server.port` to the metrics
    /// (they come from request headers: a cardinality risk).
    pub fn metric_server_address(mut self, on: bool) -> Self {
        self.metric_server_address = on;
        self
    }

    /// Builds the layer. Providers not given are the global ones, read now.
    pub fn build(self) -> ServerLayer {
        let dup = self
            .dup
            .unwrap_or_else(|| otel_core::config::semconv_stability().http.emit_old());
        let metrics = self.metrics.then(|| {
            let meter = self.meter.unwrap_or_else(global_meter);
            ServerMetrics::new(&meter, self.active_requests, self.body_sizes, dup)
        });
        ServerLayer {
            config: Arc::new(ServerConfig {
                tracer: self.tracer.unwrap_or_else(global_tracer),
                metrics,
                propagation: self.propagation,
                filter: self.filter,
                public_endpoint: self.public_endpoint,
                span_name: self.span_name,
                span_labeler: self.span_labeler,
                metric_labeler: self.metric_labeler,
                request_headers: self.request_headers,
                response_headers: self.response_headers,
                known_methods: self.known_methods.unwrap_or_else(KnownMethods::from_env),
                redactor: self.redactor,
                trace_response: self.trace_response,
                catch_panic: self.catch_panic,
                dup,
                sampling_attributes: self.sampling_attributes,
                metric_server_address: self.metric_server_address,
                exceptions: self.exceptions.build(),
            }),
        }
    }
}
