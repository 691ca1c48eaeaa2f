use std::fmt;

use http::request::Parts;
use otel_kit_core::instrument::{Filter, Options, SemconvArea};
use otel_kit_core::opentelemetry::KeyValue;

use super::config::{DecideFn, LabelFn, ServerConfig, SpanNameFn};
use super::layer::ServerLayer;
use super::metrics::ServerMetrics;
use super::stream_policy::StreamPolicy;
use crate::attributes::KnownMethods;
use crate::redact::Redactor;

/// Options of a [`ServerLayer`].
///
/// The options every builder of the family shares (providers, propagator,
/// header capture, `semconv_dup`, `exception_signal`) come from
/// `otel_kit_core::instrumentation_setters!`; the others are HTTP server
/// options.
///
/// ```
/// use otel_kit_http::filter::{health_check, not};
/// use otel_kit_http::server::ServerLayer;
///
/// let layer = ServerLayer::builder()
///     .filter(not(health_check()))
///     .capture_request_headers(["x-tenant"])
///     .public_endpoint(false)
///     .trace_response(true)
///     .build();
/// # drop(layer);
/// ```
pub struct ServerLayerBuilder {
    options: Options,
    metrics: bool,
    active_requests: bool,
    body_sizes: bool,
    filter: Option<Box<dyn Filter<Parts>>>,
    public_endpoint: Option<Box<DecideFn>>,
    span_name: Option<Box<SpanNameFn>>,
    span_labeler: Option<Box<LabelFn>>,
    metric_labeler: Option<Box<LabelFn>>,
    known_methods: Option<KnownMethods>,
    redactor: Redactor,
    trace_response: bool,
    catch_panic: bool,
    sampling_attributes: bool,
    metric_server_address: bool,
    stream_policy: Option<StreamPolicy>,
}

impl Default for ServerLayerBuilder {
    fn default() -> Self {
        ServerLayerBuilder {
            options: crate::scope::options(),
            metrics: true,
            active_requests: true,
            body_sizes: false,
            filter: None,
            public_endpoint: None,
            span_name: None,
            span_labeler: None,
            metric_labeler: None,
            known_methods: None,
            redactor: Redactor::default(),
            trace_response: false,
            catch_panic: true,
            sampling_attributes: false,
            metric_server_address: false,
            stream_policy: None,
        }
    }
}

impl fmt::Debug for ServerLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerLayerBuilder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ServerLayerBuilder {
    otel_kit_core::instrumentation_setters!(options: providers, propagator, headers, semconv, exceptions);

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

    /// Public-endpoint mode for every request (`true`): the span is a new
    /// root, linked to the incoming span context instead of being its
    /// child (default: off). See [`public_endpoint_fn`](Self::public_endpoint_fn)
    /// to decide per request.
    pub fn public_endpoint(mut self, on: bool) -> Self {
        self.public_endpoint = on.then(|| Box::new(|_: &Parts| true) as Box<DecideFn>);
        self
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

    /// Ends the span of a long streamed response (server-sent events) at a
    /// maximum duration or frame count while the stream goes on, and
    /// records the rest in a summary span (see [`StreamPolicy`]). Default:
    /// none, the span lasts as long as the response body.
    pub fn stream_policy(mut self, policy: StreamPolicy) -> Self {
        self.stream_policy = Some(policy);
        self
    }

    /// Builds the layer. Providers not given are the global ones, read now.
    pub fn build(self) -> ServerLayer {
        let shared = self.options.resolve(
            SemconvArea::Http,
            "http.request.header.",
            "http.response.header.",
        );
        let metrics = self.metrics.then(|| {
            ServerMetrics::new(
                &shared.meter,
                self.active_requests,
                self.body_sizes,
                shared.semconv_dup,
            )
        });
        ServerLayer::from_config(ServerConfig {
            tracer: shared.tracer,
            metrics,
            propagation: shared.propagation,
            filter: self.filter,
            public_endpoint: self.public_endpoint,
            span_name: self.span_name,
            span_labeler: self.span_labeler,
            metric_labeler: self.metric_labeler,
            request_headers: shared.request_headers,
            response_headers: shared.response_headers,
            known_methods: self.known_methods.unwrap_or_else(KnownMethods::from_env),
            redactor: self.redactor,
            trace_response: self.trace_response,
            catch_panic: self.catch_panic,
            dup: shared.semconv_dup,
            sampling_attributes: self.sampling_attributes,
            metric_server_address: self.metric_server_address,
            exceptions: shared.exceptions,
            stream_policy: self.stream_policy,
        })
    }
}
