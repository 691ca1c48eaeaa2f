//! Quickstart: set up tracing, metrics and logs from the `OTEL_*`
//! environment, record a small nested trace and two metrics, and exit after
//! flushing. Process and Tokio runtime metrics are on, next to the SDK's
//! own `otel.sdk.*` metrics.
//!
//! With no exporter variable and no OTLP endpoint set it prints the trace as
//! a tree on stdout:
//!
//! ```text
//! cargo run -p otel-examples --bin quickstart
//! ```
//!
//! With a collector:
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run -p otel-examples --bin quickstart
//! ```

use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::metrics::{Counter, Histogram};
use otel_kit_core::opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Context, KeyValue, global};
use otel_kit_core::propagation::{baggage_get, baggage_set};
use otel_kit_core::runtime_metrics::RuntimeMetric;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = otel_kit_core::Telemetry::builder()
        .service_name("quickstart")
        .service_version(env!("CARGO_PKG_VERSION"))
        .console_when_unconfigured(true)
        // CPU, memory, threads, descriptors, and this Tokio runtime's workers
        // and tasks (OTEL_KIT_RUNTIME_METRICS=none turns them off again).
        .runtime_metrics(&[RuntimeMetric::Process, RuntimeMetric::Tokio])
        .install()?;

    let tracer = global::tracer("quickstart");
    let meter = global::meter("quickstart");
    let orders = meter
        .u64_counter("shop.orders")
        .with_unit("{order}")
        .with_description("Orders placed")
        .build();
    let latency = meter
        .f64_histogram("shop.checkout.duration")
        .with_unit("s")
        .with_boundaries(vec![0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0])
        .build();

    // Baggage travels with the context to every span and outgoing call below.
    let cx = baggage_set(&Context::current(), [("customer.tier", "gold")]);
    let _attached = cx.attach();

    let root = tracer
        .span_builder("POST /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.route", "/checkout"),
        ])
        .start(&tracer);
    let cx = Context::current().with_span(root);
    checkout(&tracer, &orders, &latency)
        .with_context(cx.clone())
        .await;
    cx.span().end();

    let report = telemetry.report();
    eprintln!(
        "quickstart: traces -> [{}], metrics -> [{}], logs -> [{}]",
        report.trace_exporters().join(","),
        report.metric_exporters().join(","),
        report.log_exporters().join(",")
    );
    telemetry.shutdown().await?;
    Ok(())
}

/// The traced work: runs with the root span's context attached, so every span
/// below is its child.
async fn checkout(
    tracer: &impl Tracer<Span: Send + Sync + 'static>,
    orders: &Counter<u64>,
    latency: &Histogram<f64>,
) {
    let cx = Context::current();
    let tier = baggage_get(&cx, "customer.tier").unwrap_or_default();
    cx.span()
        .set_attribute(KeyValue::new("customer.tier", tier));
    let started = std::time::Instant::now();

    let inventory = tracer
        .span_builder("reserve inventory")
        .with_attributes([KeyValue::new("shop.items", 3)])
        .start(tracer);
    let inventory_cx = cx.with_span(inventory);
    tokio::time::sleep(Duration::from_millis(3)).await;
    inventory_cx
        .span()
        .add_event("reserved", vec![KeyValue::new("shop.warehouse", "north")]);
    inventory_cx.span().end();

    let payment = tracer
        .span_builder("charge card")
        .with_kind(SpanKind::Client)
        .start(tracer);
    let payment_cx = cx.with_span(payment);
    tokio::time::sleep(Duration::from_millis(2)).await;
    payment_cx.span().add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", "PaymentError::Declined"),
            KeyValue::new("exception.message", "card declined by issuer"),
        ],
    );
    payment_cx
        .span()
        .set_attribute(KeyValue::new("error.type", "PaymentError::Declined"));
    payment_cx
        .span()
        .set_status(Status::error("card declined by issuer"));
    payment_cx.span().end();

    orders.add(1, &[KeyValue::new("shop.outcome", "declined")]);
    latency.record(
        started.elapsed().as_secs_f64(),
        &[KeyValue::new("http.route", "/checkout")],
    );
}
