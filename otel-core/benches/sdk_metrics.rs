//! The price of the SDK metrics on the span path: span start + end through
//! `otel-kit-core`'s setup with `OTEL_KIT_SDK_METRICS` on (the default) and
//! off, sampled and unsampled, in one run. A metric reader is installed in
//! every variant (the SDK metrics are only on with one).
//!
//! `cargo bench -p otel-kit-core --bench sdk_metrics`
//!
//! Instructions per span, exact, with callgrind (`span_cycle` is never
//! inlined; divide its inclusive cost by its call count):
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=cg.on \
//!   target/release/deps/sdk_metrics-* --bench --profile-time 2 'sampled, sdk metrics on'
//! callgrind_annotate --inclusive=yes cg.on | grep span_cycle
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::{Span, SpanKind, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanData, SpanExporter};
use otel_kit_core::Telemetry;
use otel_kit_core::config::Environment;
use std::hint::black_box;
use std::time::Duration;

/// Exports nothing: the benchmark measures the request path, not the network.
#[derive(Debug)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

#[derive(Debug)]
struct NoopMetrics;

impl PushMetricExporter for NoopMetrics {
    async fn export(&self, _metrics: &ResourceMetrics) -> OTelSdkResult {
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

fn ours(sampler: &str, sdk_metrics: &str) -> Telemetry {
    Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_TRACES_SAMPLER", sampler),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_KIT_SDK_METRICS", sdk_metrics),
        ]))
        .with_span_processor(BatchSpanProcessor::builder(NoopExporter).build())
        .with_metric_exporter(NoopMetrics)
        .install_global(false)
        .install()
        .expect("setup")
}

#[inline(never)]
fn span_cycle(tracer: &impl Tracer, parent: &Context) {
    let mut span = tracer
        .span_builder("GET /users/{id}")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", "/users/{id}"),
        ])
        .start_with_context(tracer, parent);
    span.set_attribute(KeyValue::new("http.response.status_code", 200));
    span.end();
}

fn bench(c: &mut Criterion) {
    let parent = Context::new();
    let mut g = c.benchmark_group("span_start_end");
    for (sampler, sampled) in [
        ("parentbased_always_on", "sampled"),
        ("always_off", "unsampled"),
    ] {
        for (setting, label) in [("true", "on"), ("false", "off")] {
            let telemetry = ours(sampler, setting);
            let tracer = telemetry.tracer("bench");
            g.bench_function(format!("{sampled}, sdk metrics {label}"), |b| {
                b.iter(|| span_cycle(&tracer, black_box(&parent)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
