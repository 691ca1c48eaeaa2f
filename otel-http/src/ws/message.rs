//! What the instrumentation reads from a WebSocket message, for axum's and
//! tungstenite's message types alike.

/// The kind of a WebSocket message (`websocket.message.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A text message.
    Text,
    /// A binary message.
    Binary,
    /// A ping control frame.
    Ping,
    /// A pong control frame.
    Pong,
    /// A close control frame.
    Close,
}

impl MessageKind {
    /// The `websocket.message.type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Binary => "binary",
            MessageKind::Ping => "ping",
            MessageKind::Pong => "pong",
            MessageKind::Close => "close",
        }
    }

    /// Whether the message carries application data (text or binary): only
    /// those get a message span.
    pub fn is_data(self) -> bool {
        matches!(self, MessageKind::Text | MessageKind::Binary)
    }
}

/// A WebSocket message type the instrumentation can read: implemented for
/// `axum::extract::ws::Message` (feature `ws`) and
/// `tokio_tungstenite::tungstenite::Message` (feature `tungstenite`).
pub trait WsMessage: Send + 'static {
    /// The message's kind.
    fn kind(&self) -> MessageKind;
    /// The payload length in bytes (a close frame: its code and reason).
    fn payload_len(&self) -> usize;
    /// The code and reason of a close frame (`None`: not a close message,
    /// or a close without a code).
    fn close_frame(&self) -> Option<(u16, &str)>;
    /// The text of a text message.
    fn text(&self) -> Option<&str>;
}

#[cfg(feature = "ws")]
impl WsMessage for axum::extract::ws::Message {
    fn kind(&self) -> MessageKind {
        use axum::extract::ws::Message;
        match self {
            Message::Text(_) => MessageKind::Text,
            Message::Binary(_) => MessageKind::Binary,
            Message::Ping(_) => MessageKind::Ping,
            Message::Pong(_) => MessageKind::Pong,
            Message::Close(_) => MessageKind::Close,
        }
    }

    fn payload_len(&self) -> usize {
        use axum::extract::ws::Message;
        match self {
            Message::Text(t) => t.len(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
            Message::Close(Some(f)) => 2 + f.reason.len(),
            Message::Close(None) => 0,
        }
    }

    fn close_frame(&self) -> Option<(u16, &str)> {
        match self {
            axum::extract::ws::Message::Close(Some(f)) => Some((f.code, f.reason.as_str())),
            _ => None,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            axum::extract::ws::Message::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }
}

#[cfg(feature = "tungstenite")]
impl WsMessage for tokio_tungstenite::tungstenite::Message {
    fn kind(&self) -> MessageKind {
        use tokio_tungstenite::tungstenite::Message;
        match self {
            Message::Text(_) => MessageKind::Text,
            // A raw frame is never read; written, it is data.
            Message::Binary(_) | Message::Frame(_) => MessageKind::Binary,
            Message::Ping(_) => MessageKind::Ping,
            Message::Pong(_) => MessageKind::Pong,
            Message::Close(_) => MessageKind::Close,
        }
    }

    fn payload_len(&self) -> usize {
        use tokio_tungstenite::tungstenite::Message;
        match self {
            Message::Text(t) => t.len(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
            Message::Close(Some(f)) => 2 + f.reason.len(),
            Message::Close(None) => 0,
            Message::Frame(f) => f.payload().len(),
        }
    }

    fn close_frame(&self) -> Option<(u16, &str)> {
        match self {
            tokio_tungstenite::tungstenite::Message::Close(Some(f)) => {
                Some((u16::from(f.code), f.reason.as_str()))
            }
            _ => None,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            tokio_tungstenite::tungstenite::Message::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }
}
