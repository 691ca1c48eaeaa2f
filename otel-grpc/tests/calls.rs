//! Client and server layers on loopback tonic servers: spans, parentage,
//! status rows, streams, cancellation, transport failures.

mod support;

use std::time::{Duration, SystemTime};

use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::testing::{Capture, CapturedSpan, assert_parent, assert_same_trace};
use otel_kit_grpc::status::{ALL_CODES, code_name, is_server_error};
use support::*;
use tonic::Code;

async fn wait_kind(capture: &Capture, kind: SpanKind, n: usize) -> Vec<CapturedSpan> {
    for _ in 0..1000 {
        let spans = capture.find_all(|s| s.kind() == kind);
        if spans.len() >= n {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("fewer than {n} {kind:?} spans: {:?}", capture.spans());
}

/// Client and server spans of the one call made, the server one ended too.
async fn call_spans(capture: &Capture) -> (CapturedSpan, CapturedSpan) {
    let client = wait_kind(capture, SpanKind::Client, 1).await.remove(0);
    let server = wait_kind(capture, SpanKind::Server, 1).await.remove(0);
    (client, server)
}

fn check_pair(client: &CapturedSpan, server: &CapturedSpan, method: &str, handler_ids: &str) {
    assert_eq!(client.name(), method);
    assert_eq!(server.name(), method);
    client
        .assert_kind(SpanKind::Client)
        .assert_attr("rpc.system.name", "grpc")
        .assert_attr("rpc.method", method)
        .assert_attr("server.address", "127.0.0.1")
        .assert_attr("rpc.response.status_code", "OK")
        .assert_no_attr("error.type")
        .assert_not_error();
    assert!(client.attr_i64("server.port").is_some());
    server
        .assert_kind(SpanKind::Server)
        .assert_attr("rpc.system.name", "grpc")
        .assert_attr("rpc.method", method)
        .assert_attr("server.address", "127.0.0.1")
        .assert_attr("rpc.response.status_code", "OK")
        .assert_not_error();
    assert_same_trace(client, server);
    assert_parent(server, client);
    assert!(server.has_remote_parent());
    assert_eq!(
        handler_ids,
        format!("{}:{}", server.trace_id(), server.span_id()),
        "the handler runs with the server span as its current context"
    );
}

#[tokio::test]
async fn unary_spans_one_trace() {
    let capture = Capture::new();
    let (_, mut client) = pair(&capture).await;
    let reply = client.unary(req("hi")).await.unwrap().into_inner();
    assert_eq!(reply.message, "hi");
    let (c, s) = call_spans(&capture).await;
    check_pair(&c, &s, UNARY, &reply.trace_id);
}

#[tokio::test]
async fn client_stream_spans_one_trace() {
    let capture = Capture::new();
    let (_, mut client) = pair(&capture).await;
    let input = futures_util::stream::iter([req("a"), req("b"), req("c")]);
    let reply = client.client_stream(input).await.unwrap().into_inner();
    assert_eq!(reply.message, "a,b,c");
    let (c, s) = call_spans(&capture).await;
    check_pair(&c, &s, CLIENT_STREAM, &reply.trace_id);
}

#[tokio::test]
async fn server_stream_spans_end_with_the_stream() {
    let capture = Capture::new();
    let (_, mut client) = pair(&capture).await;
    let request = EchoRequest {
        message: "m".into(),
        count: 3,
        delay_ms: 50,
        ..Default::default()
    };
    let mut stream = client.server_stream(request).await.unwrap().into_inner();
    let first = stream.message().await.unwrap().unwrap();
    let after_first = SystemTime::now();
    assert!(
        capture.spans().is_empty(),
        "no span may end before the stream does: {:?}",
        capture.spans()
    );
    let mut replies = vec![first];
    while let Some(reply) = stream.message().await.unwrap() {
        replies.push(reply);
    }
    assert_eq!(replies.len(), 3);
    let (c, s) = call_spans(&capture).await;
    // Every message was produced inside the server span's context.
    for r in &replies {
        assert_eq!(r.trace_id, format!("{}:{}", s.trace_id(), s.span_id()));
    }
    check_pair(&c, &s, SERVER_STREAM, &replies[0].trace_id);
    assert!(c.end_time > after_first && s.end_time > after_first);
}

#[tokio::test]
async fn bidi_spans_one_trace() {
    let capture = Capture::new();
    let (_, mut client) = pair(&capture).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut replies = client
        .bidi(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(req("one")).await.unwrap();
    let one = replies.message().await.unwrap().unwrap();
    assert_eq!(one.message, "one");
    tx.send(req("two")).await.unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().message, "two");
    assert!(capture.spans().is_empty(), "the call is still open");
    drop(tx);
    assert!(replies.message().await.unwrap().is_none());
    let (c, s) = call_spans(&capture).await;
    check_pair(&c, &s, BIDI, &one.trace_id);
}

#[tokio::test]
async fn every_status_code_row_on_both_sides() {
    let capture = Capture::new();
    let (_, mut client) = pair(&capture).await;
    for code in ALL_CODES.into_iter().skip(1) {
        capture.clear();
        let request = EchoRequest {
            code: code as i32,
            ..Default::default()
        };
        let err = client.unary(request).await.unwrap_err();
        assert_eq!(err.code(), code);
        let (c, s) = call_spans(&capture).await;
        let name = code_name(code);
        c.assert_attr("rpc.response.status_code", name)
            .assert_attr("error.type", name)
            .assert_error();
        assert_eq!(c.error_description(), Some("failing on purpose"));
        s.assert_attr("rpc.response.status_code", name);
        if is_server_error(code) {
            s.assert_attr("error.type", name).assert_error();
        } else {
            s.assert_no_attr("error.type").assert_not_error();
        }
    }
}

#[tokio::test]
async fn errors_sent_only_in_trailers() {
    let capture = Capture::new();
    let (_, mut client) = pair(&capture).await;
    // Two messages, then INTERNAL in the trailers (HTTP 200, headers without a status).
    let request = EchoRequest {
        count: 2,
        code: Code::Internal as i32,
        ..Default::default()
    };
    let mut stream = client.server_stream(request).await.unwrap().into_inner();
    assert!(stream.message().await.unwrap().is_some());
    assert!(stream.message().await.unwrap().is_some());
    assert_eq!(stream.message().await.unwrap_err().code(), Code::Internal);
    let (c, s) = call_spans(&capture).await;
    c.assert_attr("rpc.response.status_code", "INTERNAL")
        .assert_error();
    s.assert_attr("rpc.response.status_code", "INTERNAL")
        .assert_attr("error.type", "INTERNAL")
        .assert_error();

    // NOT_FOUND in the trailers of a bidi stream: client error, server not.
    capture.clear();
    let input = futures_util::stream::iter([
        req("ok"),
        EchoRequest {
            code: Code::NotFound as i32,
            ..Default::default()
        },
    ]);
    let mut replies = client.bidi(input).await.unwrap().into_inner();
    assert!(replies.message().await.unwrap().is_some());
    assert_eq!(replies.message().await.unwrap_err().code(), Code::NotFound);
    let (c, s) = call_spans(&capture).await;
    c.assert_attr("error.type", "NOT_FOUND").assert_error();
    s.assert_attr("rpc.response.status_code", "NOT_FOUND")
        .assert_not_error();
}

#[tokio::test]
async fn transport_failure_to_a_closed_port() {
    let capture = Capture::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let layer = client_builder(&capture, addr).build();
    let mut client = EchoClient::new(tower::ServiceBuilder::new().layer(layer).service(channel));
    let err = client.unary(req("x")).await.unwrap_err();
    let span = capture.span(UNARY);
    let name = code_name(err.code());
    assert_ne!(err.code(), Code::Ok);
    // The status tonic reports is the status code; the error raised is the
    // error type (see tests/errors.rs).
    span.assert_kind(SpanKind::Client)
        .assert_attr("rpc.response.status_code", name)
        .assert_attr("error.type", "tonic::transport::error::Error")
        .assert_attr("server.port", i64::from(addr.port()))
        .assert_error();
    let metrics = capture.collect_metrics();
    metrics.histogram("rpc.client.call.duration").assert_count(
        &[
            KeyValue::new("rpc.method", UNARY),
            KeyValue::new("error.type", "tonic::transport::error::Error"),
        ],
        1,
    );
}

#[tokio::test]
async fn caller_cancellation_is_recorded() {
    let capture = Capture::new();
    let (_, mut client) = pair(&capture).await;
    // Unary: the caller gives up while the handler still works.
    let slow = EchoRequest {
        delay_ms: 10_000,
        ..Default::default()
    };
    let timed_out = tokio::time::timeout(Duration::from_millis(100), client.unary(slow)).await;
    assert!(timed_out.is_err());
    let (c, s) = call_spans(&capture).await;
    c.assert_attr("rpc.response.status_code", "CANCELLED")
        .assert_attr("error.type", "CANCELLED")
        .assert_error();
    s.assert_attr("rpc.response.status_code", "CANCELLED")
        .assert_no_attr("error.type")
        .assert_not_error();

    // Server stream: the caller drops the stream after one message.
    capture.clear();
    let long = EchoRequest {
        count: 1000,
        delay_ms: 10,
        ..Default::default()
    };
    let mut stream = client.server_stream(long).await.unwrap().into_inner();
    assert!(stream.message().await.unwrap().is_some());
    drop(stream);
    let (c, s) = call_spans(&capture).await;
    c.assert_attr("rpc.response.status_code", "CANCELLED")
        .assert_error();
    s.assert_attr("rpc.response.status_code", "CANCELLED")
        .assert_not_error();
}

#[tokio::test]
async fn metrics_points() {
    let capture = Capture::new();
    let (addr, mut client) = pair(&capture).await;
    client.unary(req("a")).await.unwrap();
    client.unary(req("b")).await.unwrap();
    let nf = EchoRequest {
        code: Code::NotFound as i32,
        ..Default::default()
    };
    client.unary(nf).await.unwrap_err();
    wait_kind(&capture, SpanKind::Server, 3).await;
    let metrics = capture.collect_metrics();
    let server = metrics.histogram("rpc.server.call.duration");
    assert_eq!(metrics.metric("rpc.server.call.duration").unit(), "s");
    assert_eq!(metrics.metric("rpc.client.call.duration").unit(), "s");
    let ok = [
        KeyValue::new("rpc.system.name", "grpc"),
        KeyValue::new("rpc.method", UNARY),
        KeyValue::new("rpc.response.status_code", "OK"),
    ];
    server.assert_count(&ok, 2);
    let p = server.point_with(&ok);
    assert_eq!(p.attributes.len(), 3, "{:?}", p.attributes);
    let nf_server = server.point_with(&[KeyValue::new("rpc.response.status_code", "NOT_FOUND")]);
    assert_eq!(nf_server.count, 1);
    assert!(
        !nf_server
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "error.type"),
        "NOT_FOUND is no server error"
    );
    let client_h = metrics.histogram("rpc.client.call.duration");
    client_h.assert_count(
        &[
            KeyValue::new("rpc.method", UNARY),
            KeyValue::new("rpc.response.status_code", "OK"),
            KeyValue::new("server.address", "127.0.0.1"),
            KeyValue::new("server.port", i64::from(addr.port())),
        ],
        2,
    );
    client_h.assert_count(&[KeyValue::new("error.type", "NOT_FOUND")], 1);
    metrics.assert_absent("rpc.server.duration");
    metrics.assert_absent("rpc.client.duration");
}
