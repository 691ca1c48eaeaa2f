//! Tests of the test kit: captures, lookups, assertions (including their
//! failure messages), metrics and logs.

use std::panic::{AssertUnwindSafe, catch_unwind};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceState,
    Tracer as _,
};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::Sampler;

use super::*;

/// Runs `f`, which must panic, and returns the panic message.
fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// `checkout { reserve { db } ; charge }`, with attributes, an event and an error.
fn checkout(capture: &Capture) {
    let tracer = capture.tracer("shop");
    tracer.in_span("checkout", |cx| {
        cx.span().set_attribute(KeyValue::new("order.id", 42));
        cx.span().set_attribute(KeyValue::new("user.tier", "gold"));
        tracer.in_span("reserve", |_| {
            tracer.in_span("db", |_| {});
        });
        tracer.in_span("charge", |cx| {
            cx.span().add_event(
                "retry",
                vec![
                    KeyValue::new("attempt", 2),
                    KeyValue::new("reason", "timeout"),
                ],
            );
            cx.span().set_status(Status::error("card declined"));
        });
    });
}

#[test]
fn spans_are_captured_in_end_order_and_shaped_as_a_tree() {
    let capture = Capture::new();
    checkout(&capture);
    let names: Vec<String> = capture
        .spans()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    assert_eq!(names, ["db", "reserve", "charge", "checkout"]);
    assert_eq!(capture.tree(), "checkout\n  reserve\n    db\n  charge");
}

#[test]
fn tree_separates_traces_and_orders_children_by_start() {
    let capture = Capture::new();
    let tracer = capture.tracer("t");
    let root = tracer.start("root");
    let cx = Context::new().with_span(root);
    let late = tracer.start_with_context("started first", &cx);
    tracer.start_with_context("started second", &cx).end();
    drop(late);
    cx.span().end();
    tracer.in_span("other trace", |_| {});
    assert_eq!(
        capture.tree(),
        "root\n  started first\n  started second\nother trace"
    );
}

#[test]
fn lookups_read_attributes_events_status_and_kind() {
    let capture = Capture::new();
    checkout(&capture);

    let root = capture.span("checkout");
    assert_eq!(root.attr_i64("order.id"), Some(42));
    assert_eq!(root.attr_str("user.tier"), Some("gold"));
    assert_eq!(root.attr("order.id"), Some(&Value::I64(42)));
    assert_eq!(root.attr_str("order.id"), None, "wrong type is None");
    assert!(root.has_attr("user.tier") && !root.has_attr("missing"));
    assert_eq!(root.kind(), SpanKind::Internal);
    assert!(!root.is_error());
    assert!(root.is_root());

    let charge = capture.span("charge");
    assert!(charge.is_error());
    assert_eq!(charge.error_description(), Some("card declined"));
    assert_eq!(charge.event("retry").map(|e| e.attributes.len()), Some(2));
    assert_eq!(charge.event_attr("retry", "attempt"), Some(&Value::I64(2)));
    assert!(charge.event("nope").is_none());
    charge.assert_error().assert_event("retry");

    assert_eq!(capture.spans_named("db").len(), 1);
    assert!(capture.spans_named("nope").is_empty());
    let found = capture.find(|s| s.attr_str("user.tier") == Some("gold"));
    assert_eq!(
        found.map(|s| s.name().to_owned()).as_deref(),
        Some("checkout")
    );
    assert_eq!(capture.find_all(|s| !s.is_root()).len(), 3);
}

#[test]
fn relations_between_spans() {
    let capture = Capture::new();
    checkout(&capture);
    let root = capture.span("checkout");
    let reserve = capture.span("reserve");
    let db = capture.span("db");

    assert_root(&root);
    assert_parent(&reserve, &root);
    assert_parent(&db, &reserve);
    assert_same_trace(&db, &root);

    let msg = panic_message(|| assert_parent(&db, &root));
    assert!(msg.contains("expected `db`"), "{msg}");
    assert!(
        msg.contains(&format!("its parent is span {}", reserve.span_id())),
        "{msg}"
    );

    let msg = panic_message(|| assert_root(&db));
    assert!(msg.contains("`db` (Internal"), "{msg}");
    assert!(msg.contains("to be a root span"), "{msg}");

    capture.tracer("t").in_span("elsewhere", |_| {});
    let other = capture.span("elsewhere");
    let msg = panic_message(|| assert_same_trace(&other, &root));
    assert!(msg.contains("same trace"), "{msg}");
    let msg = panic_message(|| assert_parent(&other, &root));
    assert!(msg.contains("different traces"), "{msg}");
}

#[test]
fn links_and_remote_parents() {
    let capture = Capture::new();
    let tracer = capture.tracer("t");
    tracer.in_span("producer", |_| {});
    let producer = capture.span("producer");

    // As a consumer would see it after extracting the producer's context.
    let remote_cx = Context::new().with_remote_span_context(SpanContext::new(
        producer.trace_id(),
        producer.span_id(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ));
    tracer
        .span_builder("consumer")
        .with_links(vec![Link::with_context(producer.span_context.clone())])
        .start_with_context(&tracer, &Context::new())
        .end();
    tracer
        .start_with_context("child of remote", &remote_cx)
        .end();

    let consumer = capture.span("consumer");
    assert_linked(&consumer, &producer);
    assert!(consumer.is_linked_to(&producer));
    assert_eq!(consumer.links().len(), 1);
    let msg = panic_message(|| assert_linked(&producer, &consumer));
    assert!(msg.contains("to link to `consumer`"), "{msg}");

    let child = capture.span("child of remote");
    assert!(child.has_remote_parent());
    assert_parent(&child, &producer);
    // A remote parent starts a new tree in the rendering only when it was not
    // captured; here it was, so the child nests under it.
    assert!(capture.tree().contains("producer\n  child of remote"));
}

#[test]
fn span_lookup_failures_list_what_was_captured() {
    let capture = Capture::new();
    checkout(&capture);
    let msg = panic_message(|| {
        capture.span("payment");
    });
    assert!(msg.contains("no span named `payment`"), "{msg}");
    assert!(
        msg.contains(r#"["db", "reserve", "charge", "checkout"]"#),
        "{msg}"
    );

    capture.tracer("t").in_span("db", |_| {});
    let msg = panic_message(|| {
        capture.span("db");
    });
    assert!(msg.contains("2 spans named `db`"), "{msg}");
    assert!(msg.contains("spans_named"), "{msg}");
}

#[test]
fn attribute_assertions_explain_mismatches() {
    let capture = Capture::new();
    checkout(&capture);
    let root = capture.span("checkout");
    root.assert_attr("order.id", 42)
        .assert_attr("user.tier", "gold")
        .assert_attr("user.tier", String::from("gold"))
        .assert_no_attr("error.type")
        .assert_kind(SpanKind::Internal)
        .assert_not_error();

    let msg = panic_message(|| {
        root.assert_attr("order.id", "42");
    });
    assert!(
        msg.contains(r#"attribute `order.id` is 42 (i64), expected "42" (string)"#),
        "{msg}"
    );
    assert!(
        msg.contains(r#"attributes: order.id=42, user.tier="gold""#),
        "{msg}"
    );

    let msg = panic_message(|| {
        root.assert_attr("http.route", "/x");
    });
    assert!(msg.contains("attribute `http.route` is missing"), "{msg}");

    let msg = panic_message(|| {
        root.assert_no_attr("order.id");
    });
    assert!(msg.contains("should not be set, but is 42"), "{msg}");

    let msg = panic_message(|| {
        root.assert_kind(SpanKind::Server);
    });
    assert!(msg.contains("kind is Internal, expected Server"), "{msg}");

    let msg = panic_message(|| {
        capture.span("charge").assert_not_error();
    });
    assert!(msg.contains(r#"Error("card declined")"#), "{msg}");
    let msg = panic_message(|| {
        root.assert_error();
    });
    assert!(msg.contains("expected an error"), "{msg}");
    let msg = panic_message(|| {
        root.assert_event("retry");
    });
    assert!(msg.contains("no event named `retry`"), "{msg}");
}

#[test]
fn clear_forgets_spans_and_captures_are_independent() {
    let a = Capture::new();
    let b = Capture::new();
    a.tracer("t").in_span("only in a", |_| {});
    assert_eq!(a.spans().len(), 1);
    assert!(b.spans().is_empty());

    let a2 = a.clone();
    a2.tracer("t").in_span("via clone", |_| {});
    assert_eq!(a.spans().len(), 2);
    a.clear();
    assert!(a2.spans().is_empty());
    assert_eq!(a.tree(), "");
}

#[test]
fn spans_survive_provider_shutdown() {
    let capture = Capture::new();
    capture.tracer("t").in_span("before shutdown", |_| {});
    capture.tracer_provider().shutdown().unwrap();
    assert_eq!(capture.spans().len(), 1);
}

#[test]
fn builder_sets_sampler_and_resource() {
    let capture = Capture::builder()
        .sampler(Sampler::AlwaysOff)
        .service_name("orders")
        .build();
    capture.tracer("t").in_span("dropped", |_| {});
    assert!(capture.spans().is_empty());
    assert_eq!(
        capture.resource().get(&"service.name".into()),
        Some(Value::from("orders"))
    );

    let capture = Capture::builder()
        .resource(
            Resource::builder_empty()
                .with_attribute(KeyValue::new("deployment.environment.name", "ci"))
                .build(),
        )
        .build();
    assert_eq!(
        capture
            .resource()
            .get(&"deployment.environment.name".into()),
        Some(Value::from("ci"))
    );
    assert_eq!(
        Capture::new().resource().get(&"service.name".into()),
        Some(Value::from("test"))
    );
}

#[test]
fn counters_gauges_and_histograms_are_read_by_attributes() {
    let capture = Capture::new();
    let meter = capture.meter("shop");
    let requests = meter.u64_counter("requests").with_unit("{request}").build();
    requests.add(
        1,
        &[KeyValue::new("route", "/a"), KeyValue::new("method", "GET")],
    );
    requests.add(
        2,
        &[KeyValue::new("route", "/a"), KeyValue::new("method", "GET")],
    );
    requests.add(
        5,
        &[KeyValue::new("route", "/b"), KeyValue::new("method", "GET")],
    );
    let inflight = meter.i64_up_down_counter("inflight").build();
    inflight.add(3, &[]);
    inflight.add(-1, &[]);
    let ratio = meter.f64_counter("ratio").build();
    ratio.add(0.5, &[]);
    let temp = meter.f64_gauge("temp").build();
    temp.record(20.0, &[]);
    temp.record(21.5, &[]);
    let queue = meter.u64_gauge("queue").build();
    queue.record(7, &[]);
    let level = meter.i64_gauge("level").build();
    level.record(-2, &[]);
    let duration = meter
        .f64_histogram("duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    duration.record(0.05, &[KeyValue::new("route", "/a")]);
    duration.record(0.5, &[KeyValue::new("route", "/a")]);
    duration.record(2.0, &[KeyValue::new("route", "/a")]);
    let sizes = meter.u64_histogram("sizes").build();
    sizes.record(10, &[]);

    let m = capture.collect_metrics();
    let get = [KeyValue::new("method", "GET")];
    let route_a = [KeyValue::new("route", "/a")];

    let reqs = m.sum_u64("requests");
    reqs.assert_value(&route_a, 3)
        .assert_value(&[KeyValue::new("route", "/b")], 5);
    assert_eq!(reqs.value_with(&route_a), 3);
    assert_eq!(reqs.total(), 8);
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs.matching(&get).count(), 2);
    assert!(reqs.get(&get).is_none(), "ambiguous");
    assert_eq!(reqs.get(&route_a).map(|p| p.value), Some(3));
    assert_eq!(reqs.metric(), "requests");
    let point = reqs.point_with(&route_a);
    assert_eq!(point.attr("method"), Some(&Value::from("GET")));

    m.sum_i64("inflight").assert_value(&[], 2);
    m.sum_f64("ratio").assert_value(&[], 0.5);
    m.gauge_f64("temp").assert_value(&[], 21.5);
    m.gauge_u64("queue").assert_value(&[], 7);
    m.gauge_i64("level").assert_value(&[], -2);

    let hist = m.histogram("duration");
    hist.assert_count(&route_a, 3);
    let p = hist.point_with(&route_a);
    assert_eq!(p.sum, 2.55);
    assert_eq!((p.min, p.max), (Some(0.05), Some(2.0)));
    assert_eq!(p.bounds, [0.1, 1.0]);
    assert_eq!(p.bucket_counts, [1, 1, 1]);
    assert_eq!(hist.total_count(), 3);
    m.histogram("sizes").assert_count(&[], 1);

    let view = m.metric("requests");
    assert_eq!(view.kind(), MetricKind::Counter);
    assert_eq!(view.unit(), "{request}");
    assert_eq!(view.scope(), "shop");
    assert_eq!(view.value_type(), "u64");
    assert_eq!(m.metric("inflight").kind(), MetricKind::UpDownCounter);
    assert_eq!(m.metric("temp").kind(), MetricKind::Gauge);
    assert_eq!(m.metric("duration").kind(), MetricKind::Histogram);
    assert_eq!(m.names().len(), 8);
    m.assert_absent("nothing");
}

#[test]
fn metrics_are_cumulative_across_collections() {
    let capture = Capture::new();
    assert!(capture.collect_metrics().is_empty(), "nothing recorded yet");
    let counter = capture.meter("m").u64_counter("hits").build();
    counter.add(1, &[]);
    capture
        .collect_metrics()
        .sum_u64("hits")
        .assert_value(&[], 1);
    counter.add(2, &[]);
    capture
        .collect_metrics()
        .sum_u64("hits")
        .assert_value(&[], 3);

    // Instruments from an injected provider land in the same capture.
    let provider = capture.meter_provider();
    use opentelemetry::metrics::MeterProvider as _;
    provider
        .meter("other")
        .u64_counter("injected")
        .build()
        .add(4, &[]);
    capture
        .collect_metrics()
        .sum_u64("injected")
        .assert_value(&[], 4);
}

#[test]
fn metric_failures_explain_what_is_there() {
    let capture = Capture::new();
    let meter = capture.meter("m");
    meter
        .u64_counter("hits")
        .build()
        .add(1, &[KeyValue::new("route", "/a")]);
    meter.f64_histogram("latency").build().record(1.0, &[]);
    let m = capture.collect_metrics();

    let msg = panic_message(|| {
        m.metric("misses");
    });
    assert!(msg.contains("no metric named `misses`"), "{msg}");
    assert!(
        msg.contains("\"hits\"") && msg.contains("\"latency\""),
        "{msg}"
    );

    let msg = panic_message(|| {
        m.sum_i64("hits");
    });
    assert!(
        msg.contains("`hits` is a counter of u64 (1 point), not a sum of i64"),
        "{msg}"
    );
    let msg = panic_message(|| {
        m.histogram("hits");
    });
    assert!(msg.contains("not a histogram"), "{msg}");
    let msg = panic_message(|| {
        m.sum_u64("latency");
    });
    assert!(msg.contains("`latency` is a histogram of f64"), "{msg}");

    let msg = panic_message(|| {
        m.sum_u64("hits")
            .assert_value(&[KeyValue::new("route", "/a")], 2);
    });
    assert!(
        msg.contains("point {route=\"/a\"} has value 1, expected 2"),
        "{msg}"
    );
    let msg = panic_message(|| {
        m.sum_u64("hits")
            .point_with(&[KeyValue::new("route", "/b")]);
    });
    assert!(
        msg.contains("no point with attributes route=\"/b\""),
        "{msg}"
    );
    assert!(msg.contains("{route=\"/a\"} value=1"), "{msg}");
    let msg = panic_message(|| {
        m.histogram("latency").assert_count(&[], 5);
    });
    assert!(msg.contains("has count 1, expected 5"), "{msg}");
    let msg = panic_message(|| m.assert_absent("hits"));
    assert!(msg.contains("should not be recorded"), "{msg}");
}

#[test]
fn logs_are_captured_with_their_span() {
    let capture = Capture::new();
    let logger = capture.logger_provider().logger("app");
    let tracer = capture.tracer("t");
    let span = tracer.start("work");
    let (trace_id, span_id) = (
        span.span_context().trace_id(),
        span.span_context().span_id(),
    );
    {
        let _guard = Context::new().with_span(span).attach();
        let mut record = logger.create_log_record();
        record.set_severity_number(Severity::Warn);
        record.set_body(AnyValue::from("low stock"));
        record.add_attribute("sku", "A-1");
        logger.emit(record);
    }
    let mut outside = logger.create_log_record();
    outside.set_body(AnyValue::Int(7));
    logger.emit(outside);

    let logs = capture.logs();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0].body_str(), Some("low stock"));
    assert_eq!(logs[0].severity(), Some(Severity::Warn));
    assert_eq!(logs[0].attr("sku"), Some(&AnyValue::from("A-1")));
    assert_eq!(logs[0].trace_id(), Some(trace_id));
    assert_eq!(logs[0].span_id(), Some(span_id));
    assert_eq!(logs[0].scope().name(), "app");
    assert_eq!(logs[1].body_str(), None);
    assert_eq!(logs[1].trace_id(), None);
    capture.clear();
    assert!(capture.logs().is_empty());
}

#[tokio::test]
async fn waits_for_spans_that_end_in_another_task() {
    let capture = Capture::new();
    let tracer = capture.tracer("t");
    let task = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        tracer.in_span("late", |_| {});
    });
    let span = capture.wait_for_span("late").await;
    assert_eq!(span.name(), "late");
    assert_eq!(capture.wait_for_spans(1).await.len(), 1);
    task.await.unwrap();
}

#[test]
fn provider_is_usable_through_the_trait() {
    // Layer crates take an injected provider; the capture's must work there.
    fn instrumented(provider: &impl opentelemetry::trace::TracerProvider) {
        let tracer = provider.tracer("lib");
        tracer.start("library op").end();
    }
    let capture = Capture::new();
    instrumented(&capture.tracer_provider());
    assert_eq!(capture.tree(), "library op");
}

#[test]
fn capture_and_its_futures_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: &T) {}
    let capture = Capture::new();
    assert_send_sync(&capture);
    assert_send(&capture.wait_for_span("x"));
    assert_send(&capture.wait_for_spans(1));
    let snapshot = capture.collect_metrics();
    assert_send_sync(&snapshot);
    assert_send_sync(&capture.spans());
}
