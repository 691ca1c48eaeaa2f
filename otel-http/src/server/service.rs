use std::borrow::Cow;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::request::Parts;
use http::{Request, Response};
use otel_core::opentelemetry::trace::{
    Link, Span as _, SpanBuilder, SpanKind, TraceContextExt, Tracer,
};
use otel_core::opentelemetry::{Context, KeyValue, StringValue, Value};
use otel_core::semconv::attribute as sc;
use tower::Service;

use super::body::Finisher;
use super::future::ResponseFuture;
use super::names;
use super::{HttpRoute, PeerAddr, ServerConfig};
use crate::attributes::{MethodAttr, RequestHeaders, header_str, old, protocol_version, string_kv};

/// The [`Service`] of a [`ServerLayer`](super::ServerLayer).
pub struct ServerService<S> {
    inner: S,
    config: Arc<ServerConfig>,
}

impl<S: Clone> Clone for ServerService<S> {
    fn clone(&self) -> Self {
        ServerService {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ServerService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> ServerService<S> {
    pub(crate) fn new(inner: S, config: Arc<ServerConfig>) -> Self {
        ServerService { inner, config }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The route template known for the request, without allocation.
fn route_of(parts: &Parts) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(m) = parts.extensions.get::<axum::extract::MatchedPath>() {
        return Some(m.as_str());
    }
    parts.extensions.get::<HttpRoute>().map(|r| r.0.as_ref())
}

fn peer_of(parts: &Parts) -> Option<std::net::SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(c) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(c.0);
    }
    parts.extensions.get::<PeerAddr>().map(|p| p.0)
}

/// `url.scheme`: the original client's (forwarding headers), else the URI's,
/// else `http`.
fn scheme_of(parts: &Parts, headers: &RequestHeaders<'_>) -> &'static str {
    if let Some(s) = headers.scheme() {
        return s;
    }
    match parts.uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

/// The attributes set when the span starts, beyond method and scheme.
fn request_attributes(
    config: &ServerConfig,
    parts: &Parts,
    headers: &RequestHeaders<'_>,
    out: &mut Vec<KeyValue>,
) {
    headers.prefetch();
    let dup = config.dup;
    let path = parts.uri.path();
    out.push(string_kv(sc::URL_PATH, path));
    if let Some(q) = parts.uri.query() {
        let q = config.redactor.redact_query(q);
        if dup {
            out.push(KeyValue::new(old::HTTP_TARGET, format!("{path}?{q}")));
        }
        out.push(KeyValue::new(sc::URL_QUERY, q.into_owned()));
    } else if dup {
        out.push(string_kv(old::HTTP_TARGET, path));
    }
    if let Some((host, port)) = headers.server_host(&parts.uri) {
        out.push(string_kv(sc::SERVER_ADDRESS, host));
        if dup {
            out.push(string_kv(old::NET_HOST_NAME, host));
        }
        if let Some(port) = port {
            out.push(KeyValue::new(sc::SERVER_PORT, i64::from(port)));
            if dup {
                out.push(KeyValue::new(old::NET_HOST_PORT, i64::from(port)));
            }
        }
    }
    let peer = peer_of(parts);
    // The peer's IP is formatted once and shared by the attributes using it.
    let peer_ip: Option<Arc<str>> = peer.map(|p| Arc::from(p.ip().to_string()));
    if let (Some(peer), Some(ip)) = (peer, &peer_ip) {
        out.push(KeyValue::new(
            sc::NETWORK_PEER_ADDRESS,
            Value::from(Arc::clone(ip)),
        ));
        out.push(KeyValue::new(sc::NETWORK_PEER_PORT, i64::from(peer.port())));
        if dup {
            out.push(KeyValue::new(
                old::NET_SOCK_PEER_ADDR,
                Value::from(Arc::clone(ip)),
            ));
            out.push(KeyValue::new(
                old::NET_SOCK_PEER_PORT,
                i64::from(peer.port()),
            ));
        }
    }
    let client: Option<Value> = match headers.client() {
        Some(c) => Some(Value::from(c.to_owned())),
        None => peer_ip.map(Value::from),
    };
    if let Some(client) = client {
        if dup {
            out.push(KeyValue::new(old::HTTP_CLIENT_IP, client.clone()));
        }
        out.push(KeyValue::new(sc::CLIENT_ADDRESS, client));
    }
    if let Some(ua) = headers.user_agent() {
        out.push(string_kv(sc::USER_AGENT_ORIGINAL, ua));
    }
    if let Some(v) = protocol_version(parts.version) {
        out.push(KeyValue::new(sc::NETWORK_PROTOCOL_VERSION, v));
        if dup {
            out.push(KeyValue::new(old::NET_PROTOCOL_VERSION, v));
            out.push(KeyValue::new(old::NET_PROTOCOL_NAME, "http"));
        }
    }
    if config
        .metrics
        .as_ref()
        .is_some_and(|m| m.request_size.is_some())
        && let Some(len) = content_length(&parts.headers)
    {
        out.push(KeyValue::new(sc::HTTP_REQUEST_BODY_SIZE, len as i64));
        if dup {
            out.push(KeyValue::new(old::HTTP_REQUEST_CONTENT_LENGTH, len as i64));
        }
    }
    if !config.request_headers.is_empty() {
        config.request_headers.capture_into(&parts.headers, out);
    }
    if let Some(labeler) = &config.span_labeler {
        out.extend(labeler(parts));
    }
}

pub(crate) fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    header_str(headers, &http::header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServerService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<super::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        let (parts, body) = req.into_parts();
        let parent_cx = config.propagation.extract(&parts.headers);

        if let Some(filter) = &config.filter
            && !filter.matches(&parts)
        {
            let req = Request::from_parts(parts, body);
            let future = {
                let _guard = parent_cx.clone().attach();
                if config.catch_panic {
                    catch_unwind(AssertUnwindSafe(|| self.inner.call(req)))
                } else {
                    Ok(self.inner.call(req))
                }
            };
            return ResponseFuture::new(future, Some(parent_cx), config.catch_panic, None);
        }

        // Only the duration metric needs our own clock reading.
        let start = config.metrics.is_some().then(Instant::now);
        let headers = RequestHeaders::new(&parts.headers);
        let method = MethodAttr::new(&config.known_methods, &parts.method);
        let scheme = scheme_of(&parts, &headers);
        let route = route_of(&parts);
        let method_part = method.name_part();
        // Route templates and `{method} {route}` names come from a static
        // cache: no allocation per request on a known route.
        let mut cached_name = None;
        let mut static_route = None;
        let route_value: Option<StringValue> = route.map(|r| {
            let static_part = match (&config.span_name, &method_part) {
                (None, Cow::Borrowed(m)) => Some(*m),
                _ => None,
            };
            match names::lookup(r, static_part) {
                Some(named) => {
                    cached_name = named.name;
                    static_route = Some(named.route);
                    StringValue::from(named.route)
                }
                None => StringValue::from(Arc::<str>::from(r)),
            }
        });
        let name: Cow<'static, str> = match (&config.span_name, route, cached_name) {
            (Some(format), route, _) => Cow::Owned(format(&parts, route)),
            (None, Some(_), Some(cached)) => Cow::Borrowed(cached),
            (None, Some(route), None) => {
                let mut name = String::with_capacity(method_part.len() + 1 + route.len());
                name.push_str(&method_part);
                name.push(' ');
                name.push_str(route);
                Cow::Owned(name)
            }
            (None, None, _) => method_part,
        };

        // Room for the attributes added when the span records: the SDK keeps
        // this vector, so they are pushed without reallocating.
        let mut attrs = Vec::with_capacity(if config.sampling_attributes { 24 } else { 16 });
        method.push(&parts.method, config.dup, &mut attrs);
        attrs.push(KeyValue::new(sc::URL_SCHEME, scheme));
        if config.dup {
            attrs.push(KeyValue::new(old::HTTP_SCHEME, scheme));
        }
        if config.sampling_attributes {
            if let Some(route) = &route_value {
                attrs.push(KeyValue::new(sc::HTTP_ROUTE, route.clone()));
            }
            request_attributes(config, &parts, &headers, &mut attrs);
        }

        let public = config
            .public_endpoint
            .as_ref()
            .is_some_and(|decide| decide(&parts));
        // Filled in place: the builder is large, chained `with_*` calls
        // would move it each time.
        let mut builder = SpanBuilder::from_name(name);
        builder.span_kind = Some(SpanKind::Server);
        builder.attributes = Some(attrs);
        let mut span = if public {
            let remote = parent_cx.span().span_context().clone();
            if remote.is_valid() {
                builder.links = Some(vec![Link::with_context(remote)]);
            }
            config.tracer.build_with_context(builder, &Context::new())
        } else {
            config.tracer.build_with_context(builder, &parent_cx)
        };
        let recording = span.is_recording();
        if recording && !config.sampling_attributes {
            // Set on the span itself, before it is shared through the
            // context (no lock).
            let mut more = Vec::with_capacity(16);
            if let Some(route) = &route_value {
                more.push(KeyValue::new(sc::HTTP_ROUTE, route.clone()));
            }
            request_attributes(config, &parts, &headers, &mut more);
            span.set_attributes(more);
        }
        // Baggage and forwarded mesh headers stay; the span replaces the
        // remote one.
        let cx = parent_cx.with_span(span);

        // Boxed: the response future and body move it several times.
        let finisher = Box::new(Finisher::start(
            &self.config,
            cx,
            start,
            recording,
            &method,
            scheme,
            route_value,
            static_route,
            &parts,
            &headers,
        ));

        let req = Request::from_parts(parts, body);
        let future = {
            let _guard = finisher.context().clone().attach();
            if config.catch_panic {
                catch_unwind(AssertUnwindSafe(|| self.inner.call(req)))
            } else {
                Ok(self.inner.call(req))
            }
        };
        ResponseFuture::new(future, None, config.catch_panic, Some(finisher))
    }
}
