//! What a built client layer or middleware keeps: the resolved shared
//! options and the HTTP client ones.

use otel_kit_core::instrument::{
    ExceptionEvents, HeaderCapture, Propagation, SpanStarter, duration_histogram,
};
use otel_kit_core::opentelemetry::metrics::{Histogram, Meter, UpDownCounter};
use otel_kit_core::propagation::HostAllowList;

use crate::attributes::KnownMethods;
use crate::redact::Redactor;

/// `http.client.request.duration`: the HTTP client layer's, and the traced
/// WebSocket client's handshake (one instrument, one description).
pub(crate) fn request_duration(meter: &Meter) -> Histogram<f64> {
    duration_histogram(
        meter,
        otel_kit_core::semconv::metric::HTTP_CLIENT_REQUEST_DURATION,
        "Duration of HTTP client requests.",
    )
}

pub(crate) struct ClientMetrics {
    pub duration: Histogram<f64>,
    pub request_size: Option<Histogram<u64>>,
    pub response_size: Option<Histogram<u64>>,
    pub old_duration: Option<Histogram<f64>>,
    pub active: Option<UpDownCounter<i64>>,
}

pub(crate) struct ClientConfig {
    pub tracer: SpanStarter,
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
