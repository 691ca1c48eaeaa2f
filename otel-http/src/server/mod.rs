//! The server middleware: a SERVER span and the server metrics per request.
//!
//! [`ServerLayer`] wraps any tower HTTP service (an axum `Router` through
//! `Router::layer`, a hyper service through `tower::ServiceBuilder`). Each
//! request goes through the named steps of [`ServerService`]'s `call`, one
//! file each:
//!
//! 1. `extract` (`extract.rs`): the remote context (trace, baggage, mesh
//!    headers) with the configured propagator (the global one by default),
//!    **on top of the current context**; a request the filter skips gets
//!    neither span nor metrics, but this context is still attached so calls
//!    made while handling it propagate it;
//! 2. `span_name` (`span_name.rs`): `{method} {route}` from the route
//!    template (`{method}` alone when no template is known, never the raw
//!    path), from the bounded route cache (`route_cache.rs`);
//! 3. `make_span` (`make_span.rs`): the SERVER span, child of the extracted
//!    context or, in public-endpoint mode, a new root linked to it; the
//!    request attributes (`request_attributes.rs`) are built only when it
//!    records;
//! 4. `call_inner` (`service.rs`): the inner service called with the span's
//!    context attached (in `call` and on every poll, `future.rs`), a panic
//!    caught (a 500 response, configurable);
//! 5. `on_response` / `on_failure` (`on_response.rs`, `on_failure.rs`): the
//!    status code, captured response headers, `error.type` and status;
//! 6. `finish` (`finish.rs`): the span ends and `http.server.request.duration`
//!    is recorded (`metrics.rs`) when the response body (`body.rs`) has been
//!    fully sent, failed, or was dropped; with a [`StreamPolicy`], a long
//!    stream ends the span earlier (`stream_policy.rs`).
//!
//! `error.type` values this layer emits, per the family's rule: the status
//! code (`"500"`) for a 5xx response, `panic` for a caught panic, the inner
//! service's error type (its full path, `std::any::type_name`) when it
//! returns an error, and the body error's full type path when the response
//! body fails (see [`ResponseBody`]).
//!
//! The route template comes from axum's `MatchedPath` (feature `axum`; apply
//! the layer with `Router::layer` so routing has happened, nested routers
//! included) or from an [`HttpRoute`] request extension set by any other
//! router.

mod body;
mod builder;
mod config;
mod extract;
mod finish;
mod future;
mod layer;
mod make_span;
mod metrics;
mod on_failure;
mod on_response;
mod request;
mod request_attributes;
mod route_cache;
mod service;
mod span_name;
mod stream_policy;

use std::borrow::Cow;

pub use body::ResponseBody;
pub use builder::ServerLayerBuilder;
pub use future::ResponseFuture;
pub use layer::ServerLayer;
pub use service::ServerService;
pub use stream_policy::StreamPolicy;

/// The route template of a request (`/users/{id}`), as a request extension,
/// for routers other than axum: set it before the server layer runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRoute(pub Cow<'static, str>);

/// The socket address of the peer, as a request extension, for servers
/// other than axum (axum's `ConnectInfo<SocketAddr>` is read with feature
/// `axum`): `network.peer.address` / `network.peer.port`, and the fallback of
/// `client.address`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);
