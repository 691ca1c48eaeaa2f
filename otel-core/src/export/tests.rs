//! Console exporters driven by real SDK providers, writing into a buffer.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SdkTracer, SdkTracerProvider, SimpleSpanProcessor, SpanData, SpanExporter,
};

use super::{ConsoleLogExporter, ConsoleMetricExporter, ConsoleSpanExporter};

/// A writer whose bytes the test can read back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// The text written since the last call.
    fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8(bytes).unwrap()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn provider_with(exporter: ConsoleSpanExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(SimpleSpanProcessor::new(exporter))
        .with_resource(Resource::builder_empty().with_service_name("shop").build())
        .build()
}

fn setup() -> (SdkTracerProvider, SdkTracer, Buffer) {
    let buffer = Buffer::default();
    let provider = provider_with(ConsoleSpanExporter::with_writer(buffer.clone()));
    let tracer = provider.tracer("test");
    (provider, tracer, buffer)
}

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_micros(ms * 1000)
}

fn at_us(us: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_micros(us)
}

/// Starts a span at `start` under `parent` (a root when `parent` is empty).
fn start(
    tracer: &SdkTracer,
    name: &'static str,
    kind: SpanKind,
    start: SystemTime,
    parent: &Context,
) -> opentelemetry_sdk::trace::Span {
    tracer
        .span_builder(name)
        .with_kind(kind)
        .with_start_time(start)
        .start_with_context(tracer, parent)
}

#[test]
fn prints_a_trace_as_a_tree_when_its_root_ends() {
    let (provider, tracer, buffer) = setup();
    let linked = SpanContext::new(
        TraceId::from_hex("12345678aaaaaaaaaaaaaaaaaaaaaaaa").unwrap(),
        SpanId::from_hex("abcdef0123456789").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );

    let mut root = start(
        &tracer,
        "GET /orders",
        SpanKind::Server,
        at(0),
        &Context::new(),
    );
    root.set_attribute(KeyValue::new("http.request.method", "GET"));
    root.set_attribute(KeyValue::new("http.route", "/orders"));
    let trace_id = root.span_context().trace_id();
    let root_cx = Context::new().with_span(root);

    let mut db = start(&tracer, "SELECT orders", SpanKind::Client, at(1), &root_cx);
    db.set_attribute(KeyValue::new("db.system.name", "postgresql"));
    let db_cx = root_cx.with_span(db);
    let mut decode = start(&tracer, "decode", SpanKind::Internal, at(2), &db_cx);
    decode.end_with_timestamp(at_us(2_500));
    db_cx.span().end_with_timestamp(at(4));

    let mut publish = tracer
        .span_builder("publish orders")
        .with_kind(SpanKind::Producer)
        .with_start_time(at(5))
        .with_links(vec![Link::with_context(linked)])
        .start_with_context(&tracer, &root_cx);
    publish.add_event_with_timestamp(
        "exception",
        at(6),
        vec![KeyValue::new("exception.message", "timeout")],
    );
    publish.set_status(Status::error("broker down"));
    publish.end_with_timestamp(at(7));

    // Children ended, root not yet: nothing printed.
    assert_eq!(buffer.text(), "");
    root_cx.span().end_with_timestamp(at(12));

    let expected = format!(
        "\
trace {trace_id} · shop · 4 spans
  GET /orders server 12.0ms
  │  http.request.method=GET http.route=/orders
  ├─ SELECT orders client 3.00ms
  │  │  db.system.name=postgresql
  │  └─ decode internal 500µs
  └─ publish orders producer 2.00ms ERROR broker down
        • +1.00ms exception exception.message=timeout
        ↪ link 12345678/abcdef01
"
    );
    assert_eq!(buffer.text(), expected);
    provider.shutdown().unwrap();
}

#[test]
fn children_are_ordered_by_start_time_not_end_time() {
    let (provider, tracer, buffer) = setup();
    let root = start(&tracer, "root", SpanKind::Internal, at(0), &Context::new());
    let cx = Context::new().with_span(root);
    let mut second = start(&tracer, "second", SpanKind::Internal, at(2), &cx);
    let mut first = start(&tracer, "first", SpanKind::Internal, at(1), &cx);
    second.end_with_timestamp(at(3));
    first.end_with_timestamp(at(4));
    cx.span().end_with_timestamp(at(5));

    let text = buffer.text();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "  root internal 5.00ms",
            "  ├─ first internal 3.00ms",
            "  └─ second internal 1.00ms",
        ]
    );
    provider.shutdown().unwrap();
}

#[test]
fn a_trace_split_over_many_exports_is_printed_once_complete() {
    let buffer = Buffer::default();
    let exporter = ConsoleSpanExporter::with_writer(buffer.clone());
    // Record with a real provider, then replay the span data in two batches
    // as a batch processor would.
    let spans = recorded(|tracer| {
        tracer.in_span("parent", |_| {
            tracer.in_span("a", |_| {});
            tracer.in_span("b", |_| {});
        });
    });
    assert_eq!(spans.len(), 3);

    futures_executor_block_on(exporter.export(spans[..1].to_vec())).unwrap();
    assert_eq!(buffer.text(), "", "one child alone must stay buffered");
    futures_executor_block_on(exporter.export(spans[1..].to_vec())).unwrap();
    let text = buffer.text();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.contains("· unknown_service · 3 spans"), "{text}");
    assert!(text.contains("\n  parent internal"), "{text}");
    assert!(text.contains("\n  ├─ a internal"), "{text}");
    assert!(text.contains("\n  └─ b internal"), "{text}");
}

/// Span data recorded by a real provider, in end order.
fn recorded(f: impl FnOnce(&SdkTracer)) -> Vec<SpanData> {
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(memory.clone())
        .build();
    f(&provider.tracer("test"));
    memory.get_finished_spans().unwrap()
}

/// Polls a ready-made future (the console exporters never wait).
fn futures_executor_block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("console exporter future was not ready"),
    }
}

#[test]
fn orphans_are_printed_on_shutdown_under_their_trace() {
    let (provider, tracer, buffer) = setup();
    let parent = start(&tracer, "parent", SpanKind::Server, at(0), &Context::new());
    let parent_id = parent.span_context().span_id();
    let trace_id = parent.span_context().trace_id();
    let _cx = Context::new().with_span(parent);
    let mut child = start(&tracer, "child", SpanKind::Internal, at(1), &_cx);
    child.end_with_timestamp(at(2));
    assert_eq!(buffer.text(), "");

    provider.shutdown().unwrap();
    let short = &parent_id.to_string()[..8];
    assert_eq!(
        buffer.text(),
        format!(
            "trace {trace_id} · shop · 1 span (incomplete: parent not exported)\n  \
             child internal 1.00ms (parent {short} missing)\n"
        )
    );
}

#[test]
fn exporter_force_flush_prints_orphans_and_the_parent_comes_later() {
    let buffer = Buffer::default();
    let exporter = ConsoleSpanExporter::with_writer(buffer.clone());
    let spans = recorded(|tracer| tracer.in_span("parent", |_| tracer.in_span("child", |_| {})));
    let (child, parent) = (spans[0].clone(), spans[1].clone());

    futures_executor_block_on(exporter.export(vec![child])).unwrap();
    assert_eq!(buffer.text(), "");
    exporter.force_flush().unwrap();
    let text = buffer.take();
    assert!(
        text.contains("1 span (incomplete: parent not exported)\n  child"),
        "{text}"
    );

    futures_executor_block_on(exporter.export(vec![parent])).unwrap();
    let text = buffer.take();
    assert!(text.contains("· 1 span\n  parent internal"), "{text}");
}

#[test]
fn a_trace_waiting_too_long_for_its_root_is_printed_incomplete() {
    let buffer = Buffer::default();
    let provider = provider_with(
        ConsoleSpanExporter::with_writer(buffer.clone()).with_max_wait(Duration::ZERO),
    );
    let tracer = provider.tracer("test");
    let root = start(&tracer, "root", SpanKind::Internal, at(0), &Context::new());
    let cx = Context::new().with_span(root);
    start(&tracer, "child", SpanKind::Internal, at(1), &cx).end_with_timestamp(at(2));
    let text = buffer.take();
    assert!(
        text.contains("1 span (incomplete: no root after 0ns)\n  child internal"),
        "{text}"
    );
    drop(cx);
    provider.shutdown().unwrap();
}

#[test]
fn a_span_with_a_remote_parent_is_a_local_root() {
    let (provider, tracer, buffer) = setup();
    let remote = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let cx = Context::new().with_remote_span_context(remote);
    let mut span = start(&tracer, "consume", SpanKind::Consumer, at(0), &cx);
    span.end_with_timestamp(at(1));
    assert_eq!(
        buffer.text(),
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 · shop · 1 span\n  consume consumer 1.00ms\n"
    );
    provider.shutdown().unwrap();
}

#[test]
fn a_span_ending_after_its_trace_was_printed_is_shown_under_that_trace() {
    let (provider, tracer, buffer) = setup();
    let root = start(&tracer, "request", SpanKind::Server, at(0), &Context::new());
    let trace_id = root.span_context().trace_id();
    let cx = Context::new().with_span(root);
    let mut detached = start(&tracer, "background job", SpanKind::Internal, at(1), &cx);
    cx.span().end_with_timestamp(at(3));
    let first = buffer.take();
    assert!(
        first.contains(&format!("trace {trace_id} · shop · 1 span\n")),
        "{first}"
    );

    detached.end_with_timestamp(at(10));
    let late = buffer.take();
    assert_eq!(
        late,
        format!(
            "trace {trace_id} · shop · 1 span (ended after the trace was printed)\n  \
             background job internal 9.00ms\n"
        )
    );
    provider.shutdown().unwrap();
}

#[test]
fn a_full_buffer_prints_the_oldest_trace_and_says_so() {
    let buffer = Buffer::default();
    let provider =
        provider_with(ConsoleSpanExporter::with_writer(buffer.clone()).with_max_buffered_spans(2));
    let tracer = provider.tracer("test");
    let old_root = start(&tracer, "old", SpanKind::Internal, at(0), &Context::new());
    let old_cx = Context::new().with_span(old_root);
    let new_root = start(&tracer, "new", SpanKind::Internal, at(0), &Context::new());
    let new_cx = Context::new().with_span(new_root);

    start(&tracer, "old child", SpanKind::Internal, at(1), &old_cx).end_with_timestamp(at(2));
    start(&tracer, "new child 1", SpanKind::Internal, at(1), &new_cx).end_with_timestamp(at(2));
    assert_eq!(buffer.text(), "");
    start(&tracer, "new child 2", SpanKind::Internal, at(1), &new_cx).end_with_timestamp(at(2));

    let text = buffer.take();
    assert!(
        text.contains("1 span (incomplete: console buffer full)\n  old child internal"),
        "{text}"
    );
    assert!(!text.contains("new child"), "{text}");
    drop(old_cx);
    new_cx.span().end_with_timestamp(at(3));
    let text = buffer.take();
    assert!(text.contains("3 spans\n  new internal"), "{text}");
    provider.shutdown().unwrap();
}

#[test]
fn shutdown_prints_what_is_left_then_refuses_exports() {
    let buffer = Buffer::default();
    let exporter = ConsoleSpanExporter::with_writer(buffer.clone());
    let spans = recorded(|tracer| tracer.in_span("parent", |_| tracer.in_span("child", |_| {})));
    let child = spans[0].clone();
    assert_eq!(child.name, "child");

    futures_executor_block_on(exporter.export(vec![child.clone()])).unwrap();
    assert_eq!(buffer.text(), "");
    exporter.shutdown().unwrap();
    assert!(
        buffer.text().contains("  child internal"),
        "{}",
        buffer.text()
    );
    assert!(matches!(
        futures_executor_block_on(exporter.export(vec![child])),
        Err(OTelSdkError::AlreadyShutdown)
    ));
    assert!(matches!(
        exporter.shutdown(),
        Err(OTelSdkError::AlreadyShutdown)
    ));
}

#[test]
fn long_values_are_cut_and_colours_are_optional() {
    let buffer = Buffer::default();
    let provider = provider_with(
        ConsoleSpanExporter::with_writer(buffer.clone())
            .with_max_value_len(8)
            .with_color(true),
    );
    let tracer = provider.tracer("test");
    let mut span = start(&tracer, "op", SpanKind::Internal, at(0), &Context::new());
    span.set_attribute(KeyValue::new("payload", "abcdefghijklmnop"));
    span.set_status(Status::error("bad"));
    span.end_with_timestamp(at(1));

    let text = buffer.text();
    assert!(text.contains("payload=abcdefgh…"), "{text}");
    assert!(text.contains("\x1b[1;31mERROR bad\x1b[0m"), "{text:?}");
    provider.shutdown().unwrap();
}

#[test]
fn metrics_summary_lists_each_point() {
    let buffer = Buffer::default();
    let reader = PeriodicReader::builder(ConsoleMetricExporter::with_writer(buffer.clone()))
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(Resource::builder_empty().with_service_name("shop").build())
        .build();
    let meter = provider.meter("test");
    let orders = meter.u64_counter("orders").with_unit("{order}").build();
    orders.add(2, &[KeyValue::new("outcome", "ok")]);
    orders.add(1, &[KeyValue::new("outcome", "ok")]);
    let inflight = meter.i64_up_down_counter("inflight").build();
    inflight.add(-1, &[]);
    let duration = meter.f64_histogram("duration").with_unit("s").build();
    duration.record(
        0.5,
        &[KeyValue::new("route", "/a"), KeyValue::new("method", "GET")],
    );
    duration.record(
        1.5,
        &[KeyValue::new("route", "/a"), KeyValue::new("method", "GET")],
    );
    let temp = meter.f64_gauge("temperature").build();
    temp.record(21.5, &[]);

    provider.force_flush().unwrap();
    let text = buffer.text();
    assert!(text.starts_with("metrics · shop · "), "{text}");
    let body: Vec<&str> = text.lines().skip(1).collect();
    for expected in [
        "  orders [{order}] counter",
        "    outcome=ok  3",
        "  inflight updowncounter",
        "    -1",
        "  duration [s] histogram",
        "    method=GET route=/a  count=2 sum=2 min=0.5 max=1.5",
        "  temperature gauge",
        "    21.5",
    ] {
        assert!(body.contains(&expected), "missing {expected:?} in\n{text}");
    }
    provider.shutdown().unwrap();
}

#[test]
fn log_lines_carry_severity_body_attributes_and_ids() {
    let buffer = Buffer::default();
    let provider = SdkLoggerProvider::builder()
        .with_simple_exporter(ConsoleLogExporter::with_writer(buffer.clone()))
        .build();
    let logger = provider.logger("checkout");

    let (tracer_provider, tracer, _) = setup();
    let span = tracer.start("work");
    let (trace_id, span_id) = (
        span.span_context().trace_id(),
        span.span_context().span_id(),
    );
    let cx = Context::new().with_span(span);
    {
        let _guard = cx.clone().attach();
        let mut record = logger.create_log_record();
        record.set_timestamp(at(0));
        record.set_severity_number(Severity::Error);
        record.set_body(AnyValue::from("payment declined"));
        record.add_attribute("order.id", 42);
        logger.emit(record);
    }
    let mut record = logger.create_log_record();
    record.set_timestamp(at(1));
    record.set_severity_number(Severity::Info);
    record.set_body(AnyValue::from("done"));
    logger.emit(record);

    let text = buffer.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "2027-01-15T08:00:00.000Z ERROR checkout: payment declined order.id=42 \
                 trace_id={trace_id} span_id={span_id}"
            ),
            "2027-01-15T08:00:00.001Z INFO  checkout: done".to_owned(),
        ]
    );
    drop(cx);
    provider.shutdown().unwrap();
    tracer_provider.shutdown().unwrap();
}
