//! [`WsInstrumentation`]: the options of the WebSocket instrumentation,
//! built once and shared by every connection.

use std::fmt;
use std::sync::Arc;

use otel_kit_core::clock::{Clock, MonotonicClock};
use otel_kit_core::instrument::{Options, Propagation, SemconvArea, SpanStarter};

use super::metrics::WsMetrics;
use super::side::Side;

/// Default rate limit of message spans, per connection and second.
pub const DEFAULT_MESSAGE_SPANS_PER_SECOND: u32 = 100;

/// The WebSocket instrumentation: providers, propagator, message-span
/// sampling and rate limit, metrics. Cheap to clone; build it once.
///
/// On the server, give it to the [`TracedWebSocketUpgrade`](super::TracedWebSocketUpgrade)
/// extractor as an axum `Extension` (without one, the extractor uses
/// [`WsInstrumentation::global`]); on the client, connect with
/// [`WsInstrumentation::connect_async`] (feature `tungstenite`).
///
/// ```
/// use otel_kit_http::ws::WsInstrumentation;
///
/// let ws = WsInstrumentation::builder()
///     .message_sampling(0.1)          // one connection in ten traces its messages
///     .max_message_spans_per_second(20) // and at most 20 message spans a second
///     .build();
/// # drop(ws);
/// ```
#[derive(Clone, Debug)]
pub struct WsInstrumentation {
    pub(crate) config: Arc<WsConfig>,
}

/// What a [`WsInstrumentation`] keeps.
pub(crate) struct WsConfig {
    pub(crate) tracer: SpanStarter,
    /// Injects into the client's handshake request.
    #[cfg_attr(not(feature = "tungstenite"), allow(dead_code))]
    pub(crate) propagation: Propagation,
    pub(crate) server_metrics: Option<WsMetrics>,
    pub(crate) client_metrics: Option<WsMetrics>,
    pub(crate) message_spans: bool,
    pub(crate) sampling: f64,
    pub(crate) per_second: Option<u32>,
    pub(crate) in_upgrade_trace: bool,
    pub(crate) envelope: bool,
    pub(crate) clock: Arc<dyn Clock>,
}

impl fmt::Debug for WsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsConfig")
            .field("message_spans", &self.message_spans)
            .field("sampling", &self.sampling)
            .field("per_second", &self.per_second)
            .field("in_upgrade_trace", &self.in_upgrade_trace)
            .finish_non_exhaustive()
    }
}

impl WsConfig {
    pub(crate) fn metrics(&self, side: Side) -> Option<&WsMetrics> {
        match side {
            Side::Server => self.server_metrics.as_ref(),
            Side::Client => self.client_metrics.as_ref(),
        }
    }
}

impl WsInstrumentation {
    /// A builder with the defaults.
    pub fn builder() -> WsInstrumentationBuilder {
        WsInstrumentationBuilder::default()
    }

    /// The defaults, with the global providers and propagator (read now).
    pub fn global() -> Self {
        Self::builder().build()
    }
}

/// Options of a [`WsInstrumentation`].
///
/// The options every builder of the family shares (`tracer_provider`,
/// `meter_provider`, `logger_provider`, `propagator`) come from
/// `otel_kit_core::instrumentation_setters!`.
pub struct WsInstrumentationBuilder {
    options: Options,
    metrics: bool,
    message_spans: bool,
    sampling: f64,
    per_second: Option<u32>,
    in_upgrade_trace: bool,
    envelope: bool,
    clock: Arc<dyn Clock>,
}

impl Default for WsInstrumentationBuilder {
    fn default() -> Self {
        WsInstrumentationBuilder {
            options: crate::scope::options(),
            metrics: true,
            message_spans: true,
            sampling: 1.0,
            per_second: Some(DEFAULT_MESSAGE_SPANS_PER_SECOND),
            in_upgrade_trace: false,
            envelope: false,
            clock: Arc::new(MonotonicClock::new()),
        }
    }
}

impl fmt::Debug for WsInstrumentationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsInstrumentationBuilder")
            .field("options", &self.options)
            .field("message_spans", &self.message_spans)
            .field("sampling", &self.sampling)
            .field("per_second", &self.per_second)
            .finish_non_exhaustive()
    }
}

impl WsInstrumentationBuilder {
    otel_kit_core::instrumentation_setters!(options: providers, propagator);

    /// Whether metrics are recorded (default: on).
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Whether data messages get spans at all (default: on). Off, only the
    /// upgrade and close spans and the metrics remain.
    pub fn message_spans(mut self, on: bool) -> Self {
        self.message_spans = on;
        self
    }

    /// The fraction of connections whose messages get spans (default 1.0),
    /// decided once per connection from its upgrade span, so a traced
    /// connection shows every message (up to the rate limit).
    pub fn message_sampling(mut self, ratio: f64) -> Self {
        self.sampling = ratio;
        self
    }

    /// At most `per_second` message spans per connection and second, in
    /// bursts of at most as many (default:
    /// [`DEFAULT_MESSAGE_SPANS_PER_SECOND`]); messages over the limit are
    /// counted in `websocket.connection.untraced_messages` on the close
    /// span. See [`unlimited_message_spans`](Self::unlimited_message_spans).
    pub fn max_message_spans_per_second(mut self, per_second: u32) -> Self {
        self.per_second = Some(per_second);
        self
    }

    /// No rate limit on message spans.
    pub fn unlimited_message_spans(mut self) -> Self {
        self.per_second = None;
        self
    }

    /// Message and close spans become children of the upgrade span (one
    /// trace per connection) instead of roots of their own traces linked to
    /// it (the default). A connection of hours then makes a trace of hours.
    pub fn messages_in_upgrade_trace(mut self, on: bool) -> Self {
        self.in_upgrade_trace = on;
        self
    }

    /// A received text message whose JSON carries a `"traceparent"` member
    /// (the [envelope](super::ENVELOPE_FIELD), within its first
    /// [`ENVELOPE_SCAN_BYTES`](super::ENVELOPE_SCAN_BYTES)) gets a `receive`
    /// span that is a child of that context, continuing the sender's trace
    /// (still linked to the upgrade span). Default: off.
    pub fn trace_context_in_messages(mut self, on: bool) -> Self {
        self.envelope = on;
        self
    }

    /// The clock of the rate limit (default: the monotonic clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the instrumentation. Providers not given are the global ones,
    /// read now.
    pub fn build(self) -> WsInstrumentation {
        let shared = self.options.resolve(
            SemconvArea::None,
            "http.request.header.",
            "http.response.header.",
        );
        let (server_metrics, client_metrics) = if self.metrics {
            (
                Some(WsMetrics::new(&shared.meter, Side::Server)),
                Some(WsMetrics::new(&shared.meter, Side::Client)),
            )
        } else {
            (None, None)
        };
        WsInstrumentation {
            config: Arc::new(WsConfig {
                tracer: shared.tracer,
                propagation: shared.propagation,
                server_metrics,
                client_metrics,
                message_spans: self.message_spans,
                sampling: self.sampling,
                per_second: self.per_second,
                in_upgrade_trace: self.in_upgrade_trace,
                envelope: self.envelope,
                clock: self.clock,
            }),
        }
    }
}
