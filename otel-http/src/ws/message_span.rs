//! The span of one message, and the received message that carries it.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};

use otel_kit_core::instrument::{ErrorRecord, record_error};
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::context::{FutureExt, WithContext};
use otel_kit_core::opentelemetry::trace::TraceContextExt;

/// The span of one message (or none: control frames, unsampled or
/// rate-limited messages), ended on drop.
pub(crate) struct MessageSpan {
    /// The context the message is handled in: its span when it has one.
    pub(crate) cx: Context,
    /// Whether `cx`'s span is this message's, recording.
    pub(crate) recording: bool,
}

impl MessageSpan {
    /// Marks the span failed (a send that failed).
    pub(crate) fn fail(&self, error_type: &'static str) {
        if self.recording {
            record_error(
                &self.cx.span(),
                &ErrorRecord {
                    error_type: error_type.into(),
                    message: None,
                    exception: true,
                },
            );
        }
    }
}

impl Drop for MessageSpan {
    fn drop(&mut self) {
        if self.recording {
            self.cx.span().end();
        }
    }
}

/// A message received on a [`TracedWebSocket`](super::TracedWebSocket),
/// with its `receive` span: the span lasts until this value is dropped, and
/// code run with [`handle`](Self::handle) or [`in_span`](Self::in_span)
/// runs inside it, so the calls it makes (HTTP, gRPC, brokers, databases)
/// are the span's children.
///
/// It dereferences to the message. Control frames, and messages that the
/// per-connection sampling or rate limit leave untraced, carry no span of
/// their own (see [`is_traced`](Self::is_traced)).
///
/// ```no_run
/// # async fn demo(mut socket: otel_kit_http::ws::WebSocket) {
/// use axum::extract::ws::Message;
///
/// while let Some(Ok(msg)) = socket.recv().await {
///     let reply = msg
///         .handle(async |m| match m {
///             Message::Text(t) => Some(Message::text(t.to_uppercase())),
///             _ => None,
///         })
///         .await;
///     if let Some(reply) = reply {
///         let _ = socket.send(reply).await;
///     }
/// }
/// # }
/// ```
pub struct TracedMessage<M> {
    // Dropped first: the span ends after the message is handed out.
    message: M,
    span: MessageSpan,
}

impl<M> TracedMessage<M> {
    pub(crate) fn new(message: M, span: MessageSpan) -> Self {
        TracedMessage { message, span }
    }

    /// The context of the message's span: attach it (or use
    /// [`in_span`](Self::in_span)) to make calls its children.
    pub fn context(&self) -> &Context {
        &self.span.cx
    }

    /// Whether the message has a recording span of its own.
    pub fn is_traced(&self) -> bool {
        self.span.recording
    }

    /// Runs `future` inside the message's span (attached on every poll).
    pub fn in_span<F: Future>(&self, future: F) -> WithContext<F> {
        future.with_context(self.span.cx.clone())
    }

    /// Hands the message to `handler` and runs it inside the message's
    /// span; the span ends when the handler is done.
    pub async fn handle<R>(self, handler: impl AsyncFnOnce(M) -> R) -> R {
        let TracedMessage { message, span } = self;
        let cx = span.cx.clone();
        let out = handler(message).with_context(cx).await;
        drop(span);
        out
    }

    /// The message; its span ends now.
    pub fn into_message(self) -> M {
        self.message
    }
}

impl<M> Deref for TracedMessage<M> {
    type Target = M;

    fn deref(&self) -> &M {
        &self.message
    }
}

impl<M> DerefMut for TracedMessage<M> {
    fn deref_mut(&mut self) -> &mut M {
        &mut self.message
    }
}

impl<M: fmt::Debug> fmt::Debug for TracedMessage<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedMessage")
            .field("message", &self.message)
            .field("traced", &self.span.recording)
            .finish()
    }
}
