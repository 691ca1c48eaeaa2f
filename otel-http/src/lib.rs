//! OpenTelemetry for HTTP in tower services: a server layer for axum and
//! hyper services and a client layer for hyper-util clients and reqwest
//! (through `reqwest-middleware`), with spans and metrics per the stable
//! HTTP semantic conventions.
//!
//! A server (axum; any tower HTTP service the same way):
//!
//! ```rust,no_run
//! use axum::{Router, routing::get};
//! use otel_kit_http::server::ServerLayer;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let telemetry = otel_kit_core::init()?; // providers and propagators from OTEL_*
//!
//!     let app = Router::new()
//!         .route("/users/{id}", get(|| async { "alice" }))
//!         // A SERVER span per request, child of the caller's span; with the
//!         // `axum` feature named from the route: `GET /users/{id}`.
//!         .layer(ServerLayer::new());
//!
//!     let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//!     axum::serve(listener, app)
//!         .with_graceful_shutdown(otel_kit_core::shutdown_signal())
//!         .await?;
//!     telemetry.shutdown().await?; // flushes the spans and metrics
//!     Ok(())
//! }
//! ```
//!
//! A reqwest client (feature `reqwest`): a CLIENT span per attempt, the
//! trace context sent with the request.
//!
#![cfg_attr(feature = "reqwest", doc = "```rust,no_run")]
#![cfg_attr(not(feature = "reqwest"), doc = "```rust,ignore")]
//! use otel_kit_http::client::TracingMiddleware;
//!
//! # async fn call() -> Result<(), Box<dyn std::error::Error>> {
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(TracingMiddleware::new())
//!     .build();
//! let response = client.get("http://inventory:8080/stock/42").send().await?;
//! # let _ = response;
//! # Ok(()) }
//! ```
//!
//! A hyper-util client, or any tower HTTP client service:
//!
//! ```rust,no_run
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use otel_kit_http::client::ClientLayer;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # async fn call() -> Result<(), Box<dyn std::error::Error>> {
//! let client = ServiceBuilder::new()
//!     .layer(ClientLayer::new())
//!     .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
//! let request = http::Request::get("http://inventory:8080/stock/42").body(Full::default())?;
//! let response = client.oneshot(request).await?;
//! # let _ = response;
//! # Ok(()) }
//! ```
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
//! # Checking it in a test
//!
//! `otel_kit_core::testing::Capture` (feature `testing`) records in memory:
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
