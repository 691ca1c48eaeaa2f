//! WebSockets (features `ws` for axum servers, `tungstenite` for
//! tokio-tungstenite clients): a connection that lives for hours stays
//! visible and costs bounded memory.
//!
//! - The upgrade request is an ordinary SERVER (server layer) or CLIENT
//!   ([`WsInstrumentation::connect_async`]) span that ends with the
//!   `101 Switching Protocols` response (not an error).
//! - Each data message received or sent is its own short span:
//!   `receive {http.route}` (CONSUMER) from [`TracedWebSocket::recv`] until
//!   the [`TracedMessage`] is dropped, with the handler run inside it by
//!   [`TracedMessage::handle`]; `send {http.route}` (PRODUCER) around
//!   [`TracedWebSocket::send`], a child of the message being handled. Each
//!   is linked to the upgrade span (a new trace per message; or children
//!   of the upgrade span with
//!   [`messages_in_upgrade_trace`](WsInstrumentationBuilder::messages_in_upgrade_trace)).
//! - [`TracedWebSocket::split`] gives a [`TracedSender`] and a
//!   [`TracedReceiver`] for separate tasks, recording into one connection.
//! - The close is a `close {http.route}` span (INTERNAL, linked likewise):
//!   `websocket.close.code`, `websocket.close.reason`,
//!   `websocket.close.initiator` (`client`/`server`) and the connection's
//!   message totals. A close other than `1000`, `1001`, `1005` or an
//!   application code (`3000`-`4999`), the transport ending without a close
//!   frame (`1006`), an error, or the socket dropped unclosed is an error
//!   (`error.type` = the code, or the error's type).
//! - Optionally, a text message carrying a W3C `traceparent` in a JSON
//!   `"traceparent"` member ([`ENVELOPE_FIELD`]) continues the sender's
//!   trace: its `receive` span is that context's child
//!   ([`trace_context_in_messages`](WsInstrumentationBuilder::trace_context_in_messages)).
//! - Message spans are sampled per connection
//!   ([`message_sampling`](WsInstrumentationBuilder::message_sampling)) and
//!   rate-limited per connection
//!   ([`max_message_spans_per_second`](WsInstrumentationBuilder::max_message_spans_per_second),
//!   100 by default); a message without a span is handled in the upgrade
//!   span's context marked unsampled, so its downstream calls are not
//!   sampled either under a parent-based sampler.
//! - Metrics per side: `websocket.server.active_connections`,
//!   `websocket.server.connection.duration`, `websocket.server.messages`
//!   and `websocket.server.message.bytes` (per `websocket.message.direction`),
//!   and the same `websocket.client.*`.
//!
//! Nothing grows with the connection's age: a connection keeps its upgrade
//! span context, four counters and a token bucket.
//!
//! ```no_run
//! use axum::extract::ws::Message;
//! use axum::routing::get;
//! use axum::Router;
//! use otel_kit_http::server::ServerLayer;
//! use otel_kit_http::ws::TracedWebSocketUpgrade;
//!
//! let app: Router = Router::new()
//!     .route(
//!         "/ws",
//!         get(|ws: TracedWebSocketUpgrade| async move {
//!             ws.on_upgrade(|mut socket| async move {
//!                 while let Some(Ok(msg)) = socket.recv().await {
//!                     let reply = msg
//!                         .handle(async |m| m.to_text().map(|t| t.to_uppercase()).ok())
//!                         .await;
//!                     if let Some(reply) = reply {
//!                         let _ = socket.send(Message::text(reply)).await;
//!                     }
//!                 }
//!             })
//!         }),
//!     )
//!     .layer(ServerLayer::builder().build());
//! # drop(app);
//! ```

#[cfg(feature = "tungstenite")]
mod client;
mod close;
mod connection;
mod envelope;
mod instrumentation;
mod message;
mod message_span;
mod metrics;
mod names;
mod sampling;
mod side;
mod socket;
#[cfg(feature = "ws")]
mod upgrade;

#[cfg(feature = "tungstenite")]
pub use client::{ClientWebSocket, connect_async};
pub use envelope::{ENVELOPE_FIELD, ENVELOPE_SCAN_BYTES, envelope_traceparent};
pub use instrumentation::{
    DEFAULT_MESSAGE_SPANS_PER_SECOND, WsInstrumentation, WsInstrumentationBuilder,
};
pub use message::{MessageKind, WsMessage};
pub use message_span::TracedMessage;
pub use socket::{TracedReceiver, TracedSender, TracedWebSocket};
#[cfg(feature = "ws")]
pub use upgrade::{TracedWebSocketUpgrade, WebSocket};
