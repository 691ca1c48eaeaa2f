//! Which end of the connection this instrumentation is on.

/// The side of a WebSocket connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The server (axum's `ws` extractor).
    Server,
    /// The client (tokio-tungstenite).
    Client,
}

impl Side {
    /// The `websocket.close.initiator` value of this side.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }

    /// The other side.
    pub(crate) fn peer(self) -> Side {
        match self {
            Side::Server => Side::Client,
            Side::Client => Side::Server,
        }
    }
}
