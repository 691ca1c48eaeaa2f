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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};

/// A one-worker multi-thread runtime. Dropping it never blocks and never
/// panics, even inside another runtime (it shuts down in the background).
#[derive(Debug)]
pub(crate) struct ExportRuntime {
    runtime: Option<Runtime>,
    closed: Arc<AtomicBool>,
}

/// The handle exporters use: the runtime plus its "closed" flag. Once closed,
/// exports fail at once with `AlreadyShutdown` instead of touching the
/// runtime's timers or sockets (which would panic in a runtime shutting down).
#[derive(Clone, Debug)]
pub(crate) struct RuntimeHandle {
    handle: Handle,
    closed: Arc<AtomicBool>,
}

impl RuntimeHandle {
    pub(crate) fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.handle.enter()
    }

    pub(crate) fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(fut)
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl ExportRuntime {
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("otel-export")
            // The exporters' own network I/O (hyper, h2, tonic) must never
            // become telemetry: with the `tracing` bridge it would feed itself.
            .on_thread_start(|| {
                std::mem::forget(opentelemetry::Context::enter_telemetry_suppressed_scope())
            })
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
            closed: Arc::new(AtomicBool::new(false)),
        })
    }

    pub(crate) fn handle(&self) -> RuntimeHandle {
        match &self.runtime {
            Some(rt) => RuntimeHandle {
                handle: rt.handle().clone(),
                closed: self.closed.clone(),
            },
            None => unreachable!("the runtime is only taken in Drop or close"),
        }
    }

    /// Stops the runtime. `exports_settled` says whether every provider shut
    /// down in time: if one did not, an SDK thread may still be polling an
    /// export on this runtime, so the runtime is left running (its threads end
    /// with the process) rather than shut down under that export.
    pub(crate) fn close(mut self, exports_settled: bool) {
        self.closed.store(true, Ordering::Release);
        if let Some(rt) = self.runtime.take() {
            if exports_settled {
                rt.shutdown_background();
            } else {
                std::mem::forget(rt);
            }
        }
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

pin_project! {
    /// Polls `fut` with the export runtime entered, so Tokio resources it
    /// creates (sockets, timers, spawned connection tasks) belong to that
    /// runtime whichever thread polls it. Once the runtime is closed the
    /// future is no longer polled and resolves to `None`.
    pub(crate) struct InRuntime<F> {
        rt: RuntimeHandle,
        #[pin]
        fut: Option<F>,
    }
}

impl<F: Future> Future for InRuntime<F> {
    type Output = Option<F::Output>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.rt.is_closed() {
            return Poll::Ready(None);
        }
        let _entered = this.rt.handle.enter();
        match this.fut.as_pin_mut() {
            Some(fut) => fut.poll(cx).map(Some),
            None => Poll::Ready(None),
        }
    }
}

/// Polls `fut` on the export runtime, bounded by `timeout`; an elapsed
/// timeout becomes `OTelSdkError::Timeout`, a closed runtime `AlreadyShutdown`.
fn bounded<F>(
    rt: &RuntimeHandle,
    timeout: Duration,
    fut: F,
) -> impl Future<Output = OTelSdkResult> + Send + use<F>
where
    F: Future<Output = OTelSdkResult> + Send,
{
    let fut = if rt.is_closed() {
        None
    } else {
        // The timer must be created with the runtime entered.
        let _entered = rt.enter();
        Some(tokio::time::timeout(timeout, fut))
    };
    InRuntime {
        rt: rt.clone(),
        fut,
    }
    .map(move |r| match r {
        Some(Ok(result)) => result,
        Some(Err(_elapsed)) => Err(OTelSdkError::Timeout(timeout)),
        None => Err(OTelSdkError::AlreadyShutdown),
    })
}

/// An exporter whose calls all run on the export runtime, each export bounded
/// by the processor's export timeout.
#[derive(Debug)]
pub(crate) struct OnExportRuntime<E> {
    inner: E,
    rt: RuntimeHandle,
    timeout: Duration,
}

impl<E> OnExportRuntime<E> {
    pub(crate) fn new(inner: E, rt: RuntimeHandle, timeout: Duration) -> Self {
        Self { inner, rt, timeout }
    }

    fn entered<R>(&self, f: impl FnOnce(&E) -> R) -> R {
        let _entered = self.rt.enter();
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
        bounded(&self.rt, self.timeout, self.inner.export(batch))
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
        bounded(&self.rt, self.timeout, self.inner.export(batch))
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
        bounded(&self.rt, self.timeout, self.inner.export(metrics))
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
