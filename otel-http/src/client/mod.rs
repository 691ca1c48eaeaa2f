//! The client middleware: a CLIENT span per physical attempt, the context
//! injected into the request, `http.client.request.duration`.
//!
//! One implementation serves two front ends: [`ClientLayer`], a tower layer
//! for `hyper-util`'s client (or any tower HTTP client service), and
//! (feature `reqwest`) [`TracingMiddleware`] for `reqwest-middleware`.
//!
//! - Span name: `{method}`, or `{method} {template}` when the request carries
//!   a [`UrlTemplate`] extension (also recorded as `url.template`).
//! - The span starts before the request is handed to the inner client and
//!   **ends when the response head has been received** (or the attempt
//!   failed); the body is not waited for. A dropped (cancelled) attempt ends
//!   the span without an error.
//! - Status: 4xx and 5xx are errors (4xx configurable with
//!   [`ClientLayerBuilder::error_on_4xx`]); `error.type` is the status code,
//!   or for transport errors the error's type (`std::any::type_name`; for
//!   reqwest a component: `timeout`, `connect`, `redirect`, `body`,
//!   `decode`, `request`, else `reqwest::Error`).
//! - Each call through the middleware is an attempt: a retry layer above it
//!   sets [`ResendCount`](otel_core::instrument::ResendCount) and the span
//!   gets `http.request.resend_count`; with `reqwest-middleware`, attempts
//!   sharing the same `Extensions` (its retry middleware) are counted
//!   without help. Redirects followed inside reqwest itself are not visible
//!   to any middleware: they stay inside one attempt.
//! - `url.full` has userinfo and the sensitive query values redacted; header
//!   capture refuses credentials unless explicitly allowed.
//! - Propagation: trace headers, baggage and forwarded mesh headers are
//!   injected unless the request has a [`NoPropagation`] extension or its
//!   host is outside the [`propagate_to`](ClientLayerBuilder::propagate_to)
//!   allow-list.

mod attempt;
mod layer;
#[cfg(feature = "reqwest")]
mod reqwest;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use otel_core::config::ExceptionSignal;
use otel_core::instrument::{DURATION_BUCKETS, ExceptionEvents, HeaderCapture};
use otel_core::opentelemetry::global::BoxedTracer;
use otel_core::opentelemetry::metrics::{Histogram, Meter, MeterProvider, UpDownCounter};
use otel_core::opentelemetry::propagation::TextMapPropagator;
use otel_core::opentelemetry::trace::{Span, Tracer, TracerProvider};
use otel_core::opentelemetry_sdk::logs::SdkLoggerProvider;
use otel_core::propagation::HostAllowList;
use otel_core::semconv::metric as scm;

pub use layer::{ClientLayer, ClientService, ResponseFuture};
#[cfg(feature = "reqwest")]
pub use reqwest::TracingMiddleware;

use crate::attributes::{KnownMethods, old};
use crate::common::{
    ExceptionOptions, Propagation, global_meter, global_tracer, provider_meter, provider_tracer,
};
use crate::redact::Redactor;

/// Request extension: do not inject any context into this request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoPropagation;

/// Request extension: the URL template of this request (`/users/{id}`),
/// used for the span name and recorded as `url.template`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate(pub Cow<'static, str>);

pub(crate) struct ClientMetrics {
    pub duration: Histogram<f64>,
    pub request_size: Option<Histogram<u64>>,
    pub response_size: Option<Histogram<u64>>,
    pub old_duration: Option<Histogram<f64>>,
    pub active: Option<UpDownCounter<i64>>,
}

pub(crate) struct ClientConfig {
    pub tracer: BoxedTracer,
    pub metrics: Option<ClientMetrics>,
    pub propagation: Propagation,
    pub propagate_to: Option<HostAllowList>,
    pub request_headers: HeaderCapture,
    pub response_headers: HeaderCapture,
    pub known_methods: KnownMethods,
    pub redactor: Redactor,
    pub error_on_4xx: bool,
    pub dup: bool,
    pub exceptions: ExceptionEvents,
}

impl ClientConfig {
    /// Whether context may be sent to `host`; `None` (a request whose
    /// destination is unknown: no authority in the URI and no `Host`
    /// header) only when no allow-list is configured.
    pub(crate) fn may_propagate_to(&self, host: Option<&str>) -> bool {
        match host {
            Some(host) => self.may_propagate(host),
            None => self.propagate_to.is_none(),
        }
    }

    /// Whether context may be sent to `host`.
    pub(crate) fn may_propagate(&self, host: &str) -> bool {
        self.propagate_to
            .as_ref()
            .is_none_or(|list| list.allows(host))
    }
}

/// The options of the client instrumentation, shared by [`ClientLayer`] and
/// `TracingMiddleware`.
pub struct ClientLayerBuilder {
    tracer: Option<BoxedTracer>,
    meter: Option<Meter>,
    metrics: bool,
    body_sizes: bool,
    active_requests: bool,
    propagation: Propagation,
    propagate_to: Option<HostAllowList>,
    request_headers: HeaderCapture,
    response_headers: HeaderCapture,
    known_methods: Option<KnownMethods>,
    redactor: Redactor,
    error_on_4xx: bool,
    dup: Option<bool>,
    exceptions: ExceptionOptions,
}

impl Default for ClientLayerBuilder {
    fn default() -> Self {
        ClientLayerBuilder {
            tracer: None,
            meter: None,
            metrics: true,
            body_sizes: false,
            active_requests: false,
            propagation: Propagation::Global,
            propagate_to: None,
            request_headers: HeaderCapture::default(),
            response_headers: HeaderCapture::default(),
            known_methods: None,
            redactor: Redactor::default(),
            error_on_4xx: true,
            dup: None,
            exceptions: ExceptionOptions::default(),
        }
    }
}

impl fmt::Debug for ClientLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientLayerBuilder").finish_non_exhaustive()
    }
}

impl ClientLayerBuilder {
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

    /// Injects with this propagator instead of the global one.
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

    /// Also records the opt-in `http.client.request.body.size` and
    /// `http.client.response.body.size` histograms (from `Content-Length`).
    pub fn body_size_metrics(mut self, on: bool) -> Self {
        self.body_sizes = on;
        self
    }

    /// Records the opt-in `http.client.active_requests` up-down counter
    /// (default: off), with `http.request.method`, `server.address`,
    /// `server.port` and `url.template` when known.
    pub fn active_requests(mut self, on: bool) -> Self {
        self.active_requests = on;
        self
    }

    /// Sends context (trace headers, baggage, mesh headers) only to these
    /// hosts: exact names (case-insensitive) or `*.suffix` wildcards.
    pub fn propagate_to<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.propagate_to = Some(HostAllowList::new(
            hosts.into_iter().map(Into::<String>::into),
        ));
        self
    }

    /// Captures these request headers as `http.request.header.<name>`
    /// (credentials refused).
    pub fn capture_request_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.request_headers = HeaderCapture::new("http.request.header.", names);
        self
    }

    /// Captures these response headers as `http.response.header.<name>`
    /// (credentials refused).
    pub fn capture_response_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.response_headers = HeaderCapture::new("http.response.header.", names);
        self
    }

    /// Explicitly captures sensitive request headers (`Authorization`, …)
    /// too.
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

    /// The methods recorded as themselves.
    pub fn known_methods(mut self, methods: KnownMethods) -> Self {
        self.known_methods = Some(methods);
        self
    }

    /// The query keys redacted from `url.full`.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Whether a 4xx response marks the span as an error (default: on).
    pub fn error_on_4xx(mut self, on: bool) -> Self {
        self.error_on_4xx = on;
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

    fn config(self) -> Arc<ClientConfig> {
        let dup = self
            .dup
            .unwrap_or_else(|| otel_core::config::semconv_stability().http.emit_old());
        let metrics = self.metrics.then(|| {
            let meter = self.meter.unwrap_or_else(global_meter);
            let size = |name: &'static str, desc: &'static str| {
                meter
                    .u64_histogram(name)
                    .with_unit("By")
                    .with_description(desc)
                    .build()
            };
            ClientMetrics {
                duration: meter
                    .f64_histogram(scm::HTTP_CLIENT_REQUEST_DURATION)
                    .with_unit("s")
                    .with_description("Duration of HTTP client requests.")
                    .with_boundaries(DURATION_BUCKETS.to_vec())
                    .build(),
                request_size: self.body_sizes.then(|| {
                    size(
                        scm::HTTP_CLIENT_REQUEST_BODY_SIZE,
                        "Size of HTTP client request bodies.",
                    )
                }),
                response_size: self.body_sizes.then(|| {
                    size(
                        scm::HTTP_CLIENT_RESPONSE_BODY_SIZE,
                        "Size of HTTP client response bodies.",
                    )
                }),
                active: self.active_requests.then(|| {
                    meter
                        .i64_up_down_counter(scm::HTTP_CLIENT_ACTIVE_REQUESTS)
                        .with_unit("{request}")
                        .with_description("Number of active HTTP requests.")
                        .build()
                }),
                old_duration: dup.then(|| {
                    meter
                        .f64_histogram(old::HTTP_CLIENT_DURATION)
                        .with_unit("ms")
                        .with_description("Duration of HTTP client requests (old convention).")
                        .with_boundaries(DURATION_BUCKETS.iter().map(|b| b * 1000.0).collect())
                        .build()
                }),
            }
        });
        Arc::new(ClientConfig {
            tracer: self.tracer.unwrap_or_else(global_tracer),
            metrics,
            propagation: self.propagation,
            propagate_to: self.propagate_to,
            request_headers: self.request_headers,
            response_headers: self.response_headers,
            known_methods: self.known_methods.unwrap_or_else(KnownMethods::from_env),
            redactor: self.redactor,
            error_on_4xx: self.error_on_4xx,
            dup,
            exceptions: self.exceptions.build(),
        })
    }

    /// Builds the tower layer.
    pub fn build(self) -> ClientLayer {
        ClientLayer::from_config(self.config())
    }

    /// Builds the `reqwest-middleware` middleware.
    #[cfg(feature = "reqwest")]
    pub fn build_middleware(self) -> TracingMiddleware {
        TracingMiddleware::from_config(self.config())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn allow_list_matching() {
        let config = super::ClientLayerBuilder::default()
            .propagate_to(["api.local", "*.svc.cluster.local"])
            .config();
        assert!(config.may_propagate("api.local"));
        assert!(config.may_propagate("API.local"));
        assert!(config.may_propagate("users.svc.cluster.local"));
        assert!(!config.may_propagate("svc.cluster.local"));
        assert!(!config.may_propagate("evilsvc.cluster.local"));
        assert!(!config.may_propagate("example.com"));
        // Host names are case-insensitive, wildcard suffixes included.
        assert!(config.may_propagate("Users.SVC.Cluster.Local"));
        assert!(!config.may_propagate("EVILsvc.cluster.local"));
        // A non-ASCII host never matches by accident (and never panics).
        assert!(!config.may_propagate("é.svc.cluster.local.x"));
        assert!(!config.may_propagate("éé"));
        // An unknown destination gets nothing once an allow-list exists.
        assert!(!config.may_propagate_to(None));
        let open = super::ClientLayerBuilder::default().config();
        assert!(open.may_propagate_to(None));
        assert!(open.may_propagate_to(Some("example.com")));
    }
}
