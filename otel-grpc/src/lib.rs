//! OpenTelemetry for tonic gRPC servers and clients: tower layers that make
//! every call a span and a duration measurement, per the RPC semantic
//! conventions v1.44, and carry the trace through gRPC metadata.
//!
//! ```rust,no_run
//! use otel_kit_grpc::{GrpcClientLayer, GrpcServerLayer};
//! use tonic::transport::{Channel, Server};
//! use tower::ServiceBuilder;
//! # use std::convert::Infallible;
//! # use tonic::body::Body;
//! # mod orders_client {
//! #     // Stands in for the client tonic-build generates, with its bounds.
//! #     pub struct OrdersClient<T>(tonic::client::Grpc<T>);
//! #     impl<T> OrdersClient<T>
//! #     where
//! #         T: tonic::client::GrpcService<tonic::body::Body>,
//! #         T::Error: Into<otel_kit_grpc::BoxError>,
//! #         T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
//! #         <T::ResponseBody as http_body::Body>::Error: Into<otel_kit_grpc::BoxError> + Send,
//! #     {
//! #         pub fn new(inner: T) -> Self {
//! #             Self(tonic::client::Grpc::new(inner))
//! #         }
//! #     }
//! # }
//! # use orders_client::OrdersClient;
//! # async fn run<S>(orders_server: S) -> Result<(), otel_kit_grpc::BoxError>
//! # where
//! #     S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
//! #         + tonic::server::NamedService + Clone + Send + Sync + 'static,
//! #     S::Future: Send + 'static,
//! # {
//! let telemetry = otel_kit_core::init()?; // providers and propagators from OTEL_*
//!
//! // Server: a SERVER span per call, child of the caller's span from the
//! // metadata. `orders_server` is your tonic-build service,
//! // `OrdersServer::new(MyOrders)`.
//! Server::builder()
//!     .layer(GrpcServerLayer::new())
//!     .add_service(orders_server)
//!     .serve_with_shutdown("0.0.0.0:50051".parse()?, otel_kit_core::shutdown_signal())
//!     .await?;
//!
//! // Client: a CLIENT span per call, its context sent in the metadata.
//! let channel = Channel::from_static("http://orders:50051").connect().await?;
//! let traced = ServiceBuilder::new()
//!     .layer(GrpcClientLayer::builder().target("http://orders:50051").build())
//!     .service(channel);
//! let mut orders = OrdersClient::new(traced);
//! // orders.get_order(GetOrderRequest { id: 7 }).await?
//! # let _ = &mut orders;
//!
//! telemetry.shutdown().await?; // flushes the spans and metrics
//! # Ok(()) }
//! ```
//!
//! - [`GrpcServerLayer`] — `tonic::transport::Server::builder().layer(GrpcServerLayer::new())`.
//!   A SERVER span per call, child of the caller's context (or a new root
//!   linked to it in [public-endpoint mode](LayerBuilder::public_endpoint)); the
//!   handler — unary or streaming — runs with the span as its current context.
//! - [`GrpcClientLayer`] — `ServiceBuilder::new().layer(GrpcClientLayer::builder().target(t).build()).service(channel)`,
//!   then `MyClient::new(svc)`. A CLIENT span per call, its context injected
//!   with the configured propagators (W3C, B3, Jaeger, mesh headers) —
//!   only to the destinations of a [`propagate_to`](LayerBuilder::propagate_to)
//!   allow-list when one is set.
//!
//! Both sides, for unary, client-streaming, server-streaming and
//! bidirectional calls:
//!
//! - one span for the whole call, named `{rpc.method}` (`pkg.Service/Method`),
//!   with `rpc.system.name=grpc`, `rpc.method`, `server.address` /
//!   `server.port` (client: from the [target](LayerBuilder::target), see
//!   [`ServerAddress`]; server: from the `:authority`);
//! - the status from the trailers (or a trailers-only response, or the HTTP
//!   status, or the transport error): `rpc.response.status_code` is the code
//!   name; span status Error and `error.type` per the client table (every
//!   code but `OK`) or the server table ([`status::is_server_error`]);
//! - the span ends when the trailers are sent / received, or when the call
//!   is cancelled (a dropped future or stream, a reset stream): `CANCELLED`;
//! - `rpc.server.call.duration` / `rpc.client.call.duration` (seconds, the
//!   advisory buckets) with `rpc.system.name`, `rpc.method`,
//!   `rpc.response.status_code`, `error.type` and (client) `server.*`.
//!
//! `error.type`, by the rule every layer of the family follows
//! (`otel_kit_core::instrument`): a gRPC status is the call's outcome, its code
//! name (`NOT_FOUND`, `UNAVAILABLE`, `CANCELLED`, ...) per the side's table,
//! and no exception. An error raised instead of a status is an exception
//! (an `exception` span event and/or a `rpc.{server,client}.call.exception`
//! log record, per [`exception_signal`](LayerBuilder::exception_signal)):
//! its `error.type` is the code name when the error is a `tonic::Status`,
//! else its Rust type (a transport failure of a tonic `Channel`:
//! `tonic::transport::error::Error`; a failing handler: its error type,
//! `_OTHER` for a boxed error), with `rpc.response.status_code` the status
//! tonic reports for it (connection refused: `UNAVAILABLE`).
//!
//! `network.peer.address` / `network.peer.port`: on the server, the
//! connection's peer from tonic's `TcpConnectInfo` (or a named Unix socket
//! peer; feature `connect-info`, on by default); on the client, the target
//! when it is an IP literal (the layer does not see the socket; a target by
//! name gets none).
//!
//! With `OTEL_SEMCONV_STABILITY_OPT_IN=rpc/dup` (or
//! [`semconv_dup`](LayerBuilder::semconv_dup)) the old names are emitted
//! too: `rpc.system`, `rpc.service`, integer `rpc.grpc.status_code`, the
//! `rpc.message` events (SENT / RECEIVED, per-direction ids, sizes) and the
//! `rpc.{server,client}.duration` histograms in ms. `rpc.method` is the one
//! key both conventions use with different values: in dup mode the span
//! carries the old short form (`GetOrder`), while the span name and the new
//! histogram keep the fully qualified name.
//!
//! # Options ([`LayerBuilder`])
//!
//! The first rows are the options every layer of the family shares, with
//! the same names and types (`otel_kit_core::instrument::Options`).
//!
//! | setter | side | default |
//! |---|---|---|
//! | [`tracer_provider`](LayerBuilder::tracer_provider), [`meter_provider`](LayerBuilder::meter_provider), [`logger_provider`](LayerBuilder::logger_provider) (any API provider) | both | the global ones (`otel_kit_core::init`) |
//! | [`propagator`](LayerBuilder::propagator) | both | the global one; extraction is on top of the current context |
//! | [`capture_request_headers`](LayerBuilder::capture_request_headers), [`capture_response_headers`](LayerBuilder::capture_response_headers) (metadata keys, `rpc.{request,response}.metadata.<key>`) | both | none |
//! | [`allow_sensitive_headers`](LayerBuilder::allow_sensitive_headers) (`authorization`, `cookie`, ... are refused unless named here) | both | none |
//! | [`semconv_dup`](LayerBuilder::semconv_dup) | both | `rpc/dup` in `OTEL_SEMCONV_STABILITY_OPT_IN` |
//! | [`exception_signal`](LayerBuilder::exception_signal) | both | `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN` |
//! | [`filter`](LayerBuilder::filter) on the method ([`filter`] module; combine with `otel_kit_core::instrument::{any, all, not}`) | both | every call |
//! | [`known_methods`](LayerBuilder::known_methods) (others become `_OTHER` with `rpc.method_original`) | both | every well-formed method |
//! | [`public_endpoint`](LayerBuilder::public_endpoint) (new root linked to the caller) | server | off |
//! | [`target`](LayerBuilder::target), [`server_address`](LayerBuilder::server_address) | client | the request URI's authority |
//! | [`propagate_to`](LayerBuilder::propagate_to) (destination allow-list) | client | everywhere |
//!
//! # Checking it in a test
//!
//! `otel_kit_core::testing::Capture` (feature `testing`) records in memory.
//! A client layer and a server layer around an in-process handler that
//! answers `NOT_FOUND` (a trailers-only response): one trace, two spans.
//!
//! ```
//! use otel_kit_core::opentelemetry::trace::SpanKind;
//! use otel_kit_core::testing::{Capture, assert_parent};
//! use otel_kit_core::propagation::TraceContextPropagator;
//! use otel_kit_grpc::{GrpcClientLayer, GrpcServerLayer};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // In a service: `otel_kit_core::init()?` and the defaults (global providers).
//! let capture = Capture::new();
//! let server = GrpcServerLayer::builder()
//!     .tracer_provider(&capture.tracer_provider())
//!     .meter_provider(&capture.meter_provider())
//!     .propagator(TraceContextPropagator::new())
//!     .build();
//! let client = GrpcClientLayer::builder()
//!     .target("http://orders.internal:50051")
//!     .tracer_provider(&capture.tracer_provider())
//!     .meter_provider(&capture.meter_provider())
//!     .propagator(TraceContextPropagator::new())
//!     .build();
//!
//! let handler = service_fn(|_req: http::Request<tonic::body::Body>| async {
//!     let status = tonic::Status::not_found("no such order");
//!     Ok::<_, std::convert::Infallible>(status.into_http::<tonic::body::Body>())
//! });
//! let stack = ServiceBuilder::new().layer(client).layer(server).service(handler);
//!
//! let request = http::Request::post("/shop.Orders/GetOrder").body(tonic::body::Body::empty())?;
//! let response = stack.oneshot(request).await?;
//! assert_eq!(response.headers()["grpc-status"], "5");
//!
//! let server_span = capture.find(|s| s.kind() == SpanKind::Server).unwrap();
//! let client_span = capture.find(|s| s.kind() == SpanKind::Client).unwrap();
//! assert_parent(&server_span, &client_span);
//! client_span
//!     .assert_attr("rpc.method", "shop.Orders/GetOrder")
//!     .assert_attr("rpc.response.status_code", "NOT_FOUND")
//!     .assert_attr("server.address", "orders.internal")
//!     .assert_attr("error.type", "NOT_FOUND")
//!     .assert_error();
//! server_span.assert_attr("rpc.response.status_code", "NOT_FOUND").assert_not_error();
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod call;
mod client;
mod config;
pub mod filter;
mod method;
mod names;
mod peer;
mod server;
pub mod status;
mod target;

pub use body::GrpcBody;
pub use client::{ClientResponseFuture, GrpcClientLayer, GrpcClientService};
pub use config::{ClientSide, LayerBuilder, ServerSide};
pub use names::{REQUEST_METADATA_PREFIX, RESPONSE_METADATA_PREFIX};
pub use server::{GrpcServerLayer, GrpcServerService, ServerResponseFuture};
pub use target::ServerAddress;

/// The boxed error type of the client service (a `tonic::Status` for
/// failures of the inner service).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
