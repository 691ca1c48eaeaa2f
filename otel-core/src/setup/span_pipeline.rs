//! What the span export pipeline lost, counted and reported once.
//!
//! A batch processor drops a span when its queue is full and an export that
//! fails loses its batch; the SDK's internal logs (compiled out: they need
//! the `tracing` crate) are not where users look. Every span processor the
//! setup installs gets a [`SpanPipeline`]:
//!
//! - [`SpanPipeline::admit`] lets at most `OTEL_BSP_MAX_QUEUE_SIZE` spans wait
//!   for the exporter and counts the rest as dropped; otel-kit-core's batch
//!   processor ([`BatchExport`](super::batch_export::BatchExport)) asks it for
//!   every span, [`QueueLimit`] does for the SDK's simple processor.
//! - [`CountedExporter`] releases exported spans from that count and counts
//!   the spans of failed exports.
//! - The first drop and the first failure print one warning each (with the
//!   error, secrets left out); the totals are printed once at shutdown and
//!   readable at any time with [`Telemetry::export_stats`](super::Telemetry::export_stats).
//!   Never a line per span or per export.

use crate::sdk_metrics::ExportCounters;
use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where warnings go: stderr in production, a collector in unit tests.
pub(crate) type Reporter = Arc<dyn Fn(&str) + Send + Sync>;

/// The reporter printing `otel-kit-core: warning: ...` on stderr.
pub(crate) fn stderr_reporter() -> Reporter {
    Arc::new(|line: &str| eprintln!("otel-kit-core: warning: {line}"))
}

/// Span losses of one batch processor (one exporter).
pub(crate) struct SpanPipeline {
    exporter: &'static str,
    max_queue_size: usize,
    /// `OTEL_BSP_MAX_QUEUE_SIZE`, or the configuration file's field.
    queue_setting: &'static str,
    queued: AtomicUsize,
    /// Spans handed to the exporter (the released queue places).
    released: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    /// Per-export counts for the SDK metrics (`crate::sdk_metrics`).
    pub(crate) exports: Arc<ExportCounters>,
    drop_reported: AtomicBool,
    failure_reported: AtomicBool,
    first_error: Mutex<Option<String>>,
    /// Detail of the last transport error, set by the HTTP client (whose
    /// error the OTLP exporter reduces to "network error").
    transport_error: Mutex<Option<String>>,
    report: Option<Reporter>,
}

impl std::fmt::Debug for SpanPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanPipeline")
            .field("exporter", &self.exporter)
            .field("max_queue_size", &self.max_queue_size)
            .field("dropped", &self.dropped)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl SpanPipeline {
    /// A pipeline whose queue size is `OTEL_BSP_MAX_QUEUE_SIZE` (tests).
    #[cfg(test)]
    pub(crate) fn new(
        exporter: &'static str,
        max_queue_size: usize,
        report: Option<Reporter>,
    ) -> Arc<Self> {
        Self::with_setting(exporter, max_queue_size, "OTEL_BSP_MAX_QUEUE_SIZE", report)
    }

    /// A pipeline whose queue size `queue_setting` set (a variable, or the
    /// configuration file's field). `report` is `None` when
    /// `OTEL_LOG_LEVEL` silences warnings.
    pub(crate) fn with_setting(
        exporter: &'static str,
        max_queue_size: usize,
        queue_setting: &'static str,
        report: Option<Reporter>,
    ) -> Arc<Self> {
        Arc::new(SpanPipeline {
            exporter,
            max_queue_size,
            queue_setting,
            queued: AtomicUsize::new(0),
            released: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            exports: Arc::default(),
            drop_reported: AtomicBool::new(false),
            failure_reported: AtomicBool::new(false),
            first_error: Mutex::new(None),
            transport_error: Mutex::new(None),
            report,
        })
    }

    fn say(&self, line: &str) {
        if let Some(report) = &self.report {
            report(line);
        }
    }

    /// Takes a place in the queue, or counts a drop.
    pub(super) fn admit(&self) -> bool {
        let before = self.queued.fetch_add(1, Ordering::AcqRel);
        if before < self.max_queue_size {
            return true;
        }
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if !self.drop_reported.swap(true, Ordering::AcqRel) {
            self.say(&format!(
                "the {} span export queue is full ({}={}): new spans are \
                 dropped until it drains; the total is reported at shutdown",
                self.exporter, self.queue_setting, self.max_queue_size
            ));
        }
        false
    }

    /// Gives back a place taken by [`admit`](Self::admit) for a span that
    /// will not be exported (it ended while the processor shut down); like
    /// any span ended after shutdown, it is not counted as dropped.
    pub(super) fn withdraw(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }

    fn release(&self, n: usize) {
        self.released.fetch_add(n as u64, Ordering::Relaxed);
        // Saturating: spans ended after shutdown never reach the exporter.
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(n))
            });
    }

    /// Records the transport-level cause of the export in progress failing.
    #[cfg_attr(
        not(feature = "otlp-http"),
        allow(dead_code, reason = "only the OTLP/HTTP client reports causes")
    )]
    pub(crate) fn set_transport_error(&self, detail: String) {
        *self
            .transport_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(detail);
    }

    fn export_failed(&self, spans: usize, error: &str) {
        self.failed.fetch_add(spans as u64, Ordering::Relaxed);
        let detail = self
            .transport_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let text = match detail {
            Some(d) if !error.contains(&d) => format!("{error} ({d})"),
            _ => error.to_string(),
        };
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(text.clone());
        }
        drop(first);
        if !self.failure_reported.swap(true, Ordering::AcqRel) {
            self.say(&format!(
                "{} span export failed, {spans} spans lost: {text}; further failures are only \
                 counted (reported at shutdown)",
                self.exporter
            ));
        }
    }

    fn export_succeeded(&self) {
        self.transport_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Prints the totals, if anything was lost.
    pub(crate) fn report_totals(&self) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        if dropped > 0 || failed > 0 {
            self.say(&format!(
                "{} span export: {dropped} spans dropped because the queue was full \
                 ({}={}), {failed} spans lost in failed exports",
                self.exporter, self.queue_setting, self.max_queue_size
            ));
        }
    }

    /// Spans handed to the exporter so far.
    pub(crate) fn released(&self) -> u64 {
        self.released.load(Ordering::Relaxed)
    }

    /// Spans waiting for the exporter.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// `OTEL_BSP_MAX_QUEUE_SIZE`.
    pub(crate) fn capacity(&self) -> usize {
        self.max_queue_size
    }

    /// Sampled spans that ended through this pipeline: handed to the
    /// exporter, waiting for it, or dropped.
    pub(crate) fn ended(&self) -> u64 {
        self.released() + self.queued() as u64 + self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn stats(&self) -> ExportStats {
        ExportStats {
            spans_dropped: self.dropped.load(Ordering::Relaxed),
            spans_failed: self.failed.load(Ordering::Relaxed),
            first_error: self
                .first_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// What the span exporters lost so far (summed over every installed span
/// exporter), from [`Telemetry::export_stats`](super::Telemetry::export_stats).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Spans dropped on end because the export queue was full
    /// (`OTEL_BSP_MAX_QUEUE_SIZE` spans waiting for the exporter).
    pub spans_dropped: u64,
    /// Spans of exports that failed (after the exporter's own retries).
    pub spans_failed: u64,
    /// The first export error, with its transport cause when known; never
    /// carries OTLP headers or URL credentials.
    pub first_error: Option<String>,
}

impl ExportStats {
    pub(crate) fn add(&mut self, other: ExportStats) {
        self.spans_dropped += other.spans_dropped;
        self.spans_failed += other.spans_failed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// A span processor that admits at most the queue size into `inner`.
#[derive(Debug)]
pub(crate) struct QueueLimit<P> {
    pub(crate) inner: P,
    pub(crate) pipeline: Arc<SpanPipeline>,
}

impl<P: SpanProcessor> SpanProcessor for QueueLimit<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx)
    }

    fn on_end(&self, span: SpanData) {
        // A recording but unsampled span (a `RecordOnly` decision) is never
        // exported: the batch processor ignores it, so it takes no place.
        if !span.span_context.is_sampled() {
            return;
        }
        if self.pipeline.admit() {
            self.inner.on_end(span)
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.inner.shutdown_with_timeout(timeout);
        self.pipeline.report_totals();
        result
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

/// A span exporter that frees queue places and counts failed spans.
#[derive(Debug)]
pub(crate) struct CountedExporter<E> {
    pub(crate) inner: E,
    pub(crate) pipeline: Arc<SpanPipeline>,
}

impl<E: SpanExporter> SpanExporter for CountedExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        self.pipeline.release(n);
        let export = self.pipeline.exports.begin(n);
        let result = self.inner.export(batch).await;
        export.finish(&result);
        match &result {
            Ok(()) => self.pipeline.export_succeeded(),
            Err(e) => self.pipeline.export_failed(n, &e.to_string()),
        }
        result
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BatchSettings;
    use crate::setup::batch_export::BatchExport;
    use crate::setup::runtime::ExportRuntime;
    use opentelemetry::trace::{Tracer, TracerProvider as _};
    use opentelemetry_sdk::error::OTelSdkError;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    fn batch(queue: usize, size: usize) -> BatchSettings {
        BatchSettings {
            schedule_delay: Duration::from_millis(10),
            export_timeout: Duration::from_secs(30),
            max_queue_size: queue,
            max_export_batch_size: size,
            max_concurrent_exports: 2,
            queue_setting: "OTEL_BSP_MAX_QUEUE_SIZE",
        }
    }

    /// An exporter that fails every export and holds the first one until
    /// released, so the queue fills behind it.
    #[derive(Debug)]
    struct Stuck {
        gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
    }

    impl SpanExporter for Stuck {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            let (lock, cv) = &*self.gate;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            Err(OTelSdkError::InternalFailure(
                "collector unavailable".into(),
            ))
        }
    }

    #[test]
    fn drops_and_failures_are_counted_exactly_and_reported_once() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let pipeline = SpanPipeline::new(
            "test",
            8,
            Some(Arc::new(move |l: &str| {
                sink.lock().unwrap().push(l.to_string())
            })),
        );
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let exporter = CountedExporter {
            inner: Stuck { gate: gate.clone() },
            pipeline: pipeline.clone(),
        };
        let rt = ExportRuntime::start().unwrap();
        let processor =
            BatchExport::new(exporter, &batch(8, 4), 2, rt.handle(), pipeline.clone()).unwrap();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build();
        let tracer = provider.tracer("t");
        const ENDED: u64 = 500;
        for i in 0..ENDED {
            tracer.in_span(format!("s{i}"), |_| {});
        }
        {
            let (lock, cv) = &*gate;
            *lock.lock().unwrap() = true;
            cv.notify_all();
        }
        let _ = provider.shutdown();
        let stats = pipeline.stats();
        assert!(stats.spans_dropped > 0, "{stats:?}");
        assert_eq!(
            stats.spans_dropped + stats.spans_failed,
            ENDED,
            "every span is either dropped or in a failed export: {stats:?}"
        );
        assert_eq!(
            stats.first_error.as_deref(),
            Some("Operation failed: collector unavailable")
        );
        let lines = lines.lock().unwrap();
        let drops = lines
            .iter()
            .filter(|l| l.contains("queue is full (OTEL_BSP_MAX_QUEUE_SIZE=8)"))
            .count();
        let failures = lines.iter().filter(|l| l.contains("export failed")).count();
        let totals = lines.iter().filter(|l| l.contains("spans dropped")).count();
        assert_eq!((drops, failures, totals), (1, 1, 1), "{lines:#?}");
    }

    /// A sampler that records without sampling.
    #[derive(Clone, Debug)]
    struct RecordOnly;

    impl opentelemetry_sdk::trace::ShouldSample for RecordOnly {
        fn should_sample(
            &self,
            _: Option<&Context>,
            _: opentelemetry::TraceId,
            _: &str,
            _: &opentelemetry::trace::SpanKind,
            _: &[opentelemetry::KeyValue],
            _: &[opentelemetry::trace::Link],
        ) -> opentelemetry_sdk::trace::SamplingResult {
            opentelemetry_sdk::trace::SamplingResult {
                decision: opentelemetry_sdk::trace::SamplingDecision::RecordOnly,
                attributes: Vec::new(),
                trace_state: Default::default(),
            }
        }
    }

    #[test]
    fn recorded_but_unsampled_spans_are_not_exported_and_take_no_place() {
        let pipeline = SpanPipeline::new("test", 4, None);
        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let counted = CountedExporter {
            inner: exporter.clone(),
            pipeline: pipeline.clone(),
        };
        let rt = ExportRuntime::start().unwrap();
        let processor =
            BatchExport::new(counted, &batch(4, 4), 2, rt.handle(), pipeline.clone()).unwrap();
        let simple = QueueLimit {
            inner: opentelemetry_sdk::trace::SimpleSpanProcessor::new(exporter.clone()),
            pipeline: SpanPipeline::new("simple", 4, None),
        };
        let simple_pipeline = simple.pipeline.clone();
        let provider = SdkTracerProvider::builder()
            .with_sampler(RecordOnly)
            .with_span_processor(processor)
            .with_span_processor(simple)
            .build();
        let tracer = provider.tracer("t");
        for _ in 0..10 {
            tracer.in_span("recorded", |_| {});
        }
        provider.force_flush().unwrap();
        assert_eq!(pipeline.queued(), 0);
        assert_eq!(pipeline.stats().spans_dropped, 0);
        assert_eq!(simple_pipeline.queued(), 0);
        assert_eq!(simple_pipeline.stats().spans_dropped, 0);
        assert!(exporter.get_finished_spans().unwrap().is_empty());
        let _ = provider.shutdown();
    }

    #[test]
    fn messages_name_where_the_queue_size_was_set() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let pipeline = SpanPipeline::with_setting(
            "otlp",
            1,
            "tracer_provider.processors[].batch.max_queue_size",
            Some(Arc::new(move |l: &str| {
                sink.lock().unwrap().push(l.to_string())
            })),
        );
        assert!(pipeline.admit());
        assert!(!pipeline.admit());
        pipeline.report_totals();
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        for line in lines.iter() {
            assert!(
                line.contains("(tracer_provider.processors[].batch.max_queue_size=1)"),
                "{line}"
            );
            assert!(!line.contains("OTEL_BSP"), "{line}");
        }
    }

    #[test]
    fn a_transport_cause_completes_the_error() {
        let pipeline = SpanPipeline::new("otlp", 4, None);
        pipeline.set_transport_error("invalid peer certificate: UnknownIssuer".into());
        pipeline.export_failed(2, "HTTP export failed: network error");
        assert_eq!(
            pipeline.stats().first_error.as_deref(),
            Some("HTTP export failed: network error (invalid peer certificate: UnknownIssuer)")
        );
    }
}
