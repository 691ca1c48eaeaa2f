//! The tracer and meter every pattern records with, injected (no globals
//! unless asked for).

use opentelemetry::global::{BoxedTracer, ObjectSafeTracerProvider};
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::trace::TracerProvider;
use opentelemetry::{InstrumentationScope, global};
use otel_core::opentelemetry;
use std::fmt;
use std::sync::Arc;

/// The instrumentation scope name of every span and metric of this crate.
pub const SCOPE: &str = "otel-patterns";

/// A tracer and a meter, cheap to clone, shared by the patterns.
#[derive(Clone)]
pub struct Telemetry {
    pub(crate) tracer: Arc<BoxedTracer>,
    pub(crate) meter: Meter,
}

impl Telemetry {
    /// Records through the given providers (for example
    /// `otel_core::testing::Capture`'s, or the ones `otel_core` set up).
    pub fn new<P, M>(tracer_provider: &P, meter_provider: &M) -> Self
    where
        P: TracerProvider + ObjectSafeTracerProvider,
        M: MeterProvider,
    {
        let scope = scope();
        Telemetry {
            tracer: Arc::new(BoxedTracer::new(
                tracer_provider.boxed_tracer(scope.clone()),
            )),
            meter: meter_provider.meter_with_scope(scope),
        }
    }

    /// Records through the global providers.
    pub fn global() -> Self {
        Telemetry {
            tracer: Arc::new(global::tracer_with_scope(scope())),
            meter: global::meter_with_scope(scope()),
        }
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::global()
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// A string attribute sharing `value` (cloning it clones an `Arc`, not the text).
pub(crate) fn shared_kv(key: &'static str, value: Arc<str>) -> opentelemetry::KeyValue {
    opentelemetry::KeyValue::new(
        key,
        opentelemetry::Value::String(opentelemetry::StringValue::from(value)),
    )
}
