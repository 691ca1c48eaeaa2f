//! The server metrics: `http.server.request.duration`,
//! `http.server.active_requests`, the opt-in body sizes and, with
//! `semconv_dup`, the old `http.server.duration`; recorded through
//! instruments bound once per attribute set when that set is made of static
//! strings and the status code (the default), unbound otherwise.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use otel_kit_core::instrument::{
    BoundCache, StaticKey, duration_histogram, old_duration_histogram_ms,
};
use otel_kit_core::opentelemetry::metrics::{
    BoundHistogram, BoundUpDownCounter, Histogram, Meter, UpDownCounter,
};
use otel_kit_core::opentelemetry::{KeyValue, StringValue};
use otel_kit_core::semconv::attribute as sc;
use otel_kit_core::semconv::metric as scm;

use super::config::ServerConfig;
use super::request::Incoming;
use crate::attributes::old;
use crate::content_length::content_length;

/// How many attribute sets each server instrument binds (routes × methods ×
/// status codes of a typical service fit; more sets are recorded unbound).
const BOUND_SETS: usize = 2048;

/// The attribute set of a bound `http.server.active_requests`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ActiveKey {
    method: StaticKey,
    scheme: StaticKey,
}

/// The attribute set of a bound `http.server.request.duration`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DurationKey {
    active: ActiveKey,
    route: Option<StaticKey>,
    status: Option<u16>,
    error_type: Option<StaticKey>,
    version: Option<StaticKey>,
}

pub(crate) struct ServerMetrics {
    duration: Histogram<f64>,
    /// `duration` bound per attribute set, for the sets made only of static
    /// strings and the status code (no opt-in address, no labeler).
    duration_bound: BoundCache<DurationKey, BoundHistogram<f64>>,
    active: Option<UpDownCounter<i64>>,
    /// `active` bound per (method, scheme).
    active_bound: BoundCache<ActiveKey, BoundUpDownCounter<i64>>,
    pub(crate) request_size: Option<Histogram<u64>>,
    pub(crate) response_size: Option<Histogram<u64>>,
    /// `http.server.duration` in milliseconds, with `semconv_dup`.
    old_duration: Option<Histogram<f64>>,
}

impl ServerMetrics {
    pub(crate) fn new(meter: &Meter, active: bool, sizes: bool, dup: bool) -> Self {
        let size = |name: &'static str, desc: &'static str| {
            meter
                .u64_histogram(name)
                .with_unit("By")
                .with_description(desc)
                .build()
        };
        ServerMetrics {
            duration: duration_histogram(
                meter,
                scm::HTTP_SERVER_REQUEST_DURATION,
                "Duration of HTTP server requests.",
            ),
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
                old_duration_histogram_ms(
                    meter,
                    old::HTTP_SERVER_DURATION,
                    "Duration of HTTP server requests (old convention).",
                )
            }),
        }
    }
}

/// One request's metric state, from `active_requests` +1 to the duration.
pub(crate) struct RequestMetrics {
    start: Instant,
    /// `http.request.method`.
    method: Cow<'static, str>,
    scheme: &'static str,
    /// `server.address` / `server.port` (opt-in).
    server: Option<(StringValue, Option<u16>)>,
    route: Option<StringValue>,
    /// The route when it is a `'static` string (the route cache's), so the
    /// duration can go through a bound instrument.
    static_route: Option<&'static str>,
    /// `active_requests` bound to this request's set (+1 done, −1 at the end).
    active_bound: Option<BoundUpDownCounter<i64>>,
    version: Option<&'static str>,
    labels: Vec<KeyValue>,
    request_size: Option<u64>,
}

/// How the request ended, as the duration's attributes need it.
pub(crate) struct Outcome<'a> {
    pub status: Option<u16>,
    pub error_type: Option<&'a Cow<'static, str>>,
    pub response_bytes: u64,
}

impl RequestMetrics {
    /// Starts the request's metrics: `active_requests` +1.
    pub(crate) fn start(
        config: &ServerConfig,
        metrics: &ServerMetrics,
        parts: &Parts,
        incoming: &Incoming<'_>,
    ) -> Self {
        let mut m = RequestMetrics {
            start: incoming.start.unwrap_or_else(Instant::now),
            method: incoming.method.value.clone(),
            scheme: incoming.scheme,
            server: None,
            route: incoming.route.as_ref().map(|r| r.value.clone()),
            static_route: incoming.route.as_ref().and_then(|r| r.static_route),
            active_bound: None,
            version: crate::attributes::protocol_version(parts.version),
            labels: Vec::new(),
            request_size: None,
        };
        if config.metric_server_address
            && let Some((host, port)) = incoming.headers.server_host(&parts.uri)
        {
            m.server = Some((StringValue::from(Arc::<str>::from(host)), port));
        }
        if let Some(labeler) = &config.metric_labeler {
            m.labels = labeler(parts);
        }
        if metrics.request_size.is_some() {
            m.request_size = content_length(&parts.headers);
        }
        if let Some(active) = &metrics.active {
            match m.active_key() {
                Some(key) => {
                    let bound = metrics
                        .active_bound
                        .get_or_bind(key, || m.with_base_attributes(|attrs| active.bind(attrs)));
                    match &bound {
                        Some(b) => b.add(1),
                        None => m.with_base_attributes(|attrs| active.add(1, attrs)),
                    }
                    m.active_bound = bound;
                }
                None => m.with_base_attributes(|attrs| active.add(1, attrs)),
            }
        }
        m
    }

    /// Records the end of the request: `active_requests` −1, the duration
    /// and the sizes.
    pub(crate) fn record(&mut self, metrics: &ServerMetrics, outcome: &Outcome<'_>) {
        let elapsed = self.start.elapsed().as_secs_f64();
        if let Some(active) = &metrics.active {
            match self.active_bound.take() {
                Some(bound) => bound.add(-1),
                None => self.with_base_attributes(|attrs| active.add(-1, attrs)),
            }
        }
        let bound_only = metrics.old_duration.is_none()
            && metrics.response_size.is_none()
            && metrics.request_size.is_none();
        if bound_only
            && self.duration_key(outcome).is_some_and(|key| {
                metrics
                    .duration_bound
                    .with(
                        key,
                        || metrics.duration.bind(&self.duration_attributes(outcome)),
                        |bound| bound.record(elapsed),
                    )
                    .is_some()
            })
        {
            return;
        }
        let attrs = self.duration_attributes(outcome);
        let attrs = attrs.as_slice();
        metrics.duration.record(elapsed, attrs);
        if let Some(h) = &metrics.old_duration {
            h.record(elapsed * 1000.0, attrs);
        }
        if let (Some(h), Some(size)) = (&metrics.request_size, self.request_size) {
            h.record(size, attrs);
        }
        if let Some(h) = &metrics.response_size {
            h.record(outcome.response_bytes, attrs);
        }
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
    fn duration_key(&self, outcome: &Outcome<'_>) -> Option<DurationKey> {
        if !self.labels.is_empty() || (self.route.is_some() && self.static_route.is_none()) {
            return None;
        }
        let error_type = match outcome.error_type {
            None => None,
            Some(Cow::Borrowed(e)) => Some(StaticKey(e)),
            Some(Cow::Owned(_)) => return None,
        };
        Some(DurationKey {
            active: self.active_key()?,
            route: self.static_route.map(StaticKey),
            status: outcome.status,
            error_type,
            version: self.version.map(StaticKey),
        })
    }

    /// The duration's attributes (method, scheme, opt-in server address,
    /// route, status, error type, protocol version, labels).
    fn duration_attributes(&self, outcome: &Outcome<'_>) -> Vec<KeyValue> {
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
        if let Some(code) = outcome.status {
            attrs.push(KeyValue::new(
                sc::HTTP_RESPONSE_STATUS_CODE,
                i64::from(code),
            ));
        }
        if let Some(e) = outcome.error_type {
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
}
