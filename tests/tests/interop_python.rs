//! Interoperability with the OpenTelemetry Python SDK (from PyPI, in the
//! test venv): the scripts of `tests/python/interop/` are the Python side and
//! report their spans as JSON lines; the Rust side records into otel-kit-core's
//! in-memory capture. Every case asserts one trace across both processes and
//! the exact parent (or link) relation.
//!
//! - W3C trace context and baggage over HTTP, both directions: a Python
//!   client calls an axum server under `otel_kit_http::server::ServerLayer`, and
//!   the reqwest middleware and the hyper-util `ClientLayer` call a Python
//!   `http.server`;
//! - Python producers (nats-py, pika) to otel-kit-messaging's NATS and RabbitMQ
//!   consumers, in the default link mode and in parent mode;
//! - B3 single and multiple headers, both directions, sampled and not.
//!
//! Run through `scripts/test` (it creates `.venv` and sets `OTEL_TEST_PYTHON`,
//! `OTEL_TEST_NATS_URL`, `OTEL_TEST_AMQP_URL`):
//! `OTEL_TEST_SERVICES_ONLY=1 scripts/test cargo test -p otel-tests --test interop_python`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use otel_kit_core::opentelemetry::baggage::BaggageExt;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use otel_kit_core::opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use otel_kit_core::opentelemetry::{Context, KeyValue, global};
use otel_kit_core::opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, Sampler};
use otel_kit_core::propagation::{B3Propagator, BaggagePropagator, TraceContextPropagator};
use otel_kit_core::testing::{Capture, CapturedSpan};
use otel_kit_http::client::ClientLayer;
use otel_kit_http::server::ServerLayer;
use otel_kit_messaging::nats::{TracedClient, async_nats};
use otel_kit_messaging::rabbitmq::TracedChannel;
use otel_kit_messaging::rabbitmq::lapin::options::{BasicConsumeOptions, QueueDeclareOptions};
use otel_kit_messaging::rabbitmq::lapin::types::FieldTable;
use otel_kit_messaging::rabbitmq::lapin::{Connection, ConnectionProperties};
use otel_kit_messaging::{Instrumentation, ProcessMode};
use otel_tests::python::{PeerSpan, PythonPeer, Record, record_of, span_named};
use tower::{Layer, ServiceExt};

/// Bounded wait for a message delivery.
const DELIVERY_WAIT: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------ helpers

/// ParentBased(AlwaysOn), as a service runs: an unsampled caller means no span.
fn capture() -> Capture {
    Capture::builder()
        .sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .build()
}

fn w3c() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

fn trace_id(hex: &str) -> TraceId {
    TraceId::from_hex(hex).unwrap_or_else(|e| panic!("trace id {hex:?} from Python: {e}"))
}

fn span_id(hex: &str) -> SpanId {
    SpanId::from_hex(hex).unwrap_or_else(|e| panic!("span id {hex:?} from Python: {e}"))
}

fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the interop tests through scripts/test (it starts the brokers and sets it)")
    })
}

/// A name unique to this process and call.
fn unique(prefix: &str) -> String {
    format!(
        "interop-{prefix}-{}-{}",
        std::process::id(),
        RandomIdGenerator::default().new_span_id()
    )
}

/// The Python span is `rust`'s parent, across the process boundary.
#[track_caller]
fn assert_python_parent(rust: &CapturedSpan, python: &PeerSpan) {
    assert_eq!(
        rust.trace_id(),
        trace_id(&python.trace_id),
        "one trace id on both sides: {rust}\n{python:#?}"
    );
    assert_eq!(
        rust.parent_span_id(),
        span_id(&python.span_id),
        "the Rust span's parent is the Python span: {rust}\n{python:#?}"
    );
    assert!(rust.has_remote_parent(), "parent is remote: {rust}");
}

/// The Rust span is `python`'s parent, across the process boundary.
#[track_caller]
fn assert_rust_parent(python: &PeerSpan, rust: &CapturedSpan) {
    assert_eq!(
        trace_id(&python.trace_id),
        rust.trace_id(),
        "one trace id on both sides: {rust}\n{python:#?}"
    );
    assert_eq!(
        python.parent_span_id.as_deref().map(span_id),
        Some(rust.span_id()),
        "the Python span's parent is the Rust span: {rust}\n{python:#?}"
    );
    assert!(python.parent_is_remote, "parent is remote: {python:#?}");
}

/// What the Rust handler saw of its context, per request.
#[derive(Clone, Debug)]
struct Observed {
    span_context: SpanContext,
    baggage: BTreeMap<String, String>,
}

type Seen = Arc<Mutex<Vec<Observed>>>;

async fn observe(State(seen): State<Seen>) -> &'static str {
    let cx = Context::current();
    let baggage = cx
        .baggage()
        .iter()
        .map(|(k, (v, _))| (k.to_string(), v.to_string()))
        .collect();
    seen.lock().unwrap().push(Observed {
        span_context: cx.span().span_context().clone(),
        baggage,
    });
    "ok"
}

/// An axum server under the otel-kit-http server layer extracting with `propagator`.
async fn rust_server(
    capture: &Capture,
    propagator: impl TextMapPropagator + Send + Sync + 'static,
) -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let layer = ServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(propagator)
        .build();
    let app = Router::new()
        .route("/orders/{id}", get(observe))
        .layer(layer)
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

/// A Python `http.server` extracting with `propagator` (`w3c`, `b3`, `b3multi`).
async fn python_server(propagator: &str) -> (PythonPeer, u16) {
    let mut server = PythonPeer::spawn("http_server.py", &["--propagator", propagator]);
    let listening = server
        .wait_for("listening", |r| r.kind == "listening")
        .await;
    let port = listening["port"].as_u64().expect("port") as u16;
    (server, port)
}

/// GET `url` through the hyper-util client layer in `cx`; returns the body.
async fn hyper_get(
    capture: &Capture,
    propagator: impl TextMapPropagator + Send + Sync + 'static,
    url: &str,
    cx: Context,
) -> String {
    let request = http::Request::get(url)
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let client = ClientLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(propagator)
        .build()
        .layer(Client::builder(TokioExecutor::new()).build_http());
    let response = client
        .oneshot(request)
        .with_context(cx)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status(), 200, "GET {url}");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

fn header<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    record["headers"][name].as_str()
}

/// The one Rust span with attribute `key` = `value`.
#[track_caller]
fn rust_span_with(capture: &Capture, key: &str, value: &str) -> CapturedSpan {
    let found = capture.find_all(|s| s.attr_str(key) == Some(value));
    assert_eq!(
        found.len(),
        1,
        "one Rust span with {key} = {value:?}; captured: {:#?}",
        capture.spans()
    );
    found.into_iter().next().unwrap()
}

// ------------------------------------------------------------------ W3C over HTTP

/// Python client → Rust server: the SERVER span is the child of the Python
/// CLIENT span; the tracestate and the baggage (percent-encoded by Python)
/// arrive.
#[tokio::test]
async fn w3c_python_client_calls_rust_server() {
    let capture = capture();
    let (addr, seen) = rust_server(&capture, w3c()).await;
    let url = format!("http://{addr}/orders/42");

    let records = PythonPeer::run(
        "http_client.py",
        &[
            &url,
            "--propagator",
            "w3c",
            "--tracestate",
            "py=interop,vendor=a1",
            "--baggage",
            "tenant=acme",
            "--baggage",
            "note=café;x=1,y",
        ],
    )
    .await;
    let request = record_of(&records, "request");
    assert_eq!(request["body"], "ok");
    assert!(header(request, "traceparent").is_some(), "{request:?}");
    let client = span_named(&records, "GET");
    assert_eq!(client.kind, "CLIENT");
    assert_eq!(
        client.parent_span_id, None,
        "the Python CLIENT span is a root"
    );

    let server = capture.wait_for_span("GET /orders/{id}").await;
    server.assert_kind(SpanKind::Server);
    assert_python_parent(&server, &client);
    assert!(server.span_context.is_sampled());
    assert_eq!(
        server.span_context.trace_state().header(),
        "py=interop,vendor=a1",
        "the tracestate the Python span carried"
    );

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].span_context, server.span_context);
    assert_eq!(
        seen[0].baggage,
        BTreeMap::from([
            ("tenant".to_owned(), "acme".to_owned()),
            ("note".to_owned(), "café;x=1,y".to_owned()),
        ])
    );
}

/// Rust clients (reqwest middleware and hyper-util layer) → Python server:
/// the Python SERVER span is the child of the Rust CLIENT span; the baggage
/// (percent-encoded by Rust, `+` included) arrives.
#[tokio::test]
async fn w3c_rust_clients_call_python_server() {
    let capture = capture();
    let (mut server, port) = python_server("w3c").await;
    let cx = Context::current_with_baggage([
        KeyValue::new("tenant", "acme"),
        KeyValue::new("note", "a+b c/é;x=1,y"),
    ]);
    let expected_baggage = serde_json::json!({"tenant": "acme", "note": "a+b c/é;x=1,y"});

    let reqwest_url = format!("http://127.0.0.1:{port}/reqwest");
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(
            ClientLayer::builder()
                .tracer_provider(&capture.tracer_provider())
                .meter_provider(&capture.meter_provider())
                .propagator(w3c())
                .build_middleware(),
        )
        .build();
    let response = client
        .get(&reqwest_url)
        .send()
        .with_context(cx.clone())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();

    let hyper_url = format!("http://127.0.0.1:{port}/hyper");
    hyper_get(&capture, w3c(), &hyper_url, cx).await;

    for (path, url) in [("/reqwest", &reqwest_url), ("/hyper", &hyper_url)] {
        let python = server.wait_for_span(&format!("GET {path}")).await;
        assert_eq!(python.kind, "SERVER");
        let rust = rust_span_with(&capture, "url.full", url);
        rust.assert_kind(SpanKind::Client);
        assert!(rust.is_root());
        assert_rust_parent(&python, &rust);
        assert!(python.sampled);
        let request = server
            .wait_for("its request record", |r| {
                r.kind == "request" && r["path"] == path
            })
            .await;
        assert_eq!(request["baggage"], expected_baggage, "{path}");
    }
    server.finish().await;
}

// ------------------------------------------------------------------ messaging

/// otel-kit-messaging reads the message headers with the global propagator.
fn w3c_global_propagator() {
    global::set_text_map_propagator(w3c());
}

fn instrumentation(capture: &Capture, mode: ProcessMode) -> Instrumentation {
    Instrumentation::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .process_mode(mode)
        .build()
}

/// Default (link) mode: the process span stays a root of its own trace and
/// links to the Python PRODUCER span.
#[track_caller]
fn assert_linked_to_python(process: &CapturedSpan, producer: &PeerSpan) {
    process.assert_kind(SpanKind::Consumer);
    assert!(
        process.is_root(),
        "link mode keeps the (empty) ambient parent: {process}"
    );
    let links: Vec<(TraceId, SpanId)> = process
        .links()
        .iter()
        .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
        .collect();
    assert_eq!(
        links,
        vec![(trace_id(&producer.trace_id), span_id(&producer.span_id))],
        "the process span links to the Python PRODUCER span: {process}\n{producer:#?}"
    );
    let link = &process.links()[0].span_context;
    assert!(link.is_remote() && link.is_sampled());
}

/// Parent mode: the process span is the Python PRODUCER span's child.
#[track_caller]
fn assert_child_of_python(process: &CapturedSpan, producer: &PeerSpan) {
    process.assert_kind(SpanKind::Consumer);
    assert_python_parent(process, producer);
    assert!(
        process.links().is_empty(),
        "no ambient span to link: {process}"
    );
}

/// A nats-py producer → otel-kit-messaging's NATS subscriber.
#[tokio::test]
async fn python_nats_producer_to_rust_consumer() {
    w3c_global_propagator();
    let capture = capture();
    let url = env_url("OTEL_TEST_NATS_URL");
    let client = async_nats::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("NATS at {url}: {e}"));
    let link_subject = unique("nats.link");
    let parent_subject = unique("nats.parent");
    let mut link_sub = TracedClient::new(
        client.clone(),
        instrumentation(&capture, ProcessMode::default()),
    )
    .subscribe(link_subject.clone())
    .await
    .unwrap();
    let mut parent_sub = TracedClient::new(
        client.clone(),
        instrumentation(&capture, ProcessMode::Parent),
    )
    .subscribe(parent_subject.clone())
    .await
    .unwrap();
    client.flush().await.unwrap(); // the subscriptions are registered

    let records =
        PythonPeer::run("nats_producer.py", &[&url, &link_subject, &parent_subject]).await;

    for (sub, subject) in [
        (&mut link_sub, &link_subject),
        (&mut parent_sub, &parent_subject),
    ] {
        let delivered = tokio::time::timeout(DELIVERY_WAIT, sub.next())
            .await
            .unwrap_or_else(|_| panic!("no message on {subject} within {DELIVERY_WAIT:?}"))
            .expect("subscription open");
        assert_eq!(&delivered.payload[..], b"hello from python");
        delivered.end();
    }

    let link_producer = span_named(&records, &format!("send {link_subject}"));
    let parent_producer = span_named(&records, &format!("send {parent_subject}"));
    assert_eq!(link_producer.kind, "PRODUCER");
    assert_eq!(parent_producer.kind, "PRODUCER");
    assert_linked_to_python(
        &capture.span(&format!("process {link_subject}")),
        &link_producer,
    );
    assert_child_of_python(
        &capture.span(&format!("process {parent_subject}")),
        &parent_producer,
    );
}

/// A pika producer → otel-kit-messaging's RabbitMQ consumer.
#[tokio::test]
async fn python_amqp_producer_to_rust_consumer() {
    w3c_global_propagator();
    let capture = capture();
    let url = env_url("OTEL_TEST_AMQP_URL");
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ at {url}: {e}"));
    let channel = connection.create_channel().await.unwrap();
    let link_queue = unique("amqp.link");
    let parent_queue = unique("amqp.parent");
    let mut consumers = Vec::new();
    for (queue, mode) in [
        (&link_queue, ProcessMode::default()),
        (&parent_queue, ProcessMode::Parent),
    ] {
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let consumer = TracedChannel::new(channel.clone(), instrumentation(&capture, mode))
            .basic_consume(
                queue.as_str().into(),
                format!("consumer-{queue}").into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        consumers.push((consumer, queue));
    }

    let records = PythonPeer::run("amqp_producer.py", &[&url, &link_queue, &parent_queue]).await;

    for (consumer, queue) in &mut consumers {
        let delivered = tokio::time::timeout(DELIVERY_WAIT, consumer.next())
            .await
            .unwrap_or_else(|_| panic!("no delivery from {queue} within {DELIVERY_WAIT:?}"))
            .expect("consumer open")
            .expect("delivery");
        assert_eq!(delivered.data, b"hello from python");
        delivered.end();
    }
    drop(consumers);
    let _ = connection.close(200, "done".into()).await;

    let link_producer = span_named(&records, &format!("send {link_queue}"));
    let parent_producer = span_named(&records, &format!("send {parent_queue}"));
    assert_linked_to_python(
        &capture.span(&format!("process {link_queue}")),
        &link_producer,
    );
    assert_child_of_python(
        &capture.span(&format!("process {parent_queue}")),
        &parent_producer,
    );
}

// ------------------------------------------------------------------ B3 over HTTP

/// The header form a B3 request carried: single (`b3`) or multiple
/// (`x-b3-*`), never both, with the sampled flag `sampled`.
#[track_caller]
fn assert_b3_form(request: &Record, python_propagator: &str, sampled: bool) {
    let flag = if sampled { "1" } else { "0" };
    match python_propagator {
        "b3" => {
            let b3 = header(request, "b3").unwrap_or_else(|| panic!("no b3 header: {request:?}"));
            assert!(b3.ends_with(&format!("-{flag}")), "b3: {b3}");
            assert_eq!(header(request, "x-b3-traceid"), None, "{request:?}");
        }
        "b3multi" => {
            assert_eq!(header(request, "x-b3-sampled"), Some(flag), "{request:?}");
            assert!(header(request, "x-b3-traceid").is_some(), "{request:?}");
            assert!(header(request, "x-b3-spanid").is_some(), "{request:?}");
            assert_eq!(header(request, "b3"), None, "{request:?}");
        }
        other => unreachable!("{other}"),
    }
}

/// Python B3 client (`B3SingleFormat` / `B3MultiFormat`) → Rust server with
/// otel-kit-core's B3 propagator: sampled, the SERVER span is the Python CLIENT
/// span's child; unsampled, the Rust side continues the trace unsampled and
/// records nothing.
async fn b3_python_client_calls_rust_server(python_propagator: &str) {
    let capture = capture();
    let (addr, seen) = rust_server(&capture, B3Propagator::single()).await;
    let url = format!("http://{addr}/orders/7");

    let records =
        PythonPeer::run("http_client.py", &[&url, "--propagator", python_propagator]).await;
    let request = record_of(&records, "request");
    assert_b3_form(request, python_propagator, true);
    let client = span_named(&records, "GET");
    let server = capture.wait_for_span("GET /orders/{id}").await;
    assert_python_parent(&server, &client);
    assert!(server.span_context.is_sampled());

    let records = PythonPeer::run(
        "http_client.py",
        &[&url, "--propagator", python_propagator, "--unsampled"],
    )
    .await;
    let request = record_of(&records, "request");
    assert_b3_form(request, python_propagator, false);
    assert!(
        !records.iter().any(|r| r.kind == "span"),
        "an unsampled Python span is not exported: {records:?}"
    );
    let python_trace = trace_id(request["span"]["trace_id"].as_str().unwrap());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let unsampled = &seen[1].span_context;
    assert_eq!(unsampled.trace_id(), python_trace, "the trace goes on");
    assert!(!unsampled.is_sampled(), "the unsampled decision is kept");
    assert_eq!(
        capture.spans().len(),
        1,
        "only the sampled request made a span: {:#?}",
        capture.spans()
    );
}

#[tokio::test]
async fn b3_single_python_client_calls_rust_server() {
    b3_python_client_calls_rust_server("b3").await;
}

#[tokio::test]
async fn b3_multi_python_client_calls_rust_server() {
    b3_python_client_calls_rust_server("b3multi").await;
}

/// Rust client with otel-kit-core's B3 propagator (single or multiple headers) →
/// Python server with the matching Python B3 propagator: sampled, the Python
/// SERVER span is the Rust CLIENT span's child; unsampled (the Rust request
/// made under an unsampled remote parent), Python continues the trace
/// unsampled.
async fn b3_rust_client_calls_python_server(rust: B3Propagator, python_propagator: &str) {
    let capture = capture();
    let (mut server, port) = python_server(python_propagator).await;

    let sampled_url = format!("http://127.0.0.1:{port}/sampled");
    hyper_get(&capture, rust, &sampled_url, Context::new()).await;
    let python = server.wait_for_span("GET /sampled").await;
    let client = rust_span_with(&capture, "url.full", &sampled_url);
    client.assert_kind(SpanKind::Client);
    assert_rust_parent(&python, &client);
    assert!(python.sampled);
    let request = server
        .wait_for("the sampled request", |r| {
            r.kind == "request" && r["path"] == "/sampled"
        })
        .await;
    assert_b3_form(&request, python_propagator, true);

    let ids = RandomIdGenerator::default();
    let upstream = SpanContext::new(
        ids.new_trace_id(),
        ids.new_span_id(),
        TraceFlags::default(),
        true,
        TraceState::default(),
    );
    let unsampled_parent = Context::new().with_remote_span_context(upstream.clone());
    let unsampled_url = format!("http://127.0.0.1:{port}/unsampled");
    hyper_get(&capture, rust, &unsampled_url, unsampled_parent).await;
    let request = server
        .wait_for("the unsampled request", |r| {
            r.kind == "request" && r["path"] == "/unsampled"
        })
        .await;
    assert_b3_form(&request, python_propagator, false);
    let remote = &request["remote"];
    assert_eq!(
        trace_id(remote["trace_id"].as_str().unwrap()),
        upstream.trace_id(),
        "Python extracted the trace: {request:?}"
    );
    let client_span = span_id(remote["span_id"].as_str().unwrap());
    assert_ne!(client_span, SpanId::INVALID, "{request:?}");
    assert_ne!(
        client_span,
        upstream.span_id(),
        "the parent is the (unrecorded) Rust CLIENT span, not its upstream: {request:?}"
    );
    assert_eq!(remote["sampled"], false, "{request:?}");
    assert_eq!(
        request["span"]["sampled"], false,
        "Python keeps the decision"
    );
    assert_eq!(
        trace_id(request["span"]["trace_id"].as_str().unwrap()),
        upstream.trace_id()
    );
    assert_eq!(capture.spans().len(), 1, "{:#?}", capture.spans());

    let records = server.finish().await;
    assert!(
        !records
            .iter()
            .any(|r| r.kind == "span" && r["name"] == "GET /unsampled"),
        "an unsampled Python span is not exported: {records:?}"
    );
}

#[tokio::test]
async fn b3_single_rust_client_calls_python_server() {
    b3_rust_client_calls_python_server(B3Propagator::single(), "b3").await;
}

#[tokio::test]
async fn b3_multi_rust_client_calls_python_server() {
    b3_rust_client_calls_python_server(B3Propagator::multi(), "b3multi").await;
}
