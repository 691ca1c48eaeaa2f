use std::borrow::Cow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Buf;
use http::request::Parts;
use http::{HeaderValue, Response};
use http_body::{Body, Frame, SizeHint};
use otel_core::instrument::{ExceptionEvent, StaticKey};
use otel_core::opentelemetry::metrics::BoundUpDownCounter;
use otel_core::opentelemetry::trace::TraceContextExt;
use otel_core::opentelemetry::{Context, KeyValue, StringValue};
use otel_core::propagation::TraceParent;
use otel_core::semconv::attribute as sc;
use pin_project_lite::pin_project;

use super::service::content_length;
use super::{ActiveKey, DurationKey, ServerConfig};
use crate::attributes::{MethodAttr, RequestHeaders, old, protocol_version};
use crate::common::record_failure;

pin_project! {
    /// The response body of a [`ServerService`](super::ServerService): the
    /// inner body, unchanged, whose end (last frame sent, error, or drop)
    /// ends the request's span and records its duration. Bytes sent are
    /// counted for `http.server.response.body.size`. A failing body marks
    /// the span as an error (`error.type` = the body error's type name).
    pub struct ResponseBody<B> {
        #[pin]
        inner: Option<B>,
        finisher: Option<Box<Finisher>>,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, finisher: Option<Box<Finisher>>) -> Self {
        ResponseBody {
            inner: Some(inner),
            finisher,
        }
    }

    /// An empty body (the 500 response to a caught panic).
    pub(crate) fn empty(finisher: Option<Box<Finisher>>) -> Self {
        ResponseBody {
            inner: None,
            finisher,
        }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            this.finisher.take();
            return Poll::Ready(None);
        };
        let result = std::task::ready!(inner.poll_frame(cx));
        match &result {
            Some(Ok(frame)) => {
                if let Some(f) = this.finisher.as_mut()
                    && let Some(data) = frame.data_ref()
                {
                    f.response_bytes += data.remaining() as u64;
                }
                let ended = this
                    .inner
                    .as_ref()
                    .as_pin_ref()
                    .is_none_or(|b| b.is_end_stream());
                if ended {
                    this.finisher.take();
                }
            }
            Some(Err(_)) => {
                if let Some(mut f) = this.finisher.take() {
                    f.fail(Cow::Borrowed(std::any::type_name::<B::Error>()), None, true);
                }
            }
            None => {
                this.finisher.take();
            }
        }
        Poll::Ready(result)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

/// The per-request state from the start to the end of the response body.
/// Dropping it ends the span and records the metrics, whatever path the
/// request took (response sent, error, cancellation, panic unwinding).
pub(crate) struct Finisher {
    config: Arc<ServerConfig>,
    cx: Context,
    /// Set when metrics are on (the duration's start).
    start: Option<Instant>,
    recording: bool,
    /// `http.request.method` of the metrics (empty when metrics are off).
    method: Cow<'static, str>,
    scheme: &'static str,
    /// `server.address` / `server.port` of the metrics (opt-in).
    server: Option<(StringValue, Option<u16>)>,
    route: Option<StringValue>,
    /// The route when it is a `'static` string (the route cache's), so the
    /// duration can go through a bound instrument.
    static_route: Option<&'static str>,
    /// `active_requests` bound to this request's set (+1 done, −1 at drop).
    active_bound: Option<BoundUpDownCounter<i64>>,
    version: Option<&'static str>,
    labels: Vec<KeyValue>,
    request_size: Option<u64>,
    status: Option<u16>,
    error_type: Option<Cow<'static, str>>,
    pub(crate) response_bytes: u64,
}

impl Finisher {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        config: &Arc<ServerConfig>,
        cx: Context,
        start: Option<Instant>,
        recording: bool,
        method: &MethodAttr,
        scheme: &'static str,
        route: Option<StringValue>,
        static_route: Option<&'static str>,
        parts: &Parts,
        headers: &RequestHeaders<'_>,
    ) -> Self {
        let mut finisher = Finisher {
            config: Arc::clone(config),
            cx,
            start,
            recording,
            method: Cow::Borrowed(""),
            scheme,
            server: None,
            route: None,
            static_route: None,
            active_bound: None,
            version: protocol_version(parts.version),
            labels: Vec::new(),
            request_size: None,
            status: None,
            error_type: None,
            response_bytes: 0,
        };
        if let Some(metrics) = &config.metrics {
            finisher.method = method.value.clone();
            if config.metric_server_address
                && let Some((host, port)) = headers.server_host(&parts.uri)
            {
                finisher.server = Some((StringValue::from(Arc::<str>::from(host)), port));
            }
            if let Some(active) = &metrics.active {
                match finisher.active_key() {
                    Some(key) => {
                        let bound = metrics.active_bound.get_or_bind(key, || {
                            finisher.with_base_attributes(|attrs| active.bind(attrs))
                        });
                        match &bound {
                            Some(b) => b.add(1),
                            None => finisher.with_base_attributes(|attrs| active.add(1, attrs)),
                        }
                        finisher.active_bound = bound;
                    }
                    None => finisher.with_base_attributes(|attrs| active.add(1, attrs)),
                }
            }
            finisher.route = route;
            finisher.static_route = static_route;
            if let Some(labeler) = &config.metric_labeler {
                finisher.labels = labeler(parts);
            }
            if metrics.request_size.is_some() {
                finisher.request_size = content_length(&parts.headers);
            }
        }
        finisher
    }

    /// The request's context (with its span).
    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// The bound-instrument key of `active_requests` when its attributes are
    /// all static strings (no opt-in server address).
    fn active_key(&self) -> Option<ActiveKey> {
        match (&self.method, &self.server) {
            (Cow::Borrowed(method), None) => Some(ActiveKey {
                method: StaticKey(method),
                scheme: StaticKey(self.scheme),
            }),
            _ => None,
        }
    }

    /// The bound-instrument key of the duration when its attributes are all
    /// static strings and the status code (no labeler, no server address,
    /// the route from the route cache).
    fn duration_key(&self) -> Option<DurationKey> {
        if !self.labels.is_empty() || (self.route.is_some() && self.static_route.is_none()) {
            return None;
        }
        let error_type = match &self.error_type {
            None => None,
            Some(Cow::Borrowed(e)) => Some(StaticKey(e)),
            Some(Cow::Owned(_)) => return None,
        };
        Some(DurationKey {
            active: self.active_key()?,
            route: self.static_route.map(StaticKey),
            status: self.status,
            error_type,
            version: self.version.map(StaticKey),
        })
    }

    /// The duration's attributes (method, scheme, opt-in server address,
    /// route, status, error type, protocol version, labels).
    fn duration_attributes(&self) -> Vec<KeyValue> {
        let mut attrs =
            Vec::with_capacity(7 + usize::from(self.server.is_some()) * 2 + self.labels.len());
        attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, self.method.clone()));
        attrs.push(KeyValue::new(sc::URL_SCHEME, self.scheme));
        if let Some((host, port)) = &self.server {
            attrs.push(KeyValue::new(sc::SERVER_ADDRESS, host.clone()));
            if let Some(port) = port {
                attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(*port)));
            }
        }
        if let Some(route) = &self.route {
            attrs.push(KeyValue::new(sc::HTTP_ROUTE, route.clone()));
        }
        if let Some(code) = self.status {
            attrs.push(KeyValue::new(
                sc::HTTP_RESPONSE_STATUS_CODE,
                i64::from(code),
            ));
        }
        if let Some(e) = &self.error_type {
            attrs.push(KeyValue::new(sc::ERROR_TYPE, e.clone()));
        }
        if let Some(v) = self.version {
            attrs.push(KeyValue::new(sc::NETWORK_PROTOCOL_VERSION, v));
        }
        attrs.extend(self.labels.iter().cloned());
        attrs
    }

    /// Calls `f` with the attributes of `active_requests` (method, scheme
    /// and the opt-in server address), on the stack in the common case.
    fn with_base_attributes<R>(&self, f: impl FnOnce(&[KeyValue]) -> R) -> R {
        let method = KeyValue::new(sc::HTTP_REQUEST_METHOD, self.method.clone());
        let scheme = KeyValue::new(sc::URL_SCHEME, self.scheme);
        match &self.server {
            None => f(&[method, scheme]),
            Some((host, port)) => {
                let mut attrs = Vec::with_capacity(4);
                attrs.extend([method, scheme]);
                attrs.push(KeyValue::new(sc::SERVER_ADDRESS, host.clone()));
                if let Some(port) = port {
                    attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(*port)));
                }
                f(&attrs)
            }
        }
    }

    /// Records the response head: status code, status rules, captured
    /// headers and the optional `traceresponse` header.
    pub(crate) fn on_response<B>(&mut self, response: &mut Response<B>) {
        let code = response.status().as_u16();
        self.status = Some(code);
        let config = &*self.config;
        if self.recording {
            let span = self.cx.span();
            span.set_attribute(KeyValue::new(
                sc::HTTP_RESPONSE_STATUS_CODE,
                i64::from(code),
            ));
            if config.dup {
                span.set_attribute(KeyValue::new(old::HTTP_STATUS_CODE, i64::from(code)));
            }
            if !config.response_headers.is_empty() {
                span.set_attributes(config.response_headers.capture(response.headers()));
            }
        }
        let trace_response = config.trace_response;
        if code >= 500 && self.error_type.is_none() {
            self.fail(status_error_type(code), None, false);
        }
        if trace_response
            && let Some(tp) = TraceParent::format(self.cx.span().span_context())
            && let Ok(value) = HeaderValue::from_str(tp.as_str())
        {
            response.headers_mut().insert("traceresponse", value);
        }
    }

    /// Marks the request failed: `error.type` on span and metrics, status
    /// Error (with an `exception` event when `exception`).
    pub(crate) fn fail(
        &mut self,
        error_type: Cow<'static, str>,
        message: Option<String>,
        exception: bool,
    ) {
        record_failure(
            &self.cx,
            self.recording,
            &error_type,
            message,
            exception,
            &self.config.exceptions,
            ExceptionEvent::HTTP_SERVER,
        );
        self.error_type = Some(error_type);
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        let config = &*self.config;
        if let Some(metrics) = &config.metrics {
            let elapsed = self.start.map_or(0.0, |s| s.elapsed().as_secs_f64());
            if let Some(active) = &metrics.active {
                match self.active_bound.take() {
                    Some(bound) => bound.add(-1),
                    None => self.with_base_attributes(|attrs| active.add(-1, attrs)),
                }
            }
            let unbound_only = metrics.old_duration.is_none()
                && metrics.response_size.is_none()
                && metrics.request_size.is_none();
            let recorded = unbound_only
                && self.duration_key().is_some_and(|key| {
                    metrics
                        .duration_bound
                        .with(
                            key,
                            || metrics.duration.bind(&self.duration_attributes()),
                            |bound| bound.record(elapsed),
                        )
                        .is_some()
                });
            if recorded {
                self.finish_span();
                return;
            }
            let attrs = self.duration_attributes();
            let attrs = attrs.as_slice();
            metrics.duration.record(elapsed, attrs);
            if let Some(h) = &metrics.old_duration {
                h.record(elapsed * 1000.0, attrs);
            }
            if let (Some(h), Some(size)) = (&metrics.request_size, self.request_size) {
                h.record(size, attrs);
            }
            if let Some(h) = &metrics.response_size {
                h.record(self.response_bytes, attrs);
            }
        }
        self.finish_span();
    }
}

impl Finisher {
    /// The span's last attributes, then its end.
    fn finish_span(&self) {
        let config = &*self.config;
        let span = self.cx.span();
        if self.recording
            && config
                .metrics
                .as_ref()
                .is_some_and(|m| m.response_size.is_some())
        {
            span.set_attribute(KeyValue::new(
                sc::HTTP_RESPONSE_BODY_SIZE,
                self.response_bytes as i64,
            ));
            if config.dup {
                span.set_attribute(KeyValue::new(
                    old::HTTP_RESPONSE_CONTENT_LENGTH,
                    self.response_bytes as i64,
                ));
            }
        }
        span.end();
    }
}

/// `"500"` … `"599"`: the `error.type` of a 5xx response without an error of
/// its own, as static strings (so the duration's set can stay bound).
static SERVER_ERROR_CODES: [[u8; 3]; 100] = {
    let mut table = [[b'5', b'0', b'0']; 100];
    let mut i = 0;
    while i < 100 {
        table[i][1] = b'0' + (i / 10) as u8;
        table[i][2] = b'0' + (i % 10) as u8;
        i += 1;
    }
    table
};

/// The status code as `error.type` (`"503"`), static for 500–599.
fn status_error_type(code: u16) -> Cow<'static, str> {
    match code {
        500..=599 => std::str::from_utf8(&SERVER_ERROR_CODES[usize::from(code - 500)])
            .map_or_else(|_| Cow::Owned(code.to_string()), Cow::Borrowed),
        _ => Cow::Owned(code.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::status_error_type;

    #[test]
    fn status_error_types_are_the_codes() {
        for code in [500u16, 503, 599, 600, 499, 1000] {
            assert_eq!(status_error_type(code), code.to_string());
        }
        assert!(matches!(
            status_error_type(504),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
