//! The WebSocket metrics of one side: open connections, connection
//! duration, messages and bytes per direction; on the client, the
//! handshake's `http.client.request.duration` (the server's is the HTTP
//! server layer's, around the upgrade request).

use otel_kit_core::instrument::duration_histogram;
use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::metrics::{Counter, Histogram, Meter, UpDownCounter};

use super::names;
use super::side::Side;

/// The instruments of one side (server or client).
#[derive(Debug)]
pub(crate) struct WsMetrics {
    active: UpDownCounter<i64>,
    duration: Histogram<f64>,
    messages: Counter<u64>,
    bytes: Counter<u64>,
    /// Client only: `http.client.request.duration` of the handshake.
    handshake: Option<Histogram<f64>>,
}

impl WsMetrics {
    pub(crate) fn new(meter: &Meter, side: Side) -> Self {
        let (active, duration, messages, bytes) = match side {
            Side::Server => (
                names::SERVER_ACTIVE,
                names::SERVER_DURATION,
                names::SERVER_MESSAGES,
                names::SERVER_BYTES,
            ),
            Side::Client => (
                names::CLIENT_ACTIVE,
                names::CLIENT_DURATION,
                names::CLIENT_MESSAGES,
                names::CLIENT_BYTES,
            ),
        };
        WsMetrics {
            active: meter
                .i64_up_down_counter(active)
                .with_unit("{connection}")
                .with_description("Open WebSocket connections.")
                .build(),
            duration: duration_histogram(meter, duration, "Duration of WebSocket connections."),
            messages: meter
                .u64_counter(messages)
                .with_unit("{message}")
                .with_description("WebSocket messages, per direction and type.")
                .build(),
            bytes: meter
                .u64_counter(bytes)
                .with_unit("By")
                .with_description("WebSocket message payload bytes, per direction.")
                .build(),
            handshake: (side == Side::Client).then(|| crate::client::request_duration(meter)),
        }
    }

    /// The client's handshake took `seconds`; `attrs` are the HTTP client
    /// metric's (method, server, status or `error.type`, template).
    pub(crate) fn handshake(&self, seconds: f64, attrs: &[KeyValue]) {
        if let Some(h) = &self.handshake {
            h.record(seconds, attrs);
        }
    }

    /// A connection opened (`route`: `http.route` or `url.template`).
    pub(crate) fn opened(&self, route: &[KeyValue]) {
        self.active.add(1, route);
    }

    /// A connection closed after `seconds`; `error_type` for an abnormal
    /// close.
    pub(crate) fn closed(&self, route: &[KeyValue], seconds: f64, error_type: Option<&str>) {
        self.active.add(-1, route);
        match error_type {
            None => self.duration.record(seconds, route),
            Some(e) => {
                let mut attrs = route.to_vec();
                attrs.push(KeyValue::new(
                    otel_kit_core::semconv::attribute::ERROR_TYPE,
                    e.to_owned(),
                ));
                self.duration.record(seconds, &attrs);
            }
        }
    }

    /// One message of `kind` and `bytes` in `direction` (`receive`/`send`).
    pub(crate) fn message(
        &self,
        route: Option<&KeyValue>,
        direction: &'static str,
        kind: &'static str,
        bytes: usize,
    ) {
        let dir = KeyValue::new(names::MESSAGE_DIRECTION, direction);
        let kind = KeyValue::new(names::MESSAGE_TYPE, kind);
        match route {
            Some(r) => {
                let attrs = [r.clone(), dir, kind];
                self.messages.add(1, &attrs);
                self.bytes.add(bytes as u64, &attrs[..2]);
            }
            None => {
                let attrs = [dir, kind];
                self.messages.add(1, &attrs);
                self.bytes.add(bytes as u64, &attrs[..1]);
            }
        }
    }
}
