//! What one exporter did: items in flight, exported, failed (by
//! `error.type`) and how long each export took.
//!
//! Counted once per export call (a batch), never per item: the span path
//! does not see any of it. The span pipeline's `CountedExporter` uses
//! [`ExportCounters`] directly; log and metric exporters are wrapped in
//! [`Observed`].

use super::error_type::export_error_type;
use opentelemetry::metrics::Histogram;
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_sdk::error::OTelSdkResult;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Counts of one exporter, read by the metric callbacks.
#[derive(Debug, Default)]
pub(crate) struct ExportCounters {
    inflight: AtomicI64,
    exported: AtomicU64,
    /// Items of failed exports, by `error.type` (a handful of values).
    failed: Mutex<Vec<(StringValue, u64)>>,
    /// `otel.sdk.exporter.operation.duration` and the component's
    /// attributes, once the meter provider exists.
    duration: OnceLock<(Histogram<f64>, Vec<KeyValue>)>,
}

impl ExportCounters {
    /// An export of `items` items starts.
    pub(crate) fn begin(&self, items: usize) -> Export<'_> {
        self.inflight.fetch_add(items as i64, Ordering::Relaxed);
        Export {
            counters: self,
            items,
            started: Instant::now(),
            finished: false,
        }
    }

    /// Items passed to the exporter whose export has not finished.
    pub(crate) fn inflight(&self) -> i64 {
        self.inflight.load(Ordering::Relaxed)
    }

    /// Items of exports that succeeded.
    pub(crate) fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }

    /// Items of failed exports, by `error.type`.
    pub(crate) fn failed(&self) -> Vec<(StringValue, u64)> {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records every later export's duration into `histogram`, with `attributes`.
    pub(crate) fn set_duration(&self, histogram: Histogram<f64>, attributes: Vec<KeyValue>) {
        let _ = self.duration.set((histogram, attributes));
    }

    fn finish(&self, items: usize, elapsed: Duration, error_type: Option<StringValue>) {
        self.inflight.fetch_sub(items as i64, Ordering::Relaxed);
        match &error_type {
            None => {
                self.exported.fetch_add(items as u64, Ordering::Relaxed);
            }
            Some(kind) => {
                let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
                match failed.iter_mut().find(|(k, _)| k == kind) {
                    Some((_, n)) => *n += items as u64,
                    None => failed.push((kind.clone(), items as u64)),
                }
            }
        }
        if let Some((histogram, attributes)) = self.duration.get() {
            match error_type {
                None => histogram.record(elapsed.as_secs_f64(), attributes),
                Some(kind) => {
                    let mut attributes = attributes.clone();
                    attributes.push(KeyValue::new(crate::semconv::attribute::ERROR_TYPE, kind));
                    histogram.record(elapsed.as_secs_f64(), &attributes);
                }
            }
        }
    }
}

/// One export in progress. [`finish`](Self::finish) it with the result; an
/// export dropped unfinished (its future cancelled) counts as failed with
/// `error.type` `cancelled`.
#[derive(Debug)]
pub(crate) struct Export<'a> {
    counters: &'a ExportCounters,
    items: usize,
    started: Instant,
    finished: bool,
}

impl Export<'_> {
    /// The export ended with `result`.
    pub(crate) fn finish(mut self, result: &OTelSdkResult) {
        self.finished = true;
        let error_type = result.as_ref().err().map(export_error_type);
        self.counters
            .finish(self.items, self.started.elapsed(), error_type);
    }
}

impl Drop for Export<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.counters
                .finish(self.items, self.started.elapsed(), Some("cancelled".into()));
        }
    }
}

/// A log or metric exporter whose exports are counted in `counters`.
#[derive(Debug)]
pub(crate) struct Observed<E> {
    pub(crate) inner: E,
    pub(crate) counters: Arc<ExportCounters>,
}

impl<E: opentelemetry_sdk::logs::LogExporter> opentelemetry_sdk::logs::LogExporter for Observed<E> {
    fn export(
        &self,
        batch: opentelemetry_sdk::logs::LogBatch<'_>,
    ) -> impl Future<Output = OTelSdkResult> + Send {
        let export = self.counters.begin(batch.iter().count());
        let fut = self.inner.export(batch);
        async move {
            let result = fut.await;
            export.finish(&result);
            result
        }
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn event_enabled(
        &self,
        level: opentelemetry::logs::Severity,
        target: &str,
        name: Option<&str>,
    ) -> bool {
        self.inner.event_enabled(level, target, name)
    }
    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource)
    }
}

/// The data points of one metrics export.
fn data_points(metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics) -> usize {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    fn count<T>(data: &MetricData<T>) -> usize {
        match data {
            MetricData::Gauge(g) => g.data_points().count(),
            MetricData::Sum(s) => s.data_points().count(),
            MetricData::Histogram(h) => h.data_points().count(),
            MetricData::ExponentialHistogram(e) => e.data_points().count(),
        }
    }
    metrics
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .map(|metric| match metric.data() {
            AggregatedMetrics::F64(d) => count(d),
            AggregatedMetrics::U64(d) => count(d),
            AggregatedMetrics::I64(d) => count(d),
        })
        .sum()
}

impl<E: opentelemetry_sdk::metrics::exporter::PushMetricExporter>
    opentelemetry_sdk::metrics::exporter::PushMetricExporter for Observed<E>
{
    fn export(
        &self,
        metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> impl Future<Output = OTelSdkResult> + Send {
        let export = self.counters.begin(data_points(metrics));
        let fut = self.inner.export(metrics);
        async move {
            let result = fut.await;
            export.finish(&result);
            result
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> opentelemetry_sdk::metrics::Temporality {
        self.inner.temporality()
    }
}
