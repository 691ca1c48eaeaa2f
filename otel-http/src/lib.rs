//! OpenTelemetry for HTTP in tower services: a server layer for axum and
//! hyper services and a client layer for hyper-util clients and reqwest
//! (through `reqwest-middleware`), with spans and metrics per the stable
//! HTTP semantic conventions.
//!
//! - [`server::ServerLayer`]: a SERVER span per request named from the route
//!   template, the incoming context extracted, the handler run inside the
//!   span, the span ended when the response body is done (streaming
//!   included), panics caught, `http.server.request.duration` and
//!   `http.server.active_requests`; filters, public-endpoint mode, header
//!   capture, `traceresponse`.
//! - [`client::ClientLayer`] and (feature `reqwest`) `client::TracingMiddleware`:
//!   a CLIENT span per physical attempt with `http.request.resend_count`,
//!   the context injected (with a destination allow-list),
//!   `http.client.request.duration` (opt-in `http.client.active_requests`),
//!   redacted `url.full`, `network.peer.*` from reqwest and (feature
//!   `hyper-util`) hyper-util's legacy client.
//! - `ws` (features `ws`, `tungstenite`): WebSocket servers (axum's `ws`
//!   extractor) and clients (tokio-tungstenite): the upgrade span ends at
//!   `101`, each message is a short span linked to it, the close is
//!   recorded, message spans are sampled and rate-limited per connection.
//! - [`filter`]: ready request filters (health checks, paths, methods,
//!   headers) on `otel_kit_core`'s combinators.
//!
//! Both builders embed the options every builder of the family shares
//! (`otel_kit_core::instrument::Options`), with the same setters as the gRPC and
//! messaging builders: `tracer_provider`, `meter_provider`,
//! `logger_provider` (any API provider; the global ones, set by
//! `otel_kit_core::init`, by default), `propagator`, `capture_request_headers`,
//! `capture_response_headers`, `allow_sensitive_headers`, `semconv_dup` and
//! `exception_signal`. The HTTP-specific options (filter, span name,
//! public endpoint, redaction, ...) are setters of each builder.
//!
//! - The incoming context is extracted **on top of the current context**: a
//!   request without trace headers served inside an outer span becomes its
//!   child; a `traceparent` replaces the outer span, other outer values
//!   (baggage, when the request carries none) stay.
//! - Credentials (`Authorization`, `Cookie`, ...) are never captured unless
//!   `allow_sensitive_headers` names them.
//! - `error.type`: the status code (`"500"`; `"404"` on the client), `panic`
//!   for a caught panic, the full Rust type path of an inner service's or a
//!   body's error (`axum_core::error::Error`), the class reqwest names for
//!   its transport errors (`timeout`, `connect`, ...).
//!
//! `OTEL_SEMCONV_STABILITY_OPT_IN=http/dup` (or `semconv_dup(true)`) adds the
//! old attribute names, `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` replaces
//! the known methods. `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN=logs` (or
//! `logs/dup`, or `exception_signal`) turns exceptions (panics, body and
//! transport errors; never a plain error status) into
//! `http.server.request.exception` (ERROR) and
//! `http.client.request.exception` (WARN) log records in the request's
//! trace, through the logger provider `otel_kit_core::init` installed or the
//! one given to the builders (`logger_provider`).
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use otel_kit_core::testing::Capture;
//! use otel_kit_http::server::ServerLayer;
//! use tower::{Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let capture = Capture::new();
//! let layer = ServerLayer::builder()
//!     .tracer_provider(&capture.tracer_provider())
//!     .meter_provider(&capture.meter_provider())
//!     .build();
//! let mut service = layer.layer(tower::service_fn(|_req: Request<String>| async {
//!     Ok::<_, Infallible>(Response::new(String::from("hello")))
//! }));
//!
//! let response = service
//!     .ready()
//!     .await
//!     .unwrap()
//!     .call(Request::get("/hello").body(String::new()).unwrap())
//!     .await
//!     .unwrap();
//! drop(response); // the span ends with the response body
//!
//! let span = capture.span("GET");
//! span.assert_attr("url.path", "/hello")
//!     .assert_attr("http.response.status_code", 200);
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod attributes;
pub mod client;
mod content_length;
mod error_type;
pub mod filter;
mod redact;
mod scope;
pub mod server;
#[cfg(any(feature = "ws", feature = "tungstenite"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "ws", feature = "tungstenite"))))]
pub mod ws;

pub use attributes::{KNOWN_METHODS_ENV, KnownMethods};
pub use redact::{DEFAULT_SENSITIVE_QUERY_KEYS, REDACTED, Redactor};
pub use scope::SCOPE_NAME;
