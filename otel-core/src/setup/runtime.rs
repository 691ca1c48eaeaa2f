//! The export runtime: a small Tokio runtime owned by the telemetry guard, on
//! which every exporter does its network I/O.
//!
//! The SDK's batch processors and periodic reader run on their own threads and
//! drive exporters with a plain blocking executor. Network exporters (tonic,
//! reqwest) need a Tokio reactor. Running them on the *user's* runtime
//! deadlocks a current-thread runtime whose only thread is blocked in a guard
//! drop waiting for the final flush; running them here never does, and setup
//! and shutdown work the same inside or outside any runtime.

use futures_util::FutureExt;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};

/// A one-worker multi-thread runtime. Dropping it never blocks and never
/// panics, even inside another runtime (it shuts down in the background).
#[derive(Debug)]
pub(crate) struct ExportRuntime {
    runtime: Option<Runtime>,
}

impl ExportRuntime {
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("otel-export")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    pub(crate) fn handle(&self) -> Handle {
        match &self.runtime {
            Some(rt) => rt.handle().clone(),
            None => unreachable!("the runtime is only taken in Drop"),
        }
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

pin_project! {
    /// Polls `fut` with the export runtime entered, so Tokio resources it
    /// creates (sockets, timers, spawned connection tasks) belong to that
    /// runtime whichever thread polls it.
    pub(crate) struct InRuntime<F> {
        handle: Handle,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.handle.enter();
        this.fut.poll(cx)
    }
}

/// Polls `fut` on the export runtime, bounded by `timeout`; an elapsed
/// timeout becomes `OTelSdkError::Timeout`.
fn bounded<F>(
    handle: &Handle,
    timeout: Duration,
    fut: F,
) -> impl Future<Output = OTelSdkResult> + Send + use<F>
where
    F: Future<Output = OTelSdkResult> + Send,
{
    let fut = {
        // The timer must be created with the runtime entered.
        let _entered = handle.enter();
        tokio::time::timeout(timeout, fut)
    };
    InRuntime {
        handle: handle.clone(),
        fut,
    }
    .map(move |r| r.unwrap_or(Err(OTelSdkError::Timeout(timeout))))
}

/// An exporter whose calls all run on the export runtime, each export bounded
/// by the processor's export timeout.
#[derive(Debug)]
pub(crate) struct OnExportRuntime<E> {
    inner: E,
    handle: Handle,
    timeout: Duration,
}

impl<E> OnExportRuntime<E> {
    pub(crate) fn new(inner: E, handle: Handle, timeout: Duration) -> Self {
        Self {
            inner,
            handle,
            timeout,
        }
    }

    fn entered<R>(&self, f: impl FnOnce(&E) -> R) -> R {
        let _entered = self.handle.enter();
        f(&self.inner)
    }
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for OnExportRuntime<E>
{
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl Future<Output = OTelSdkResult> + Send {
        bounded(&self.handle, self.timeout, self.inner.export(batch))
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.entered(|e| e.shutdown_with_timeout(timeout))
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.entered(|e| e.force_flush())
    }
    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource)
    }
}

impl<E: opentelemetry_sdk::logs::LogExporter> opentelemetry_sdk::logs::LogExporter
    for OnExportRuntime<E>
{
    fn export(
        &self,
        batch: opentelemetry_sdk::logs::LogBatch<'_>,
    ) -> impl Future<Output = OTelSdkResult> + Send {
        bounded(&self.handle, self.timeout, self.inner.export(batch))
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.entered(|e| e.shutdown_with_timeout(timeout))
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

impl<E: opentelemetry_sdk::metrics::exporter::PushMetricExporter>
    opentelemetry_sdk::metrics::exporter::PushMetricExporter for OnExportRuntime<E>
{
    fn export(
        &self,
        metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> impl Future<Output = OTelSdkResult> + Send {
        bounded(&self.handle, self.timeout, self.inner.export(metrics))
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.entered(|e| e.force_flush())
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.entered(|e| e.shutdown_with_timeout(timeout))
    }
    fn temporality(&self) -> opentelemetry_sdk::metrics::Temporality {
        self.inner.temporality()
    }
}
