//! What a log stores: one [`LogRecord`] per saga or transaction instance,
//! one [`LogEntry`] per step or participant, and the span references in
//! them.

use opentelemetry::trace::{SpanContext, TraceState};
use otel_kit_core::opentelemetry;
use otel_kit_core::propagation::TraceParent;
use std::borrow::Cow;
use std::sync::Arc;

/// One saga or transaction instance.
///
/// The states the patterns write are `&'static str`s
/// (`Cow::Borrowed`, no allocation); a log reading them back from storage
/// gives `Cow::Owned`. Span references are kept as [`TraceParent`]s (ids
/// and flags, `Copy`): a log stores them as W3C `traceparent` text with
/// [`TraceParent::encode`] and reads them back with
/// [`TraceParent::parse`] (an unparsable stored value reads as `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Instance id (`saga.id`, `2pc.id`), unique in the log.
    pub id: String,
    /// `saga` or `2pc`.
    pub kind: Cow<'static, str>,
    /// Definition name (`saga.name`, `2pc.name`).
    pub name: String,
    /// The input, as JSON.
    pub payload: String,
    /// The instance state (see the saga and 2PC docs for the values).
    pub status: Cow<'static, str>,
    /// The instance's root span.
    pub span: Option<TraceParent>,
}

/// One step of a saga or one participant of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Position (0-based).
    pub index: u32,
    /// Step or participant name (shared with the definition).
    pub name: Arc<str>,
    /// Its state.
    pub state: Cow<'static, str>,
    /// The span of its last action.
    pub span: Option<TraceParent>,
    /// The `error.type` of its failure, if any.
    pub error: Option<String>,
}

/// An instance and its entries, as stored.
pub type LoggedInstance = (LogRecord, Vec<LogEntry>);

/// The span reference stored in the log for a span context (`None` when
/// it is invalid).
pub fn to_traceparent(sc: &SpanContext) -> Option<TraceParent> {
    TraceParent::from_span_context(sc)
}

/// The remote span context a stored span reference stands for.
pub fn from_traceparent(tp: TraceParent) -> SpanContext {
    tp.to_span_context(TraceState::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let s = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let sc = from_traceparent(TraceParent::parse(s).unwrap());
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(to_traceparent(&sc).unwrap().encode().as_str(), s);
        assert!(to_traceparent(&SpanContext::empty_context()).is_none());
    }
}
