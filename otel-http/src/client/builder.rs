use std::fmt;
use std::sync::Arc;

use otel_kit_core::instrument::{Options, SemconvArea, old_duration_histogram_ms};
use otel_kit_core::propagation::HostAllowList;
use otel_kit_core::semconv::metric as scm;

#[cfg(feature = "reqwest")]
use super::TracingMiddleware;
use super::config::{ClientConfig, ClientMetrics};
use super::layer::ClientLayer;
use crate::attributes::{KnownMethods, old};
use crate::redact::Redactor;

/// The options of the client instrumentation, shared by [`ClientLayer`] and
/// `TracingMiddleware`.
///
/// The options every builder of the family shares (providers, propagator,
/// header capture, `semconv_dup`, `exception_signal`) come from
/// `otel_kit_core::instrumentation_setters!`; the others are HTTP client
/// options.
///
/// ```
/// use otel_kit_http::client::ClientLayer;
///
/// let layer = ClientLayer::builder()
///     .propagate_to(["*.svc.cluster.local"])
///     .capture_request_headers(["x-tenant"])
///     .error_on_4xx(false)
///     .build();
/// # drop(layer);
/// ```
pub struct ClientLayerBuilder {
    options: Options,
    metrics: bool,
    body_sizes: bool,
    active_requests: bool,
    propagate_to: Option<HostAllowList>,
    known_methods: Option<KnownMethods>,
    redactor: Redactor,
    error_on_4xx: bool,
}

impl Default for ClientLayerBuilder {
    fn default() -> Self {
        ClientLayerBuilder {
            options: crate::scope::options(),
            metrics: true,
            body_sizes: false,
            active_requests: false,
            propagate_to: None,
            known_methods: None,
            redactor: Redactor::default(),
            error_on_4xx: true,
        }
    }
}

impl fmt::Debug for ClientLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientLayerBuilder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ClientLayerBuilder {
    otel_kit_core::instrumentation_setters!(options: providers, propagator, headers, semconv, exceptions);

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

    fn config(self) -> Arc<ClientConfig> {
        let shared = self.options.resolve(
            SemconvArea::Http,
            "http.request.header.",
            "http.response.header.",
        );
        let dup = shared.semconv_dup;
        let meter = &shared.meter;
        let metrics = self.metrics.then(|| {
            let size = |name: &'static str, desc: &'static str| {
                meter
                    .u64_histogram(name)
                    .with_unit("By")
                    .with_description(desc)
                    .build()
            };
            ClientMetrics {
                duration: super::config::request_duration(meter),
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
                    old_duration_histogram_ms(
                        meter,
                        old::HTTP_CLIENT_DURATION,
                        "Duration of HTTP client requests (old convention).",
                    )
                }),
            }
        });
        Arc::new(ClientConfig {
            tracer: shared.tracer,
            metrics,
            propagation: shared.propagation,
            propagate_to: self.propagate_to,
            request_headers: shared.request_headers,
            response_headers: shared.response_headers,
            known_methods: self.known_methods.unwrap_or_else(KnownMethods::from_env),
            redactor: self.redactor,
            error_on_4xx: self.error_on_4xx,
            dup,
            exceptions: shared.exceptions,
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
