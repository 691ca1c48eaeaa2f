//! The log-record export queue, counted: what the SDK's batch log processor
//! does not tell (how full its queue is, what it drops).
//!
//! As for spans ([`SpanPipeline`](crate::setup::SpanPipeline)),
//! [`LogQueueLimit`] admits at most `OTEL_BLRP_MAX_QUEUE_SIZE` records that
//! the exporter has not taken yet and counts the rest as dropped; the
//! exporter wrapper [`Released`] frees their places. The SDK queue holds
//! exactly that many, so it never drops one itself and the counts are exact.

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, LogProcessor, SdkLogRecord};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Counts of one batch log processor's queue.
#[derive(Debug)]
pub(crate) struct LogQueue {
    capacity: usize,
    queued: AtomicUsize,
    released: AtomicU64,
    dropped: AtomicU64,
}

impl LogQueue {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity,
            queued: AtomicUsize::new(0),
            released: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    fn admit(&self) -> bool {
        if self.queued.fetch_add(1, Ordering::AcqRel) < self.capacity {
            return true;
        }
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.dropped.fetch_add(1, Ordering::Relaxed);
        false
    }

    fn release(&self, n: usize) {
        self.released.fetch_add(n as u64, Ordering::Relaxed);
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(n))
            });
    }

    /// `OTEL_BLRP_MAX_QUEUE_SIZE`.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records waiting for the exporter.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Records handed to the exporter.
    pub(crate) fn released(&self) -> u64 {
        self.released.load(Ordering::Relaxed)
    }

    /// Records dropped at the full queue.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A log processor that admits at most the queue's capacity into `inner`.
#[derive(Debug)]
pub(crate) struct LogQueueLimit<P> {
    pub(crate) inner: P,
    pub(crate) queue: Arc<LogQueue>,
}

impl<P: LogProcessor> LogProcessor for LogQueueLimit<P> {
    fn emit(&self, data: &mut SdkLogRecord, instrumentation: &InstrumentationScope) {
        if self.queue.admit() {
            self.inner.emit(data, instrumentation)
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
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

/// A log exporter that frees the queue places of the records it takes.
#[derive(Debug)]
pub(crate) struct Released<E> {
    pub(crate) inner: E,
    pub(crate) queue: Arc<LogQueue>,
}

impl<E: LogExporter> LogExporter for Released<E> {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        self.queue.release(batch.iter().count());
        self.inner.export(batch)
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
