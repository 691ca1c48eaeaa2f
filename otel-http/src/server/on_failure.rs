//! Step 5b: a failed request, recorded with the family's one rule
//! (`otel_kit_core::instrument::record_exception`).

use std::borrow::Cow;

use otel_kit_core::instrument::{ErrorRecord, ExceptionEvent, record_exception};
use otel_kit_core::opentelemetry::trace::TraceContextExt;

use super::finish::Finisher;

/// `error.type` of a caught panic.
pub(crate) const PANIC: &str = "panic";

impl Finisher {
    /// Marks the request failed: `error.type` on span and metrics, status
    /// Error with `message`, and for an `exception` (a panic, an error the
    /// inner service or the body returned; not a status code) an exception
    /// event or log record per the exception signal.
    pub(crate) fn on_failure(
        &mut self,
        error_type: Cow<'static, str>,
        message: Option<String>,
        exception: bool,
    ) {
        record_exception(
            &self.cx.span(),
            &ErrorRecord {
                error_type: Cow::Borrowed(&error_type),
                message: message.map(Cow::Owned),
                exception,
            },
            &self.config.exceptions,
            ExceptionEvent::HTTP_SERVER,
        );
        self.error_type = Some(error_type);
    }
}
