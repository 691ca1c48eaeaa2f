//! Ready request filters, built on `otel_kit_core::instrument::Filter` over the
//! request head ([`http::request::Parts`]). Combine them with
//! [`any`], [`all`], [`not`] or [`FilterExt`] (re-exported from
//! `otel_kit_core::instrument`).
//!
//! A filter passed to a layer's builder decides which requests are traced:
//! `true` = instrumented.
//!
//! ```
//! use otel_kit_core::instrument::{Filter, FilterExt, not};
//! use otel_kit_http::filter::{health_check, path_prefix};
//!
//! let traced = not(health_check().or(path_prefix("/metrics")));
//! let (head, _) = http::Request::get("/healthz").body(()).unwrap().into_parts();
//! assert!(!traced.matches(&head));
//! let (head, _) = http::Request::get("/users/1").body(()).unwrap().into_parts();
//! assert!(traced.matches(&head));
//! ```

use http::request::Parts;
use http::{HeaderName, HeaderValue, Method};
pub use otel_kit_core::instrument::{Filter, FilterExt, all, any, not};

/// The paths [`health_check`] matches.
pub const HEALTH_CHECK_PATHS: &[&str] = &[
    "/health", "/healthz", "/ready", "/readyz", "/live", "/livez", "/ping",
];

/// A boxed request filter, as the builders store it.
pub type RequestFilter = Box<dyn Filter<Parts>>;

/// Matches requests whose path is exactly `path`.
pub fn path(path: impl Into<String>) -> impl Filter<Parts> + Clone + 'static {
    let path = path.into();
    move |p: &Parts| p.uri.path() == path
}

/// Matches requests whose path starts with `prefix`.
pub fn path_prefix(prefix: impl Into<String>) -> impl Filter<Parts> + Clone + 'static {
    let prefix = prefix.into();
    move |p: &Parts| p.uri.path().starts_with(prefix.as_str())
}

/// Matches requests with this method.
pub fn method(method: Method) -> impl Filter<Parts> + Clone + 'static {
    move |p: &Parts| p.method == method
}

/// Matches requests carrying header `name` (with `value`, when given).
/// An invalid name or value matches nothing.
pub fn header(name: &str, value: Option<&str>) -> impl Filter<Parts> + Clone + 'static {
    let name = HeaderName::from_bytes(name.as_bytes()).ok();
    let value = value.map(|v| HeaderValue::from_str(v).ok());
    move |p: &Parts| {
        let Some(name) = &name else { return false };
        match &value {
            None => p.headers.contains_key(name),
            Some(None) => false,
            Some(Some(v)) => p.headers.get_all(name).iter().any(|h| h == v),
        }
    }
}

/// Matches the usual health and readiness probes
/// ([`HEALTH_CHECK_PATHS`], any method). Use `not(health_check())` as a
/// layer filter to leave them untraced.
pub fn health_check() -> impl Filter<Parts> + Clone + 'static {
    |p: &Parts| HEALTH_CHECK_PATHS.contains(&p.uri.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn ready_filters_and_combinators() {
        let get_users = head("GET", "/users/1", &[("x-probe", "1")]);
        let post_health = head("POST", "/health", &[]);
        assert!(path("/users/1").matches(&get_users));
        assert!(!path("/users").matches(&get_users));
        assert!(path_prefix("/users").matches(&get_users));
        assert!(method(Method::GET).matches(&get_users));
        assert!(!method(Method::GET).matches(&post_health));
        assert!(header("X-Probe", None).matches(&get_users));
        assert!(header("x-probe", Some("1")).matches(&get_users));
        assert!(!header("x-probe", Some("2")).matches(&get_users));
        assert!(!header("bad name", None).matches(&get_users));
        assert!(health_check().matches(&post_health));
        let traced = not(health_check()).and(any([
            method(Method::GET).boxed(),
            path_prefix("/admin").boxed(),
        ]));
        assert!(traced.matches(&get_users));
        assert!(!traced.matches(&post_health));
        assert!(all::<Parts>([]).matches(&get_users));
    }
}
