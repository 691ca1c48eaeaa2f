//! [`TracedWebSocket`]: a WebSocket whose received and sent messages are
//! spans and whose close is recorded.

use std::fmt;

use std::sync::{Arc, Mutex};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, SinkExt, Stream, StreamExt};

use super::connection::Connection;
use super::message::WsMessage;
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
        let item = self.inner.next().await;
        self.connection.on_received(item)
    }

    /// Sends `message` (and flushes) inside a `send` span. A close message
    /// is recorded as the close, initiated by this side. A failed send marks
    /// the span failed and, the connection being unusable, records an
    /// abnormal close.
    pub async fn send(&mut self, message: M) -> Result<(), E> {
        let span = self.connection.before_send(&message);
        let result = self.inner.send(message).await;
        self.connection.after_send::<E>(span, result.is_err());
        result
    }

    /// Splits the socket into a sender and a receiver that can be used from
    /// different tasks (as `futures::StreamExt::split` does for the
    /// untraced socket); both record into the same connection, whose close
    /// is recorded once (at the latest when both halves are dropped).
    pub fn split(self) -> (TracedSender<S, M>, TracedReceiver<S>) {
        let TracedWebSocket { inner, connection } = self;
        let (sink, stream) = inner.split();
        let connection = Arc::new(Mutex::new(connection));
        (
            TracedSender {
                sink,
                connection: Arc::clone(&connection),
            },
            TracedReceiver { stream, connection },
        )
    }

    /// Unwraps the socket; the connection's close is recorded now, as an
    /// abnormal close if it was not closed yet (`1006`).
    pub fn into_inner(self) -> S {
        let TracedWebSocket { inner, connection } = self;
        drop(connection);
        inner
    }
}

/// The sending half of a [`TracedWebSocket::split`]: [`send`](Self::send)
/// as on the whole socket.
pub struct TracedSender<S, M> {
    sink: SplitSink<S, M>,
    connection: Arc<Mutex<Connection>>,
}

impl<S, M> fmt::Debug for TracedSender<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedSender").finish_non_exhaustive()
    }
}

impl<S, M, E> TracedSender<S, M>
where
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
    M: WsMessage,
{
    /// Sends `message` inside a `send` span (see [`TracedWebSocket::send`]).
    pub async fn send(&mut self, message: M) -> Result<(), E> {
        let span = lock(&self.connection).before_send(&message);
        let result = self.sink.send(message).await;
        lock(&self.connection).after_send::<E>(span, result.is_err());
        result
    }
}

/// The receiving half of a [`TracedWebSocket::split`]:
/// [`recv`](Self::recv) as on the whole socket.
pub struct TracedReceiver<S> {
    stream: SplitStream<S>,
    connection: Arc<Mutex<Connection>>,
}

impl<S> fmt::Debug for TracedReceiver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedReceiver").finish_non_exhaustive()
    }
}

impl<S, M, E> TracedReceiver<S>
where
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
    M: WsMessage,
{
    /// Receives the next message with its span (see
    /// [`TracedWebSocket::recv`]).
    pub async fn recv(&mut self) -> Option<Result<TracedMessage<M>, E>> {
        let item = self.stream.next().await;
        lock(&self.connection).on_received(item)
    }
}

/// The connection's state; a panic elsewhere while it was held leaves it
/// usable (it holds counters only).
fn lock(connection: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    connection
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
