//! Exceptions as log records: the preferred form of the semantic conventions
//! (`OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN` = `logs` or `logs/dup`).

use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::SystemTime;

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::{LogRecord as _, Logger, LoggerProvider, Severity};
use opentelemetry::trace::SpanContext;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_semantic_conventions::attribute as sc;

use super::error_record::ErrorRecord;
use crate::config::{ExceptionSignal, semconv_stability};

/// The event name and severity of one kind of exception log record, as the
/// conventions name them per area (`http.server.request.exception`, ERROR;
/// `rpc.client.call.exception`, WARN; ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExceptionEvent {
    /// The log record's event name.
    pub name: &'static str,
    /// Its severity.
    pub severity: Severity,
}

impl ExceptionEvent {
    /// `http.client.request.exception` (WARN).
    pub const HTTP_CLIENT: ExceptionEvent = ExceptionEvent::warn("http.client.request.exception");
    /// `http.server.request.exception` (ERROR).
    pub const HTTP_SERVER: ExceptionEvent = ExceptionEvent::error("http.server.request.exception");
    /// `rpc.client.call.exception` (WARN).
    pub const RPC_CLIENT: ExceptionEvent = ExceptionEvent::warn("rpc.client.call.exception");
    /// `rpc.server.call.exception` (ERROR).
    pub const RPC_SERVER: ExceptionEvent = ExceptionEvent::error("rpc.server.call.exception");
    /// `messaging.send.exception` (WARN).
    pub const MESSAGING_SEND: ExceptionEvent = ExceptionEvent::warn("messaging.send.exception");
    /// `messaging.create.exception` (WARN).
    pub const MESSAGING_CREATE: ExceptionEvent = ExceptionEvent::warn("messaging.create.exception");
    /// `messaging.receive.exception` (WARN).
    pub const MESSAGING_RECEIVE: ExceptionEvent =
        ExceptionEvent::warn("messaging.receive.exception");
    /// `messaging.settle.exception` (WARN).
    pub const MESSAGING_SETTLE: ExceptionEvent = ExceptionEvent::warn("messaging.settle.exception");
    /// `messaging.process.exception` (ERROR).
    pub const MESSAGING_PROCESS: ExceptionEvent =
        ExceptionEvent::error("messaging.process.exception");

    /// A WARN-level event (failures a caller sees: clients, producers).
    pub const fn warn(name: &'static str) -> Self {
        ExceptionEvent {
            name,
            severity: Severity::Warn,
        }
    }

    /// An ERROR-level event (failures a server or handler raised).
    pub const fn error(name: &'static str) -> Self {
        ExceptionEvent {
            name,
            severity: Severity::Error,
        }
    }
}

/// Emits exception log records through some API logger.
trait ExceptionLogger: Send + Sync {
    fn emit(&self, span: &SpanContext, event: ExceptionEvent, record: &ErrorRecord<'_>);
}

struct ApiLogger<L>(L);

impl<L: Logger + Send + Sync> ExceptionLogger for ApiLogger<L> {
    fn emit(&self, span: &SpanContext, event: ExceptionEvent, record: &ErrorRecord<'_>) {
        let mut log = self.0.create_log_record();
        log.set_event_name(event.name);
        log.set_severity_number(event.severity);
        log.set_severity_text(event.severity.name());
        log.set_timestamp(SystemTime::now());
        if span.is_valid() {
            log.set_trace_context(span.trace_id(), span.span_id(), Some(span.trace_flags()));
        }
        log.add_attribute(sc::EXCEPTION_TYPE, record.error_type.to_string());
        if let Some(m) = &record.message {
            log.add_attribute(sc::EXCEPTION_MESSAGE, m.to_string());
        }
        self.0.emit(log);
    }
}

/// A logger for exception records, from any API logger provider: what a
/// builder's `logger_provider` setter keeps. Cheap to clone.
#[derive(Clone)]
pub struct ExceptionLoggerHandle {
    logger: Arc<dyn ExceptionLogger>,
}

impl fmt::Debug for ExceptionLoggerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExceptionLoggerHandle(..)")
    }
}

impl ExceptionLoggerHandle {
    /// A logger of `provider` for `scope`.
    pub fn new<P>(provider: &P, scope: InstrumentationScope) -> Self
    where
        P: LoggerProvider,
        P::Logger: Send + Sync + 'static,
    {
        ExceptionLoggerHandle {
            logger: Arc::new(ApiLogger(provider.logger_with_scope(scope))),
        }
    }
}

/// Where a layer records exceptions: `exception` span events, log records,
/// or both, per `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`. Cheap to clone.
///
/// [`from_setup`](Self::from_setup) (what layers use unless told otherwise)
/// follows the variable as [`init`](crate::init) read it and logs through
/// the logger provider `init` installed; [`new`](Self::new) takes both
/// explicitly (tests, or several pipelines in one process). With no logger
/// provider (or, from setup, no log exporter: `OTEL_LOGS_EXPORTER=none`),
/// log records are not emitted and span events stay on, so an exception is
/// never recorded nowhere.
#[derive(Clone, Debug)]
pub struct ExceptionEvents {
    signal: ExceptionSignal,
    logger: Option<ExceptionLoggerHandle>,
}

impl ExceptionEvents {
    /// Records per `signal`, log records through `logger_provider` (any
    /// API logger provider) under `scope`.
    pub fn new<P>(signal: ExceptionSignal, logger_provider: &P, scope: InstrumentationScope) -> Self
    where
        P: LoggerProvider,
        P::Logger: Send + Sync + 'static,
    {
        ExceptionEvents::resolve(
            Some(signal),
            Some(ExceptionLoggerHandle::new(logger_provider, scope.clone())),
            scope,
        )
    }

    /// `exception` span events only, never log records.
    pub fn span_events_only() -> Self {
        ExceptionEvents::default()
    }

    /// The process-wide choice: `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN` and
    /// the logger provider installed by setup (when it installed globals).
    pub fn from_setup(scope: InstrumentationScope) -> Self {
        ExceptionEvents::resolve(None, None, scope)
    }

    /// What a builder resolves: the signal and logger given to it, each
    /// defaulting to what setup chose.
    pub fn resolve(
        signal: Option<ExceptionSignal>,
        logger: Option<ExceptionLoggerHandle>,
        scope: InstrumentationScope,
    ) -> Self {
        let signal = signal.unwrap_or_else(|| semconv_stability().exceptions);
        if !signal.logs() {
            return ExceptionEvents {
                signal,
                logger: None,
            };
        }
        let logger = logger.or_else(|| {
            GLOBAL_LOGGER_PROVIDER
                .get()
                .and_then(|slot| slot.read().unwrap_or_else(|e| e.into_inner()).clone())
                .map(|p| ExceptionLoggerHandle::new(&p, scope))
        });
        ExceptionEvents { signal, logger }
    }

    /// Whether `exception` span events are added (also when log records
    /// were asked for but there is no logger to emit them).
    pub fn span_events(&self) -> bool {
        self.signal.span_events() || self.logger.is_none()
    }

    /// Emits `record` as a log record attached to `span` (when the signal
    /// includes logs and a logger is set). Only records with
    /// [`exception`](ErrorRecord::exception) set are exceptions.
    pub fn emit_log(&self, span: &SpanContext, event: ExceptionEvent, record: &ErrorRecord<'_>) {
        let Some(handle) = &self.logger else {
            return;
        };
        if !record.exception {
            return;
        }
        handle.logger.emit(span, event, record);
    }
}

impl Default for ExceptionEvents {
    /// Span events only.
    fn default() -> Self {
        ExceptionEvents {
            signal: ExceptionSignal::SpanEvents,
            logger: None,
        }
    }
}

static GLOBAL_LOGGER_PROVIDER: OnceLock<RwLock<Option<SdkLoggerProvider>>> = OnceLock::new();

/// Setup installs its logger provider here (the opentelemetry API has no
/// global logger provider).
pub(crate) fn set_global_logger_provider(provider: SdkLoggerProvider) {
    let slot = GLOBAL_LOGGER_PROVIDER.get_or_init(|| RwLock::new(None));
    *slot.write().unwrap_or_else(|e| e.into_inner()) = Some(provider);
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::instrument::{ErrorRecord, record_exception};
    use crate::testing::Capture;
    use opentelemetry::logs::AnyValue;
    use opentelemetry::trace::{TraceContextExt, Tracer as _};
    use opentelemetry::{Context, Value};
    use std::borrow::Cow;

    fn fail(capture: &Capture, events: &ExceptionEvents, exception: bool) {
        let span = capture.tracer("t").start("op");
        let cx = Context::new().with_span(span);
        record_exception(
            &cx.span(),
            &ErrorRecord {
                error_type: Cow::Borrowed("io::Error"),
                message: Some(Cow::Borrowed("connection reset")),
                exception,
            },
            events,
            ExceptionEvent::HTTP_SERVER,
        );
        cx.span().end();
    }

    #[test]
    fn logs_signal_emits_a_log_record_and_no_span_event() {
        let capture = Capture::new();
        let events = ExceptionEvents::new(
            ExceptionSignal::Logs,
            &capture.logger_provider(),
            crate::instrument::scope("otel-kit-http", "0"),
        );
        assert!(!events.span_events());
        fail(&capture, &events, true);
        let span = capture.span("op");
        assert!(span.event("exception").is_none());
        assert_eq!(span.attr("error.type"), Some(&Value::from("io::Error")));
        let logs = capture.logs();
        assert_eq!(logs.len(), 1);
        let log = &logs[0];
        assert_eq!(log.event_name(), Some("http.server.request.exception"));
        assert_eq!(log.severity(), Some(Severity::Error));
        assert_eq!(
            log.attr("exception.type"),
            Some(&AnyValue::from("io::Error"))
        );
        assert_eq!(
            log.attr("exception.message"),
            Some(&AnyValue::from("connection reset"))
        );
        assert_eq!(log.trace_id(), Some(span.trace_id()));
        assert_eq!(log.span_id(), Some(span.span_id()));
        assert_eq!(log.scope().name(), "otel-kit-http");
    }

    #[test]
    fn dup_signal_emits_both_and_status_codes_emit_neither() {
        let capture = Capture::new();
        let events = ExceptionEvents::new(
            ExceptionSignal::Both,
            &capture.logger_provider(),
            crate::instrument::scope("otel-kit-http", "0"),
        );
        fail(&capture, &events, true);
        assert!(capture.span("op").event("exception").is_some());
        assert_eq!(capture.logs().len(), 1);
        capture.clear();
        // A failure status that explains itself is not an exception.
        fail(&capture, &events, false);
        assert!(capture.span("op").event("exception").is_none());
        assert!(capture.logs().is_empty());
    }

    #[test]
    fn logs_without_a_logger_fall_back_to_span_events() {
        let capture = Capture::new();
        // Logs asked for, no logger at all.
        let events = ExceptionEvents {
            signal: ExceptionSignal::Logs,
            logger: None,
        };
        assert!(events.span_events());
        fail(&capture, &events, true);
        assert!(capture.span("op").event("exception").is_some());
        // The default records span events only, never logs.
        let default = ExceptionEvents::default();
        assert!(default.span_events());
    }

    #[test]
    fn unsampled_spans_still_get_their_log_record() {
        use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
        let capture = Capture::new();
        let tp = SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOff)
            .build();
        let events = ExceptionEvents::new(
            ExceptionSignal::Logs,
            &capture.logger_provider(),
            crate::instrument::scope("otel-kit-http", "0"),
        );
        let cx = Context::new()
            .with_span(opentelemetry::trace::TracerProvider::tracer(&tp, "t").start("op"));
        record_exception(
            &cx.span(),
            &ErrorRecord {
                error_type: Cow::Borrowed("panic"),
                message: None,
                exception: true,
            },
            &events,
            ExceptionEvent::HTTP_SERVER,
        );
        let logs = capture.logs();
        assert_eq!(logs.len(), 1);
        assert_eq!(
            logs[0].trace_id(),
            Some(cx.span().span_context().trace_id())
        );
    }
}
