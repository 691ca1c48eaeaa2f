//! Span start + end through `otel-kit-core`'s setup, sampled and unsampled, next
//! to a plain SDK provider with the same processor, in one run.
//!
//! `cargo bench -p otel-kit-core --bench spans`

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::{Span, SpanKind, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use otel_kit_core::Telemetry;
use otel_kit_core::config::Environment;
use std::hint::black_box;

/// Exports nothing: the benchmark measures the request path, not the network.
#[derive(Debug)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

fn ours(sampler: &str) -> Telemetry {
    Telemetry::builder()
        .environment(Environment::from_pairs([
            ("OTEL_TRACES_SAMPLER", sampler),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]))
        .with_span_processor(BatchSpanProcessor::builder(NoopExporter).build())
        .install_global(false)
        .install()
        .expect("setup")
}

fn sdk(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(BatchSpanProcessor::builder(NoopExporter).build())
        .build()
}

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

    let sampled = ours("parentbased_always_on");
    let t = sampled.tracer("bench");
    g.bench_function("otel-kit-core sampled", |b| {
        b.iter(|| span_cycle(&t, black_box(&parent)))
    });

    let unsampled = ours("always_off");
    let t = unsampled.tracer("bench");
    g.bench_function("otel-kit-core unsampled", |b| {
        b.iter(|| span_cycle(&t, black_box(&parent)))
    });

    let plain = sdk(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    let t = plain.tracer("bench");
    g.bench_function("sdk sampled", |b| {
        b.iter(|| span_cycle(&t, black_box(&parent)))
    });

    let plain_off = sdk(Sampler::AlwaysOff);
    let t = plain_off.tracer("bench");
    g.bench_function("sdk unsampled", |b| {
        b.iter(|| span_cycle(&t, black_box(&parent)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
