//! [`TracedWebSocket`]: a WebSocket whose received and sent messages are
//! spans and whose close is recorded.

use std::fmt;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use otel_kit_core::instrument::type_error_type;

use super::close::CloseEvent;
use super::connection::{Connection, Direction};
use super::message::{MessageKind, WsMessage};
use super::message_span::TracedMessage;

/// A traced WebSocket: axum's `WebSocket` on the server
/// ([`WebSocket`](super::WebSocket), from
/// [`TracedWebSocketUpgrade`](super::TracedWebSocketUpgrade)) or
/// tokio-tungstenite's stream on the client
/// ([`ClientWebSocket`](super::ClientWebSocket), from
/// [`connect_async`](super::WsInstrumentation::connect_async)).
///
/// - [`recv`](Self::recv) returns each message as a [`TracedMessage`] with
///   its `receive` span (CONSUMER), linked to the upgrade span;
/// - [`send`](Self::send) makes a `send` span (PRODUCER) around the write,
///   a child of the current span (sent with
///   `msg.in_span(socket.send(reply))`: the received message's span), else
///   a root linked to the upgrade span;
/// - the close (a close frame either way, the transport ending, an error,
///   or this value dropped without a close) is recorded once as a `close`
///   span with the code, reason, initiator and message totals; an abnormal
///   close is an error.
///
/// Control frames (ping, pong, close) are counted in the metrics but get no
/// span.
pub struct TracedWebSocket<S> {
    inner: S,
    connection: Connection,
}

impl<S> fmt::Debug for TracedWebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedWebSocket")
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl<S> TracedWebSocket<S> {
    pub(crate) fn new(inner: S, connection: Connection) -> Self {
        TracedWebSocket { inner, connection }
    }

    /// The wrapped socket.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped socket, mutably (what goes through it directly is not
    /// traced).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S, M, E> TracedWebSocket<S>
where
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
    M: WsMessage,
{
    /// Receives the next message with its span; `None` once the connection
    /// is closed. A close frame from the peer is recorded as the close
    /// (initiated by the peer, unless this side closed first); the stream
    /// ending without one, or an error, as an abnormal close.
    pub async fn recv(&mut self) -> Option<Result<TracedMessage<M>, E>> {
        match self.inner.next().await {
            Some(Ok(message)) => {
                let kind = message.kind();
                if kind == MessageKind::Close {
                    let peer = self.connection.side().peer();
                    let (code, reason) = message.close_frame().unwrap_or((1005, ""));
                    self.connection
                        .close(CloseEvent::with_code(code, reason, Some(peer)));
                }
                let span = self
                    .connection
                    .message(Direction::Receive, kind, message.payload_len());
                Some(Ok(TracedMessage::new(message, span)))
            }
            Some(Err(e)) => {
                let peer = self.connection.side().peer();
                self.connection
                    .close_abnormal(peer, Some(type_error_type::<E>()));
                Some(Err(e))
            }
            None => {
                let peer = self.connection.side().peer();
                self.connection.close_abnormal(peer, None);
                None
            }
        }
    }

    /// Sends `message` (and flushes) inside a `send` span. A close message
    /// is recorded as the close, initiated by this side. A failed send marks
    /// the span failed and, the connection being unusable, records an
    /// abnormal close.
    pub async fn send(&mut self, message: M) -> Result<(), E> {
        let kind = message.kind();
        if kind == MessageKind::Close {
            let side = self.connection.side();
            let (code, reason) = message.close_frame().unwrap_or((1005, ""));
            self.connection
                .close(CloseEvent::with_code(code, reason, Some(side)));
        }
        let span = self
            .connection
            .message(Direction::Send, kind, message.payload_len());
        let result = self.inner.send(message).await;
        if result.is_err() {
            let error_type = type_error_type::<E>();
            span.fail(error_type);
            if !self.connection.is_closed() {
                let side = self.connection.side();
                self.connection.close_abnormal(side, Some(error_type));
            }
        }
        drop(span);
        result
    }

    /// Unwraps the socket; the connection's close is recorded now, as an
    /// abnormal close if it was not closed yet (`1006`).
    pub fn into_inner(self) -> S {
        let TracedWebSocket { inner, connection } = self;
        drop(connection);
        inner
    }
}
