//! [`Capture`]: private providers whose telemetry is kept in memory.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use opentelemetry::InstrumentationScope;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    Sampler, SdkTracer, SdkTracerProvider, ShouldSample, SimpleSpanProcessor, SpanData,
    SpanExporter,
};

use super::logs::CapturedLog;
use super::metrics::{MetricsSnapshot, SnapshotExporter};
use super::span::{CapturedSpan, render_tree};

/// How long the `wait_for_*` helpers wait before failing.
const WAIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Tracer, meter and logger providers of its own whose telemetry is kept in
/// memory for assertions: no global state, so every test makes its own and
/// tests run in parallel.
///
/// Spans are exported synchronously when they end (a simple processor),
/// sampled with `AlwaysOn` unless the [builder](Capture::builder) says
/// otherwise. Metrics are collected on demand with
/// [`collect_metrics`](Capture::collect_metrics) (cumulative totals). Hand
/// [`tracer_provider`](Capture::tracer_provider),
/// [`meter_provider`](Capture::meter_provider) or
/// [`logger_provider`](Capture::logger_provider) to the code under test.
///
/// Cloning a `Capture` is cheap and shares the same providers and records.
///
/// ```
/// use otel_kit_core::opentelemetry::KeyValue;
/// use otel_kit_core::opentelemetry::trace::{TraceContextExt, Tracer};
/// use otel_kit_core::testing::{Capture, assert_parent};
///
/// let capture = Capture::new();
/// let tracer = capture.tracer("test");
/// tracer.in_span("checkout", |cx| {
///     cx.span().set_attribute(KeyValue::new("order.id", 42));
///     tracer.in_span("reserve stock", |_| {});
///     tracer.in_span("charge card", |_| {});
/// });
///
/// assert_eq!(capture.tree(), "checkout\n  reserve stock\n  charge card");
/// let checkout = capture.span("checkout");
/// checkout.assert_attr("order.id", 42);
/// assert_parent(&capture.span("charge card"), &checkout);
///
/// let orders = capture.meter("test").u64_counter("orders").build();
/// orders.add(2, &[KeyValue::new("outcome", "ok")]);
/// let metrics = capture.collect_metrics();
/// metrics
///     .sum_u64("orders")
///     .assert_value(&[KeyValue::new("outcome", "ok")], 2);
/// ```
#[derive(Clone)]
pub struct Capture {
    inner: Arc<Inner>,
}

struct Inner {
    resource: Resource,
    tracer_provider: SdkTracerProvider,
    spans: SpanStore,
    /// Built on first use: a meter provider runs a reader thread.
    metrics: OnceLock<(SdkMeterProvider, SnapshotExporter)>,
    logger_provider: SdkLoggerProvider,
    logs: LogStore,
}

impl Capture {
    /// A capture with the `AlwaysOn` sampler and a resource whose
    /// `service.name` is `test`.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Options: sampler and resource.
    pub fn builder() -> CaptureBuilder {
        CaptureBuilder::default()
    }

    /// A tracer of this capture's provider.
    pub fn tracer(&self, name: impl Into<Cow<'static, str>>) -> SdkTracer {
        self.inner.tracer_provider.tracer(name)
    }

    /// The tracer provider (a cheap clone) to inject into the code under test.
    pub fn tracer_provider(&self) -> SdkTracerProvider {
        self.inner.tracer_provider.clone()
    }

    /// The meter provider (a cheap clone) to inject into the code under test.
    pub fn meter_provider(&self) -> SdkMeterProvider {
        self.metrics().0.clone()
    }

    /// A meter of this capture's meter provider.
    pub fn meter(&self, name: impl Into<Cow<'static, str>>) -> Meter {
        self.metrics()
            .0
            .meter_with_scope(InstrumentationScope::builder(name).build())
    }

    /// The logger provider (a cheap clone), for a log appender under test.
    pub fn logger_provider(&self) -> SdkLoggerProvider {
        self.inner.logger_provider.clone()
    }

    /// The resource every provider of this capture reports.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    fn metrics(&self) -> &(SdkMeterProvider, SnapshotExporter) {
        self.inner.metrics.get_or_init(|| {
            let exporter = SnapshotExporter::default();
            // The reader exports on flush; its own timer never fires in a test.
            let reader = PeriodicReader::builder(exporter.clone())
                .with_interval(Duration::from_secs(24 * 3600))
                .build();
            let provider = SdkMeterProvider::builder()
                .with_resource(self.inner.resource.clone())
                .with_reader(reader)
                .build();
            (provider, exporter)
        })
    }

    /// Every finished span, in the order they ended.
    pub fn spans(&self) -> Vec<CapturedSpan> {
        self.inner
            .spans
            .lock()
            .iter()
            .cloned()
            .map(CapturedSpan::new)
            .collect()
    }

    /// The finished spans named `name`, in the order they ended.
    pub fn spans_named(&self, name: &str) -> Vec<CapturedSpan> {
        self.find_all(|s| s.name() == name)
    }

    /// The first finished span (in end order) for which `predicate` holds.
    pub fn find(&self, predicate: impl Fn(&CapturedSpan) -> bool) -> Option<CapturedSpan> {
        self.spans().into_iter().find(|s| predicate(s))
    }

    /// Every finished span for which `predicate` holds, in end order.
    pub fn find_all(&self, predicate: impl Fn(&CapturedSpan) -> bool) -> Vec<CapturedSpan> {
        self.spans().into_iter().filter(|s| predicate(s)).collect()
    }

    /// The one finished span named `name`.
    ///
    /// # Panics
    ///
    /// When no span or several spans have that name; the message lists the
    /// captured names. Use [`spans_named`](Self::spans_named) for several.
    #[track_caller]
    pub fn span(&self, name: &str) -> CapturedSpan {
        let spans = self.spans();
        let mut named = spans.iter().filter(|s| s.name() == name);
        match (named.next(), named.next()) {
            (Some(one), None) => one.clone(),
            (None, _) => panic!(
                "no span named `{name}` was captured; captured (in end order): {:?}",
                names(&spans)
            ),
            (Some(_), Some(_)) => panic!(
                "{} spans named `{name}` were captured; use `spans_named` to get them all. \
                 Captured (in end order): {:?}",
                spans.iter().filter(|s| s.name() == name).count(),
                names(&spans)
            ),
        }
    }

    /// Waits (up to 5 s) until a span named `name` has ended, then returns it
    /// like [`span`](Self::span). For spans that end in another task, such as
    /// a server span ending after the client has read the response.
    ///
    /// Needs a Tokio runtime with the time driver (`#[tokio::test]` has it).
    #[track_caller]
    pub fn wait_for_span(&self, name: &str) -> impl Future<Output = CapturedSpan> + '_ {
        let caller = std::panic::Location::caller();
        let name = name.to_owned();
        async move {
            self.wait_until(
                |spans| spans.iter().any(|s| s.name == name),
                caller,
                || format!("a span named `{name}`"),
            )
            .await;
            self.span(&name)
        }
    }

    /// Waits (up to 5 s) until at least `count` spans have ended, and returns
    /// all finished spans.
    ///
    /// Needs a Tokio runtime with the time driver (`#[tokio::test]` has it).
    #[track_caller]
    pub fn wait_for_spans(&self, count: usize) -> impl Future<Output = Vec<CapturedSpan>> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            self.wait_until(
                |spans| spans.len() >= count,
                caller,
                || format!("{count} spans"),
            )
            .await;
            self.spans()
        }
    }

    async fn wait_until(
        &self,
        done: impl Fn(&[SpanData]) -> bool,
        caller: &'static std::panic::Location<'static>,
        what: impl Fn() -> String,
    ) {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            if done(&self.inner.spans.lock()) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {WAIT_TIMEOUT:?} waiting for {} (at {caller}); \
                     captured (in end order): {:?}",
                    what(),
                    names(&self.spans())
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Forgets the captured spans and log records (metrics are cumulative
    /// and cannot be reset).
    pub fn clear(&self) {
        self.inner.spans.lock().clear();
        self.inner.logs.lock().clear();
    }

    /// The span names of every captured trace as an indented hierarchy, two
    /// spaces per level, children in start order; each span whose parent was
    /// not captured (a root, or a remote parent) starts a new tree. Lines are
    /// joined with `\n`, without a trailing newline.
    pub fn tree(&self) -> String {
        render_tree(&self.spans())
    }

    /// Collects every metric now and returns the cumulative totals.
    ///
    /// # Panics
    ///
    /// If the meter provider fails to collect (it was shut down).
    #[track_caller]
    pub fn collect_metrics(&self) -> MetricsSnapshot {
        let (provider, exporter) = self.metrics();
        exporter.clear();
        if let Err(e) = provider.force_flush() {
            panic!("collecting metrics failed: {e}");
        }
        exporter.take()
    }

    /// Every log record emitted through [`logger_provider`](Self::logger_provider),
    /// in emission order.
    pub fn logs(&self) -> Vec<CapturedLog> {
        self.inner
            .logs
            .lock()
            .iter()
            .map(|(record, scope)| CapturedLog::new(record.clone(), scope.clone()))
            .collect()
    }
}

impl Default for Capture {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("spans", &self.inner.spans.lock().len())
            .field("logs", &self.inner.logs.lock().len())
            .field("metrics", &self.inner.metrics.get().is_some())
            .finish()
    }
}

fn names(spans: &[CapturedSpan]) -> Vec<&str> {
    spans.iter().map(|s| s.name()).collect()
}

/// Options for a [`Capture`].
#[derive(Debug, Default)]
pub struct CaptureBuilder {
    sampler: Option<Box<dyn ShouldSample>>,
    resource: Option<Resource>,
}

impl CaptureBuilder {
    /// The sampler (default `AlwaysOn`), e.g. to test that unsampled requests
    /// record nothing.
    pub fn sampler(mut self, sampler: impl ShouldSample + 'static) -> Self {
        self.sampler = Some(Box::new(sampler));
        self
    }

    /// The resource of every provider (default: only `service.name=test`).
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Shorthand for a resource with only this `service.name`.
    pub fn service_name(self, name: impl Into<Cow<'static, str>>) -> Self {
        let name: Cow<'static, str> = name.into();
        self.resource(Resource::builder_empty().with_service_name(name).build())
    }

    /// Builds the capture.
    pub fn build(self) -> Capture {
        let resource = self
            .resource
            .unwrap_or_else(|| Resource::builder_empty().with_service_name("test").build());
        let spans = SpanStore::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_span_processor(SimpleSpanProcessor::new(spans.clone()))
            .with_sampler(self.sampler.unwrap_or_else(|| Box::new(Sampler::AlwaysOn)))
            .with_resource(resource.clone())
            .build();
        let logs = LogStore::default();
        let logger_provider = SdkLoggerProvider::builder()
            .with_simple_exporter(logs.clone())
            .with_resource(resource.clone())
            .build();
        Capture {
            inner: Arc::new(Inner {
                resource,
                tracer_provider,
                spans,
                metrics: OnceLock::new(),
                logger_provider,
                logs,
            }),
        }
    }
}

/// Keeps exported spans, also after shutdown (unlike the SDK's in-memory
/// exporter), so a test can check that shutting down lost nothing.
#[derive(Clone, Debug, Default)]
struct SpanStore(Arc<Mutex<Vec<SpanData>>>);

impl SpanStore {
    fn lock(&self) -> MutexGuard<'_, Vec<SpanData>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SpanExporter for SpanStore {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.lock().extend(batch);
        std::future::ready(Ok(()))
    }
}

/// Keeps exported log records, also after shutdown.
#[derive(Clone, Debug, Default)]
struct LogStore(Arc<Mutex<Vec<(SdkLogRecord, InstrumentationScope)>>>);

impl LogStore {
    fn lock(&self) -> MutexGuard<'_, Vec<(SdkLogRecord, InstrumentationScope)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LogExporter for LogStore {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        self.lock()
            .extend(batch.iter().map(|(r, s)| (r.clone(), s.clone())));
        std::future::ready(Ok(()))
    }
}
