//! The collector fixture itself: spans exported with opentelemetry-otlp over
//! OTLP/HTTP (protobuf) and OTLP/gRPC (tonic) arrive with their name,
//! attributes and resource.

use std::time::Duration;

use opentelemetry::trace::{Span, SpanKind, Status, Tracer, TracerProvider as _};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otel_tests::collector::{Collector, ReceivedSpan};

const WAIT: Duration = Duration::from_secs(10);

fn provider(exporter: opentelemetry_otlp::SpanExporter, service: &str) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_service_name(service.to_owned())
                .build(),
        )
        .with_simple_exporter(exporter)
        .build()
}

/// Makes one span and ends it. The simple processor exports on `end` with a
/// blocking call, so this runs on a blocking thread while the runtime's workers
/// drive the exporter's I/O.
async fn emit(provider: SdkTracerProvider, transport: &'static str) {
    tokio::task::spawn_blocking(move || {
        let tracer = provider.tracer("otel-tests.smoke");
        let mut span = tracer
            .span_builder(format!("smoke {transport}"))
            .with_kind(SpanKind::Client)
            .start(&tracer);
        span.set_attribute(KeyValue::new("transport", transport));
        span.set_attribute(KeyValue::new("answer", 42_i64));
        span.set_attribute(KeyValue::new("ratio", 0.5_f64));
        span.set_attribute(KeyValue::new("ok", true));
        span.set_attribute(KeyValue::new(
            "tags",
            opentelemetry::Value::Array(
                vec![StringValue::from("a"), StringValue::from("b")].into(),
            ),
        ));
        span.add_event("step", vec![KeyValue::new("n", 1_i64)]);
        span.set_status(Status::error("smoke failure"));
        span.end();
        provider.shutdown().expect("provider shutdown");
    })
    .await
    .expect("span thread");
}

fn find<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span named {name:?} among {spans:#?}"))
}

fn check(span: &ReceivedSpan, transport: &str, service: &str) {
    assert_eq!(span.resource_str("service.name"), Some(service));
    assert_eq!(span.attr_str("transport"), Some(transport));
    assert_eq!(span.attr_i64("answer"), Some(42));
    assert_eq!(span.attr_f64("ratio"), Some(0.5));
    assert_eq!(span.attr_bool("ok"), Some(true));
    assert_eq!(span.attr("tags"), Some(&serde_json::json!(["a", "b"])));
    assert_eq!(span.kind, 3, "CLIENT");
    assert_eq!(span.status_code, 2, "ERROR");
    assert_eq!(span.status_message, "smoke failure");
    assert_eq!(span.scope_name, "otel-tests.smoke");
    assert!(span.is_root());
    assert_eq!(span.trace_id.len(), 32);
    assert_eq!(span.span_id.len(), 16);
    let event = span.event("step").expect("event `step`");
    assert_eq!(event.attributes.get("n"), Some(&serde_json::json!(1)));
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_arrive_over_http_protobuf_and_grpc() {
    let collector = Collector::start();

    let http = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(collector.http_traces_endpoint())
        .build()
        .expect("OTLP/HTTP exporter");
    emit(provider(http, "smoke-http"), "http").await;

    // rotel may answer the export before its processor has written the span
    // (by microseconds to milliseconds): always wait, never read at once.
    let spans = collector.wait_for_spans(1, WAIT);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    check(find(&spans, "smoke http"), "http", "smoke-http");

    let grpc = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(collector.grpc_endpoint())
        .build()
        .expect("OTLP/gRPC exporter");
    emit(provider(grpc, "smoke-grpc"), "grpc").await;

    let spans = collector.wait_for_spans_async(2, WAIT).await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    check(find(&spans, "smoke grpc"), "grpc", "smoke-grpc");
}

#[test]
fn collectors_run_side_by_side_and_start_empty() {
    let a = Collector::start();
    let b = Collector::start();
    assert_ne!(a.grpc_endpoint(), b.grpc_endpoint());
    assert_ne!(a.http_endpoint(), b.http_endpoint());
    assert!(a.spans().is_empty() && a.metrics().is_empty() && a.logs().is_empty());
    let dir = a.dir().to_path_buf();
    drop(a);
    assert!(
        !dir.exists(),
        "the collector's directory is removed on drop"
    );
    assert!(b.spans().is_empty());
}

#[test]
#[should_panic(expected = "waited")]
fn waiting_for_spans_that_never_come_fails() {
    let collector = Collector::start();
    collector.wait_for_spans(1, Duration::from_millis(300));
}
