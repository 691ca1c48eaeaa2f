//! [`SpanStore`]: the in-memory collector every service of an in-process
//! shop feeds, so one place sees the whole distributed trace.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use otel_kit_core::opentelemetry::trace::TraceId;
use otel_kit_core::opentelemetry::{Context, Key};
use otel_kit_core::opentelemetry_sdk::Resource;
use otel_kit_core::opentelemetry_sdk::error::OTelSdkResult;
use otel_kit_core::opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use otel_kit_core::semconv::resource::SERVICE_NAME;
use tokio::sync::Notify;

/// A finished span and the `service.name` of the provider that recorded it.
#[derive(Clone, Debug)]
pub struct ServiceSpan {
    /// `service.name` of the recording provider's resource.
    pub service: String,
    /// The span as the SDK hands it to exporters.
    pub span: SpanData,
}

/// Finished spans of several tracer providers, in end order.
///
/// Give each provider its own [`processor`](Self::processor) (with
/// `otel_kit_core::TelemetryBuilder::with_span_processor`): the processor learns
/// its provider's `service.name` from the resource and tags every span with it.
#[derive(Clone, Debug, Default)]
pub struct SpanStore {
    spans: Arc<Mutex<Vec<ServiceSpan>>>,
    changed: Arc<Notify>,
}

impl SpanStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A span processor for one provider, storing into this store.
    pub fn processor(&self) -> StoreProcessor {
        StoreProcessor {
            store: self.clone(),
            service: String::from("unknown_service"),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<ServiceSpan>> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every finished span so far, in end order.
    pub fn spans(&self) -> Vec<ServiceSpan> {
        self.lock().clone()
    }

    /// The finished spans of one trace, in end order.
    pub fn trace(&self, trace_id: TraceId) -> Vec<ServiceSpan> {
        self.lock()
            .iter()
            .filter(|s| s.span.span_context.trace_id() == trace_id)
            .cloned()
            .collect()
    }

    /// Waits until `done` holds for the stored spans, at most `timeout`;
    /// returns whether it held. Wakes on every finished span (no polling).
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&[ServiceSpan]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so no span ending in between is missed.
            changed.as_mut().enable();
            if done(&self.lock()) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, changed).await.is_err() {
                return done(&self.lock());
            }
        }
    }
}

/// The [`SpanProcessor`] of one provider feeding a [`SpanStore`].
#[derive(Debug)]
pub struct StoreProcessor {
    store: SpanStore,
    service: String,
}

impl SpanProcessor for StoreProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        self.store.lock().push(ServiceSpan {
            service: self.service.clone(),
            span,
        });
        self.store.changed.notify_waiters();
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(name) = resource.get(&Key::from_static_str(SERVICE_NAME)) {
            self.service = name.to_string();
        }
    }
}
