//! [`OperationType`], the conventions' `messaging.operation.type`.

#[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
use otel_kit_core::opentelemetry::trace::SpanKind;

/// The `messaging.operation.type` of a span (semconv v1.44 operation model).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperationType {
    /// One message of a batch created: PRODUCER span whose context is the
    /// message's creation context.
    Create,
    /// One or more messages sent: PRODUCER span, or CLIENT for a batch
    /// whose messages carry `create` span contexts.
    Send,
    /// Pull: the application asked for messages: CLIENT span.
    Receive,
    /// Handling of delivered messages: CONSUMER span.
    Process,
    /// ack, nack, reject, term, commit: CLIENT span.
    Settle,
}

impl OperationType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Send => "send",
            Self::Receive => "receive",
            Self::Process => "process",
            Self::Settle => "settle",
        }
    }

    /// The span kind of an operation of this type.
    #[cfg(any(feature = "kafka", feature = "nats", feature = "rabbitmq"))]
    pub(crate) fn kind(self) -> SpanKind {
        match self {
            Self::Create | Self::Send => SpanKind::Producer,
            Self::Receive | Self::Settle => SpanKind::Client,
            Self::Process => SpanKind::Consumer,
        }
    }
}
