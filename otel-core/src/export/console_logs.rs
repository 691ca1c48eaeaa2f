//! [`ConsoleLogExporter`]: one line per log record.

use std::fmt::{self, Write as _};
use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord};

use super::text::{self, Sink, Style};

/// A [`LogExporter`] that prints one line per record: time, severity, target,
/// body, attributes, and the trace and span ids when the record was emitted
/// inside a span.
///
/// ```text
/// 2026-11-05T09:04:02.117Z ERROR checkout: payment declined order.id=42 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7
/// ```
///
/// Colours are used when writing to a terminal and `NO_COLOR` is unset.
pub struct ConsoleLogExporter {
    sink: Sink,
    max_value_len: usize,
    is_shutdown: AtomicBool,
}

impl ConsoleLogExporter {
    /// Writes to standard output.
    pub fn new() -> Self {
        Self::with_sink(Sink::stdout())
    }

    /// Writes to standard error.
    pub fn stderr() -> Self {
        Self::with_sink(Sink::stderr())
    }

    /// Writes to any writer (a file, a buffer in a test), without colours.
    pub fn with_writer<W: Write + Send + 'static>(writer: W) -> Self {
        Self::with_sink(Sink::new(Box::new(writer), false))
    }

    fn with_sink(sink: Sink) -> Self {
        Self {
            sink,
            max_value_len: 256,
            is_shutdown: AtomicBool::new(false),
        }
    }

    /// Forces ANSI colours on or off.
    pub fn with_color(mut self, color: bool) -> Self {
        self.sink.color = color;
        self
    }

    /// Longest body or attribute value printed, in characters, before it is
    /// cut with `…` (default 256; at least 1).
    pub fn with_max_value_len(mut self, max: usize) -> Self {
        self.max_value_len = max.max(1);
        self
    }

    fn export_now(&self, batch: &LogBatch<'_>) -> OTelSdkResult {
        if self.is_shutdown.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let mut out = String::new();
        for (record, scope) in batch.iter() {
            self.render(record, scope.name(), &mut out);
        }
        self.sink.write_text(&out)
    }

    fn render(&self, record: &SdkLogRecord, scope: &str, out: &mut String) {
        let color = self.sink.color;
        let max = self.max_value_len;
        if let Some(time) = record.timestamp().or(record.observed_timestamp()) {
            text::push_styled(out, color, Style::Dim, &text::format_timestamp(time));
            out.push(' ');
        }
        let severity = record
            .severity_text()
            .or(record.severity_number().map(|s| s.name()))
            .unwrap_or("-");
        let style = match record.severity_number() {
            Some(s) if s >= Severity::Error => Style::Red,
            Some(s) if s >= Severity::Warn => Style::Yellow,
            Some(s) if s >= Severity::Info => Style::Green,
            _ => Style::Dim,
        };
        text::push_styled(out, color, style, &format!("{severity:<5}"));
        out.push(' ');
        let target = record
            .target()
            .map(|t| t.as_ref())
            .filter(|t| !t.is_empty())
            .unwrap_or(scope);
        if !target.is_empty() {
            text::push_styled(out, color, Style::Bold, target);
            out.push_str(": ");
        }
        if let Some(name) = record.event_name() {
            let _ = write!(out, "[{name}] ");
        }
        match record.body() {
            // A message reads best as it is, unquoted.
            Some(AnyValue::String(s)) => out.push_str(&text::truncate(s.as_str(), max)),
            Some(body) => text::push_any_value(out, body, max),
            None => {}
        }
        let mut rest = String::new();
        for (key, value) in record.attributes_iter() {
            rest.push(' ');
            rest.push_str(key.as_str());
            rest.push('=');
            text::push_any_value(&mut rest, value, max);
        }
        if let Some(cx) = record.trace_context() {
            if cx.trace_id != TraceId::INVALID {
                let _ = write!(rest, " trace_id={}", cx.trace_id);
            }
            if cx.span_id != SpanId::INVALID {
                let _ = write!(rest, " span_id={}", cx.span_id);
            }
        }
        text::push_styled(out, color, Style::Dim, &rest);
        out.push('\n');
    }
}

impl Default for ConsoleLogExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ConsoleLogExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleLogExporter")
            .field("sink", &self.sink)
            .finish_non_exhaustive()
    }
}

impl LogExporter for ConsoleLogExporter {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        std::future::ready(self.export_now(&batch))
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        if self.is_shutdown.swap(true, Ordering::AcqRel) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.sink.flush()
    }
}
