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
//!   or for transport errors the class the error names (reqwest:
//!   `timeout`, `connect`, `redirect`, `body`, `decode`, `request`), else
//!   its full Rust type path (`std::any::type_name` of the inner client's
//!   error, `reqwest::error::Error`), else `_OTHER` (a type-erased
//!   `reqwest_middleware` middleware error).
//! - Each call through the middleware is an attempt: a retry layer above it
//!   sets [`ResendCount`](otel_kit_core::instrument::ResendCount) and the span
//!   gets `http.request.resend_count`; with `reqwest-middleware`, attempts
//!   sharing the same `Extensions` (its retry middleware) are counted
//!   without help. Redirects followed inside reqwest itself are not visible
//!   to any middleware: they stay inside one attempt.
//! - `url.full` has userinfo and the sensitive query values redacted; header
//!   capture refuses credentials unless
//!   [`allow_sensitive_headers`](ClientLayerBuilder::allow_sensitive_headers)
//!   names them.
//! - Propagation: trace headers, baggage and forwarded mesh headers are
//!   injected unless the request has a [`NoPropagation`] extension or its
//!   host is outside the [`propagate_to`](ClientLayerBuilder::propagate_to)
//!   allow-list.

mod attempt;
mod builder;
mod config;
mod layer;
#[cfg(feature = "reqwest")]
mod reqwest;

use std::borrow::Cow;

pub use builder::ClientLayerBuilder;
#[cfg(any(feature = "ws", feature = "tungstenite"))]
pub(crate) use config::request_duration;
pub use layer::{ClientLayer, ClientService, ResponseFuture};
#[cfg(feature = "reqwest")]
pub use reqwest::TracingMiddleware;

/// Request extension: do not inject any context into this request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoPropagation;

/// Request extension: the URL template of this request (`/users/{id}`),
/// used for the span name and recorded as `url.template`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate(pub Cow<'static, str>);
