//! [`TracedWebSocketUpgrade`]: axum's `WebSocketUpgrade` extractor, traced.

use std::future::Future;

use axum::extract::ws::{
    DefaultOnFailedUpgrade, OnFailedUpgrade, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{FromRequestParts, MatchedPath};
use axum::response::Response;
use http::request::Parts;
use otel_kit_core::opentelemetry::trace::{SpanContext, TraceContextExt};
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::semconv::attribute as sc;

use super::connection::Connection;
use super::instrumentation::WsInstrumentation;
use super::side::Side;
use super::socket::TracedWebSocket;

/// The traced server socket: axum's `WebSocket` in a [`TracedWebSocket`].
pub type WebSocket = TracedWebSocket<axum::extract::ws::WebSocket>;

/// axum's [`WebSocketUpgrade`] extractor, traced: use it in place of
/// axum's in a handler behind [`ServerLayer`](crate::server::ServerLayer).
///
/// The upgrade request is the server layer's ordinary SERVER span, which
/// ends when the `101 Switching Protocols` response is sent (not an error).
/// The socket handed to [`on_upgrade`](Self::on_upgrade) is a
/// [`TracedWebSocket`] whose messages and close are spans linked to that
/// upgrade span, named from the route (`receive /ws`, `send /ws`,
/// `close /ws`).
///
/// The instrumentation comes from a [`WsInstrumentation`] request extension
/// (`axum::Extension`), else [`WsInstrumentation::global`].
///
/// ```no_run
/// use axum::extract::ws::Message;
/// use axum::routing::get;
/// use axum::{Extension, Router};
/// use otel_kit_http::server::ServerLayer;
/// use otel_kit_http::ws::{TracedWebSocketUpgrade, WsInstrumentation};
///
/// async fn echo(ws: TracedWebSocketUpgrade) -> axum::response::Response {
///     ws.on_upgrade(|mut socket| async move {
///         while let Some(Ok(msg)) = socket.recv().await {
///             // Runs inside the message's `receive /ws` span: calls made
///             // here are its children.
///             let reply = msg
///                 .handle(async |m| match m {
///                     Message::Text(t) => Some(Message::text(t.to_uppercase())),
///                     _ => None,
///                 })
///                 .await;
///             if let Some(reply) = reply {
///                 if socket.send(reply).await.is_err() {
///                     break;
///                 }
///             }
///         }
///     })
/// }
///
/// # #[tokio::main] async fn main() {
/// let app = Router::new()
///     .route("/ws", get(echo))
///     .layer(Extension(WsInstrumentation::builder().max_message_spans_per_second(50).build()))
///     .layer(ServerLayer::builder().build());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
/// axum::serve(listener, app).await.unwrap();
/// # }
/// ```
#[must_use]
#[derive(Debug)]
pub struct TracedWebSocketUpgrade<F = DefaultOnFailedUpgrade> {
    inner: WebSocketUpgrade<F>,
    upgrade: SpanContext,
    route: Option<KeyValue>,
    instrumentation: WsInstrumentation,
}

impl<S> FromRequestParts<S> for TracedWebSocketUpgrade<DefaultOnFailedUpgrade>
where
    S: Send + Sync,
{
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let inner = WebSocketUpgrade::from_request_parts(parts, state).await?;
        // The server layer polls the handler inside the request's span.
        let upgrade = Context::current().span().span_context().clone();
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|p| KeyValue::new(sc::HTTP_ROUTE, p.as_str().to_owned()));
        let instrumentation = parts
            .extensions
            .get::<WsInstrumentation>()
            .cloned()
            .unwrap_or_else(WsInstrumentation::global);
        Ok(TracedWebSocketUpgrade {
            inner,
            upgrade,
            route,
            instrumentation,
        })
    }
}

impl<F> TracedWebSocketUpgrade<F> {
    /// Changes the wrapped `WebSocketUpgrade` (buffer sizes, protocols,
    /// `on_failed_upgrade`, ...).
    pub fn map<G>(
        self,
        f: impl FnOnce(WebSocketUpgrade<F>) -> WebSocketUpgrade<G>,
    ) -> TracedWebSocketUpgrade<G> {
        TracedWebSocketUpgrade {
            inner: f(self.inner),
            upgrade: self.upgrade,
            route: self.route,
            instrumentation: self.instrumentation,
        }
    }

    /// The wrapped `WebSocketUpgrade`.
    pub fn get_ref(&self) -> &WebSocketUpgrade<F> {
        &self.inner
    }

    /// Completes the upgrade (the `101` response to return) and calls
    /// `callback` with the traced socket once the connection is upgraded.
    #[must_use = "to set up the WebSocket connection, this response must be returned"]
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
        F: OnFailedUpgrade,
    {
        let TracedWebSocketUpgrade {
            inner,
            upgrade,
            route,
            instrumentation,
        } = self;
        inner.on_upgrade(move |socket| {
            let connection = Connection::open(instrumentation.config, Side::Server, upgrade, route);
            callback(TracedWebSocket::new(socket, connection))
        })
    }
}
