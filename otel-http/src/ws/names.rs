//! The project's WebSocket names (`semconv/model/registry/websocket.yaml`,
//! listed in `docs/conventions.md`): one constant per name.

/// `text`, `binary`, `ping`, `pong`, `close`.
pub(crate) const MESSAGE_TYPE: &str = "websocket.message.type";
/// Payload bytes of a message.
pub(crate) const MESSAGE_SIZE: &str = "websocket.message.size";
/// 1-based number of the data message in its direction on the connection.
pub(crate) const MESSAGE_SEQUENCE: &str = "websocket.message.sequence";
/// `receive` or `send` (metrics).
pub(crate) const MESSAGE_DIRECTION: &str = "websocket.message.direction";
/// The close code.
pub(crate) const CLOSE_CODE: &str = "websocket.close.code";
/// The close reason (when not empty).
pub(crate) const CLOSE_REASON: &str = "websocket.close.reason";
/// `client` or `server`: the side that closed.
pub(crate) const CLOSE_INITIATOR: &str = "websocket.close.initiator";
/// Data messages received on the connection (close span).
pub(crate) const RECEIVED_MESSAGES: &str = "websocket.connection.received_messages";
/// Data messages sent on the connection (close span).
pub(crate) const SENT_MESSAGES: &str = "websocket.connection.sent_messages";
/// Data messages that got no span (sampling, rate limit; close span).
pub(crate) const UNTRACED_MESSAGES: &str = "websocket.connection.untraced_messages";

/// `websocket.{side}.active_connections`.
pub(crate) const SERVER_ACTIVE: &str = "websocket.server.active_connections";
pub(crate) const CLIENT_ACTIVE: &str = "websocket.client.active_connections";
/// `websocket.{side}.connection.duration`.
pub(crate) const SERVER_DURATION: &str = "websocket.server.connection.duration";
pub(crate) const CLIENT_DURATION: &str = "websocket.client.connection.duration";
/// `websocket.{side}.messages`.
pub(crate) const SERVER_MESSAGES: &str = "websocket.server.messages";
pub(crate) const CLIENT_MESSAGES: &str = "websocket.client.messages";
/// `websocket.{side}.message.bytes`.
pub(crate) const SERVER_BYTES: &str = "websocket.server.message.bytes";
pub(crate) const CLIENT_BYTES: &str = "websocket.client.message.bytes";
