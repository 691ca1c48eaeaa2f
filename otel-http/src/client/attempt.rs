//! The attempt: what both client front ends do around one physical request.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use http::{Extensions, HeaderMap, Method, StatusCode, Version};
use otel_kit_core::instrument::{ErrorRecord, ExceptionEvent, ResendCount, record_exception};
use otel_kit_core::opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt};
use otel_kit_core::opentelemetry::{Context, KeyValue, Value};
use otel_kit_core::propagation::HeaderInjector;
use otel_kit_core::semconv::attribute as sc;

use super::config::ClientConfig;
use super::{NoPropagation, UrlTemplate};
use crate::attributes::{MethodAttr, old, protocol_version};
use crate::content_length::content_length;
use crate::error_type::status_error_type;

/// Where a request goes.
pub(crate) struct Target<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: u16,
}

pub(crate) fn default_port(scheme: &str) -> u16 {
    if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        443
    } else {
        80
    }
}

/// One physical attempt: started before the request is sent, finished (on
/// drop) when the response head arrived, the attempt failed, or it was
/// cancelled.
pub(crate) struct Attempt {
    config: Arc<ClientConfig>,
    cx: Context,
    start: Instant,
    recording: bool,
    metric_attrs: Vec<KeyValue>,
    request_size: Option<u64>,
    response_size: Option<u64>,
    status: Option<u16>,
    version: Option<&'static str>,
    error_type: Option<Cow<'static, str>>,
}

impl Attempt {
    /// Starts the span (child of the current context) and injects its
    /// context into `headers` when allowed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        config: &Arc<ClientConfig>,
        method: &Method,
        target: Option<Target<'_>>,
        full_url: impl FnOnce() -> String,
        headers: &mut HeaderMap,
        extensions: &Extensions,
        resend: u32,
    ) -> Attempt {
        let dup = config.dup;
        let method_attr = MethodAttr::new(&config.known_methods, method);
        let template = extensions.get::<UrlTemplate>();
        let name: Cow<'static, str> = match template {
            Some(t) => Cow::Owned(format!("{} {}", method_attr.name_part(), t.0)),
            None => method_attr.name_part(),
        };
        let host: Option<Arc<str>> = target.as_ref().map(|t| Arc::from(t.host));
        let port = target.as_ref().map(|t| t.port);

        let mut attrs = Vec::with_capacity(4);
        method_attr.push(method, dup, &mut attrs);
        if let Some(host) = &host {
            attrs.push(KeyValue::new(
                sc::SERVER_ADDRESS,
                Value::from(Arc::clone(host)),
            ));
        }
        if let Some(port) = port {
            attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(port)));
        }
        let metric_attrs = if config.metrics.is_some() {
            let mut m = attrs.clone();
            if dup {
                m.retain(|kv| kv.key.as_str() != old::HTTP_METHOD);
            }
            if let Some(t) = template {
                m.push(KeyValue::new(sc::URL_TEMPLATE, t.0.clone()));
            }
            if let Some(active) = config.metrics.as_ref().and_then(|m| m.active.as_ref()) {
                active.add(1, &m);
            }
            m
        } else {
            Vec::new()
        };

        let builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Client)
            .with_attributes(attrs);
        let mut full_url = Some(full_url);
        let headers_read: &HeaderMap = headers;
        // Attributes only a recording span needs, set before it is shared.
        let late = |more: &mut Vec<KeyValue>| {
            let Some(full_url) = full_url.take() else {
                return;
            };
            more.reserve(8);
            let url = full_url();
            if dup {
                more.push(KeyValue::new(old::HTTP_URL, url.clone()));
                if let Some(host) = &host {
                    more.push(KeyValue::new(
                        old::NET_PEER_NAME,
                        Value::from(Arc::clone(host)),
                    ));
                }
                if let Some(port) = port {
                    more.push(KeyValue::new(old::NET_PEER_PORT, i64::from(port)));
                }
            }
            more.push(KeyValue::new(sc::URL_FULL, url));
            if let Some(t) = &target {
                more.push(KeyValue::new(sc::URL_SCHEME, t.scheme.to_ascii_lowercase()));
            }
            if let Some(t) = template {
                more.push(KeyValue::new(sc::URL_TEMPLATE, t.0.clone()));
            }
            if resend > 0 {
                more.push(KeyValue::new(
                    sc::HTTP_REQUEST_RESEND_COUNT,
                    i64::from(resend),
                ));
                if dup {
                    more.push(KeyValue::new(old::HTTP_RESEND_COUNT, i64::from(resend)));
                }
            }
            if !config.request_headers.is_empty() {
                config.request_headers.capture_into(headers_read, more);
            }
        };
        // A child of the current context (the caller's span, baggage kept).
        let cx = Context::map_current(|parent| config.tracer.start(builder, parent, late));
        let recording = cx.span().is_recording();

        let allowed =
            extensions.get::<NoPropagation>().is_none() && config.may_propagate_to(host.as_deref());
        if allowed {
            config.propagation.inject(&cx, &mut HeaderInjector(headers));
        }
        let request_size = config
            .metrics
            .as_ref()
            .and_then(|m| m.request_size.as_ref())
            .and_then(|_| content_length(headers));

        Attempt {
            config: Arc::clone(config),
            cx,
            start: Instant::now(),
            recording,
            metric_attrs,
            request_size,
            response_size: None,
            status: None,
            version: None,
            error_type: None,
        }
    }

    /// The resend count of a request: [`ResendCount`] from its extensions.
    pub(crate) fn resend_count(extensions: &Extensions) -> u32 {
        extensions.get::<ResendCount>().map_or(0, |r| r.0)
    }

    /// The socket address the attempt reached (`network.peer.address` /
    /// `network.peer.port`), when the client knows it.
    #[cfg_attr(
        not(any(feature = "reqwest", feature = "hyper-util")),
        allow(dead_code)
    )]
    pub(crate) fn peer(&self, addr: std::net::SocketAddr) {
        if self.recording {
            self.cx.span().set_attributes([
                KeyValue::new(sc::NETWORK_PEER_ADDRESS, addr.ip().to_string()),
                KeyValue::new(sc::NETWORK_PEER_PORT, i64::from(addr.port())),
            ]);
        }
    }

    /// The response head arrived.
    pub(crate) fn response(mut self, status: StatusCode, version: Version, headers: &HeaderMap) {
        let code = status.as_u16();
        self.status = Some(code);
        self.version = protocol_version(version);
        let config = Arc::clone(&self.config);
        if config
            .metrics
            .as_ref()
            .is_some_and(|m| m.response_size.is_some())
        {
            self.response_size = content_length(headers);
        }
        if self.recording {
            let span = self.cx.span();
            let mut attrs = Vec::with_capacity(4);
            attrs.push(KeyValue::new(
                sc::HTTP_RESPONSE_STATUS_CODE,
                i64::from(code),
            ));
            if let Some(v) = self.version {
                attrs.push(KeyValue::new(sc::NETWORK_PROTOCOL_VERSION, v));
            }
            if config.dup {
                attrs.push(KeyValue::new(old::HTTP_STATUS_CODE, i64::from(code)));
                if let Some(v) = self.version {
                    attrs.push(KeyValue::new(old::NET_PROTOCOL_VERSION, v));
                }
            }
            if !config.response_headers.is_empty() {
                config.response_headers.capture_into(headers, &mut attrs);
            }
            span.set_attributes(attrs);
        }
        if code >= 500 || (code >= 400 && config.error_on_4xx) {
            self.fail(status_error_type(code), None, false);
        }
    }

    /// The attempt failed without a response.
    pub(crate) fn error(mut self, error_type: Cow<'static, str>, message: Option<String>) {
        self.fail(error_type, message, true);
    }

    /// Marks the attempt failed: `error.type` on span and metrics, status
    /// Error, and for an `exception` (a transport error, not a status code)
    /// an exception event or log record per the exception signal.
    fn fail(&mut self, error_type: Cow<'static, str>, message: Option<String>, exception: bool) {
        record_exception(
            &self.cx.span(),
            &ErrorRecord {
                error_type: Cow::Borrowed(&error_type),
                message: message.map(Cow::Owned),
                exception,
            },
            &self.config.exceptions,
            ExceptionEvent::HTTP_CLIENT,
        );
        self.error_type = Some(error_type);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Some(metrics) = &self.config.metrics {
            let elapsed = self.start.elapsed().as_secs_f64();
            let mut attrs = std::mem::take(&mut self.metric_attrs);
            if let Some(active) = &metrics.active {
                active.add(-1, &attrs);
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
            metrics.duration.record(elapsed, &attrs);
            if let Some(h) = &metrics.old_duration {
                h.record(elapsed * 1000.0, &attrs);
            }
            if let (Some(h), Some(size)) = (&metrics.request_size, self.request_size) {
                h.record(size, &attrs);
            }
            if let (Some(h), Some(size)) = (&metrics.response_size, self.response_size) {
                h.record(size, &attrs);
            }
        }
        self.cx.span().end();
    }
}
