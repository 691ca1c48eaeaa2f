//! [`CapturedLog`]: a log record emitted through the capture's logger provider.

use std::ops::Deref;

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::logs::SdkLogRecord;

/// A log record captured by [`Capture`](super::Capture), with lookups.
///
/// It dereferences to the SDK's [`SdkLogRecord`].
#[derive(Clone, Debug)]
pub struct CapturedLog {
    record: SdkLogRecord,
    scope: InstrumentationScope,
}

impl CapturedLog {
    pub(crate) fn new(record: SdkLogRecord, scope: InstrumentationScope) -> Self {
        Self { record, scope }
    }

    /// The SDK record.
    pub fn record(&self) -> &SdkLogRecord {
        &self.record
    }

    /// The logger (instrumentation scope) that emitted the record.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.scope
    }

    /// The body, if it is a string.
    pub fn body_str(&self) -> Option<&str> {
        match self.record.body() {
            Some(AnyValue::String(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The event name (`http.server.request.exception`, ...), if any.
    pub fn event_name(&self) -> Option<&'static str> {
        self.record.event_name()
    }

    /// The severity number.
    pub fn severity(&self) -> Option<Severity> {
        self.record.severity_number()
    }

    /// Attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&AnyValue> {
        self.record
            .attributes_iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    /// The trace the record was emitted in, if any.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.record
            .trace_context()
            .map(|cx| cx.trace_id)
            .filter(|id| *id != TraceId::INVALID)
    }

    /// The span the record was emitted in, if any.
    pub fn span_id(&self) -> Option<SpanId> {
        self.record
            .trace_context()
            .map(|cx| cx.span_id)
            .filter(|id| *id != SpanId::INVALID)
    }
}

impl Deref for CapturedLog {
    type Target = SdkLogRecord;

    fn deref(&self) -> &SdkLogRecord {
        &self.record
    }
}
