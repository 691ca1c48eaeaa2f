//! Span start + end through `otel-kit-core`'s setup, sampled and unsampled, next
//! to a plain SDK provider, in one run. Sampled spans go through
//! otel-kit-core's own batch processor (`with_span_exporter`), or through the
//! SDK's `BatchSpanProcessor` (on the setup's provider and on a plain one);
//! every exporter does nothing.
//!
//! `cargo bench -p otel-kit-core --bench spans`

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use opentelemetry::trace::{Span, SpanKind, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfig, BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData,
    SpanExporter,
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

/// The setup with `sampler`; its own batch processor, or the SDK's.
fn ours(sampler: &str, sdk_processor: bool) -> Telemetry {
    ours_with(sampler, sdk_processor, &[])
}

/// A queue and batch of 4096 spans and an hour's delay: the export thread
/// takes spans only when the benchmark flushes.
const HOLD: [(&str, &str); 3] = [
    ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096"),
    ("OTEL_BSP_SCHEDULE_DELAY", "3600000"),
];

fn ours_with(sampler: &str, sdk_processor: bool, batch: &[(&str, &str)]) -> Telemetry {
    let mut env = vec![
        ("OTEL_TRACES_SAMPLER", sampler),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ];
    env.extend_from_slice(batch);
    let builder = Telemetry::builder()
        .environment(Environment::from_pairs(env))
        .install_global(false);
    let builder = if sdk_processor {
        let config = if batch.is_empty() {
            BatchConfig::default()
        } else {
            BatchConfigBuilder::default()
                .with_max_queue_size(4096)
                .with_max_export_batch_size(4096)
                .with_scheduled_delay(std::time::Duration::from_secs(3600))
                .build()
        };
        builder.with_span_processor(
            BatchSpanProcessor::builder(NoopExporter)
                .with_batch_config(config)
                .build(),
        )
    } else {
        builder.with_span_exporter(NoopExporter)
    };
    builder.install().expect("setup")
}

fn sdk(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(BatchSpanProcessor::builder(NoopExporter).build())
        .build()
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

    let sampled = ours("parentbased_always_on", false);
    let t = sampled.tracer("bench");
    g.bench_function("otel-kit-core sampled", |b| {
        b.iter(|| span_cycle(&t, black_box(&parent)))
    });
    // Spans the benchmark ended faster than the export thread took them
    // were dropped at the full queue (and freed on this thread): how many.
    eprintln!("otel-kit-core sampled: {:?}", sampled.export_stats());

    let sdk_batch = ours("parentbased_always_on", true);
    let t = sdk_batch.tracer("bench");
    g.bench_function("otel-kit-core sampled, SDK BatchSpanProcessor", |b| {
        b.iter(|| span_cycle(&t, black_box(&parent)))
    });

    let unsampled = ours("always_off", false);
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

/// The request thread's share alone: no span is dropped, the export thread
/// never runs while spans are timed (the queue is flushed between batches
/// of 2048, untimed). Only the span processors differ.
fn queued(c: &mut Criterion) {
    let parent = Context::new();
    let mut g = c.benchmark_group("span_start_end_queued");
    for (name, sdk_processor) in [
        ("otel-kit-core sampled", false),
        ("otel-kit-core sampled, SDK BatchSpanProcessor", true),
    ] {
        let telemetry = ours_with("parentbased_always_on", sdk_processor, &HOLD);
        let t = telemetry.tracer("bench");
        let mut n = 0u64;
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    n += 1;
                    if n.is_multiple_of(2048) {
                        let _ = telemetry.tracer_provider().force_flush();
                    }
                },
                |()| span_cycle(&t, black_box(&parent)),
                BatchSize::NumIterations(2048),
            )
        });
        eprintln!("{name}: {:?}", telemetry.export_stats());
    }
    g.finish();
}

criterion_group!(benches, bench, queued);
criterion_main!(benches);
