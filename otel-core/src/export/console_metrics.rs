//! [`ConsoleMetricExporter`]: a compact summary of every metrics export.

use std::fmt::{self, Display, Write as _};
use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;

use super::text::{self, Sink, Style};

/// A [`PushMetricExporter`] that prints a compact summary of each export:
/// per metric its name, unit and type, then one line per data point with its
/// attributes and value (sums and gauges) or count/sum/min/max (histograms).
///
/// ```text
/// metrics · checkout · 2026-11-05T09:04:02.117Z
///   http.server.request.duration [s] histogram
///     http.request.method=GET http.route=/users/{id}  count=3 sum=0.0421 min=0.0052 max=0.0301
///   orders.placed [{order}] counter
///     outcome=ok  5
/// ```
///
/// Use it behind a `PeriodicReader`. Colours are used when writing to a
/// terminal and `NO_COLOR` is unset.
pub struct ConsoleMetricExporter {
    sink: Sink,
    temporality: Temporality,
    max_value_len: usize,
    is_shutdown: AtomicBool,
}

impl ConsoleMetricExporter {
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
            temporality: Temporality::Cumulative,
            max_value_len: text::DEFAULT_MAX_VALUE_LEN,
            is_shutdown: AtomicBool::new(false),
        }
    }

    /// Forces ANSI colours on or off.
    pub fn with_color(mut self, color: bool) -> Self {
        self.sink.color = color;
        self
    }

    /// Temporality asked of the SDK (default cumulative: totals since start).
    pub fn with_temporality(mut self, temporality: Temporality) -> Self {
        self.temporality = temporality;
        self
    }

    fn export_now(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        if self.is_shutdown.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let text = self.render(metrics);
        self.sink.write_text(&text)
    }

    fn render(&self, metrics: &ResourceMetrics) -> String {
        let color = self.sink.color;
        let mut out = String::new();
        let header = format!(
            "metrics · {} · {}",
            text::service_name(metrics.resource()),
            text::format_timestamp(SystemTime::now())
        );
        text::push_styled(&mut out, color, Style::Cyan, &header);
        out.push('\n');
        for scope in metrics.scope_metrics() {
            for metric in scope.metrics() {
                self.render_metric(metric, &mut out);
            }
        }
        out
    }

    fn render_metric(&self, metric: &Metric, out: &mut String) {
        let color = self.sink.color;
        out.push_str("  ");
        text::push_styled(out, color, Style::Bold, metric.name());
        if !metric.unit().is_empty() {
            let _ = write!(out, " [{}]", metric.unit());
        }
        out.push(' ');
        let mut lines = Vec::new();
        let kind = match metric.data() {
            AggregatedMetrics::F64(data) => self.points(data, &mut lines),
            AggregatedMetrics::U64(data) => self.points(data, &mut lines),
            AggregatedMetrics::I64(data) => self.points(data, &mut lines),
        };
        text::push_styled(out, color, Style::Dim, kind);
        out.push('\n');
        if lines.is_empty() {
            out.push_str("    (no data points)\n");
        }
        for (attrs, value) in lines {
            out.push_str("    ");
            if !attrs.is_empty() {
                text::push_styled(out, color, Style::Dim, &attrs);
                out.push_str("  ");
            }
            text::push_styled(out, color, Style::Yellow, &value);
            out.push('\n');
        }
    }

    /// Appends `(attributes, value)` per data point; returns the metric type.
    fn points<T: Display + Copy>(
        &self,
        data: &MetricData<T>,
        lines: &mut Vec<(String, String)>,
    ) -> &'static str {
        let max = self.max_value_len;
        match data {
            MetricData::Sum(sum) => {
                for p in sum.data_points() {
                    lines.push((sorted_attrs(p.attributes(), max), p.value().to_string()));
                }
                if sum.is_monotonic() {
                    "counter"
                } else {
                    "updowncounter"
                }
            }
            MetricData::Gauge(gauge) => {
                for p in gauge.data_points() {
                    lines.push((sorted_attrs(p.attributes(), max), p.value().to_string()));
                }
                "gauge"
            }
            MetricData::Histogram(hist) => {
                for p in hist.data_points() {
                    let mut value = format!("count={} sum={}", p.count(), p.sum());
                    if let Some(min) = p.min() {
                        let _ = write!(value, " min={min}");
                    }
                    if let Some(max) = p.max() {
                        let _ = write!(value, " max={max}");
                    }
                    lines.push((sorted_attrs(p.attributes(), max), value));
                }
                "histogram"
            }
            MetricData::ExponentialHistogram(hist) => {
                for p in hist.data_points() {
                    let mut value = format!("count={} sum={}", p.count(), p.sum());
                    if let Some(min) = p.min() {
                        let _ = write!(value, " min={min}");
                    }
                    if let Some(max) = p.max() {
                        let _ = write!(value, " max={max}");
                    }
                    lines.push((sorted_attrs(p.attributes(), max), value));
                }
                "exponential histogram"
            }
        }
    }
}

impl Default for ConsoleMetricExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ConsoleMetricExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleMetricExporter")
            .field("sink", &self.sink)
            .field("temporality", &self.temporality)
            .finish_non_exhaustive()
    }
}

impl PushMetricExporter for ConsoleMetricExporter {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        std::future::ready(self.export_now(metrics))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.sink.flush()
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        if self.is_shutdown.swap(true, Ordering::AcqRel) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.sink.flush()
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }
}

/// `k=v k=v`, sorted by key so that lines line up between exports.
fn sorted_attrs<'a>(attrs: impl Iterator<Item = &'a KeyValue>, max: usize) -> String {
    let mut sorted: Vec<&KeyValue> = attrs.collect();
    sorted.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
    let mut s = String::new();
    text::push_attributes(&mut s, sorted, max);
    s
}
