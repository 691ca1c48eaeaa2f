//! What the steps read from the request head, looked up once: the recorded
//! method, `url.scheme`, the route template, the forwarding headers.

use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use otel_kit_core::opentelemetry::StringValue;

use super::config::ServerConfig;
use super::route_cache;
use super::{HttpRoute, PeerAddr};
use crate::attributes::{MethodAttr, RequestHeaders};

/// The request head as the steps of one traced request read it.
pub(crate) struct Incoming<'a> {
    /// When the request started (read only when metrics are on: only the
    /// duration needs our own clock reading).
    pub start: Option<Instant>,
    pub method: MethodAttr,
    pub scheme: &'static str,
    pub route: Option<Route<'a>>,
    pub headers: RequestHeaders<'a>,
}

/// The route template of a request.
pub(crate) struct Route<'a> {
    /// As the router gave it.
    pub template: &'a str,
    /// `http.route`: the route cache's static string, or a copy.
    pub value: StringValue,
    /// The route cache's static string, when the cache holds the route.
    pub static_route: Option<&'static str>,
    /// The cached `{method} {route}` span name, when asked for and held.
    pub cached_name: Option<&'static str>,
}

impl<'a> Incoming<'a> {
    #[inline]
    pub(crate) fn new(config: &ServerConfig, parts: &'a Parts) -> Self {
        let start = config.metrics.is_some().then(Instant::now);
        let headers = RequestHeaders::new(&parts.headers);
        let method = MethodAttr::new(&config.known_methods, &parts.method);
        let scheme = scheme_of(parts, &headers);
        // The cached span name is asked for only when the name is ours and
        // its method part static.
        let static_method = match (&config.span_name, method.name_part()) {
            (None, std::borrow::Cow::Borrowed(m)) => Some(m),
            _ => None,
        };
        let route = route_of(parts).map(|template| Route::new(template, static_method));
        Incoming {
            start,
            method,
            scheme,
            route,
            headers,
        }
    }
}

impl<'a> Route<'a> {
    /// The route from the route cache (no allocation on a known route).
    fn new(template: &'a str, static_method: Option<&'static str>) -> Self {
        match route_cache::lookup(template, static_method) {
            Some(named) => Route {
                template,
                value: StringValue::from(named.route),
                static_route: Some(named.route),
                cached_name: named.name,
            },
            None => Route {
                template,
                value: StringValue::from(Arc::<str>::from(template)),
                static_route: None,
                cached_name: None,
            },
        }
    }
}

/// The route template known for the request, without allocation.
pub(crate) fn route_of(parts: &Parts) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(m) = parts.extensions.get::<axum::extract::MatchedPath>() {
        return Some(m.as_str());
    }
    parts.extensions.get::<HttpRoute>().map(|r| r.0.as_ref())
}

/// The peer's socket address: axum's `ConnectInfo`, else [`PeerAddr`].
pub(crate) fn peer_of(parts: &Parts) -> Option<std::net::SocketAddr> {
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
