//! Feature `tracing`: `tracing` spans nest inside and around OpenTelemetry
//! spans on the same provider, and events become log records carrying the
//! trace and span ids.
#![cfg(feature = "tracing")]

use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use otel_kit_core::tracing_bridge::{TracingOptions, layer};
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn tracing_spans_nest_with_ours_and_events_carry_ids() {
    let spans = InMemorySpanExporter::default();
    let logs = InMemoryLogExporter::default();
    let tp = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let lp = SdkLoggerProvider::builder()
        .with_simple_exporter(logs.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(layer(
        &TracingOptions::default().terminal(false),
        &tp,
        &lp,
    ));
    let tracer = tp.tracer("ours");

    tracing::subscriber::with_default(subscriber, || {
        let outer = tracer.start("ours outer");
        let cx = Context::current_with_span(outer);
        let _attached = cx.clone().attach();
        let span = tracing::info_span!("tracing middle", step = 1);
        span.in_scope(|| {
            tracing::info!(rows = 3, "loaded rows");
            let inner = tracer.start("ours inner");
            Context::current_with_span(inner).span().end();
        });
        drop(span);
        cx.span().end();
    });

    let finished = spans.get_finished_spans().unwrap();
    let find = |name: &str| {
        finished.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no {name}: {:?}",
                finished.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let outer = find("ours outer");
    let middle = find("tracing middle");
    let inner = find("ours inner");
    assert_eq!(
        middle.parent_span_id,
        outer.span_context.span_id(),
        "tracing span inside ours"
    );
    assert_eq!(
        inner.parent_span_id,
        middle.span_context.span_id(),
        "ours inside the tracing span"
    );
    assert_eq!(inner.span_context.trace_id(), outer.span_context.trace_id());
    assert!(
        middle.attributes.contains(&KeyValue::new("step", 1_i64)),
        "{:?}",
        middle.attributes
    );

    let records = logs.get_emitted_logs().unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0].record;
    let tc = record
        .trace_context()
        .expect("log record carries the trace context");
    assert_eq!(tc.trace_id, middle.span_context.trace_id());
    assert_eq!(tc.span_id, middle.span_context.span_id());
}
