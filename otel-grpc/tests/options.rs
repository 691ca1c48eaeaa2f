//! Options: filters, metadata capture, dup mode, unknown methods, public
//! endpoint, propagators, sampling, bad input.

mod support;

use std::time::Duration;

use otel_kit_core::instrument::not;
use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::opentelemetry::{KeyValue, Value};
use otel_kit_core::opentelemetry_sdk::trace::Sampler;
use otel_kit_core::propagation::{B3Encoding, B3Propagator};
use otel_kit_core::testing::{Capture, CapturedSpan, assert_linked, assert_parent, assert_root};
use otel_kit_grpc::filter::{method, service};
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

#[tokio::test]
async fn filters_skip_calls() {
    let capture = Capture::new();
    let server = server_builder(&capture).filter(not(method(UNARY))).build();
    let addr = serve(server).await;
    let client_layer = client_builder(&capture, addr)
        .filter(not(service("otel.test.v1.Echo")))
        .build();
    let mut client = connect(addr, client_layer).await;
    client.unary(req("skipped")).await.unwrap();
    client
        .client_stream(futures_util::stream::iter([req("traced")]))
        .await
        .unwrap();
    let server_spans = wait_kind(&capture, SpanKind::Server, 1).await;
    assert_eq!(server_spans.len(), 1);
    assert_eq!(server_spans[0].name(), CLIENT_STREAM);
    assert!(capture.find(|s| s.kind() == SpanKind::Client).is_none());
    let metrics = capture.collect_metrics();
    metrics
        .histogram("rpc.server.call.duration")
        .assert_count(&[KeyValue::new("rpc.method", CLIENT_STREAM)], 1);
    assert!(
        metrics
            .get("rpc.client.call.duration")
            .is_none_or(|m| m.point_count() == 0)
    );
}

#[tokio::test]
async fn metadata_capture_allow_lists() {
    let capture = Capture::new();
    let server = server_builder(&capture)
        .capture_request_headers(["X-Tenant", "authorization"])
        .capture_response_headers(["x-served-by"])
        .build();
    let addr = serve(server).await;
    let layer = client_builder(&capture, addr)
        .capture_request_headers(["x-tenant"])
        .capture_response_headers(["x-served-by", "x-missing"])
        .build();
    let mut client = connect(addr, layer).await;
    let mut request = tonic::Request::new(req("m"));
    request
        .metadata_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    request
        .metadata_mut()
        .insert("authorization", "Bearer secret".parse().unwrap());
    client.unary(request).await.unwrap();
    let c = wait_kind(&capture, SpanKind::Client, 1).await.remove(0);
    let s = wait_kind(&capture, SpanKind::Server, 1).await.remove(0);
    let acme = Value::Array(vec![otel_kit_core::opentelemetry::StringValue::from("acme")].into());
    let echo = Value::Array(vec![otel_kit_core::opentelemetry::StringValue::from("echo")].into());
    assert_eq!(s.attr("rpc.request.metadata.x-tenant"), Some(&acme));
    assert_eq!(c.attr("rpc.request.metadata.x-tenant"), Some(&acme));
    s.assert_no_attr("rpc.request.metadata.authorization");
    assert_eq!(c.attr("rpc.response.metadata.x-served-by"), Some(&echo));
    assert_eq!(s.attr("rpc.response.metadata.x-served-by"), Some(&echo));
    c.assert_no_attr("rpc.response.metadata.x-missing");
}

#[tokio::test]
async fn sensitive_metadata_is_refused_unless_allowed() {
    let capture = Capture::new();
    let sensitive = otel_kit_core::instrument::SENSITIVE_HEADERS;
    let listed: Vec<&str> = sensitive.iter().copied().chain(["x-tenant"]).collect();
    // The first server lists every sensitive key and allows none.
    let refused = serve(
        server_builder(&capture)
            .capture_request_headers(&listed)
            .build(),
    )
    .await;
    // The second allows `authorization` (any case) only.
    let allowed = serve(
        server_builder(&capture)
            .capture_request_headers(&listed)
            .allow_sensitive_headers(["Authorization"])
            .build(),
    )
    .await;
    for addr in [refused, allowed] {
        let mut client = connect(addr, client_builder(&capture, addr).build()).await;
        let mut request = tonic::Request::new(req("m"));
        for key in &listed {
            let key: tonic::metadata::MetadataKey<_> = key.parse().unwrap();
            request.metadata_mut().insert(key, "v".parse().unwrap());
        }
        client.unary(request).await.unwrap();
    }
    let servers = wait_kind(&capture, SpanKind::Server, 2).await;
    let by_port = |addr: std::net::SocketAddr| {
        servers
            .iter()
            .find(|s| s.attr_i64("server.port") == Some(i64::from(addr.port())))
            .unwrap()
    };
    let s = by_port(refused);
    s.assert_attr(
        "rpc.request.metadata.x-tenant",
        Value::Array(vec![otel_kit_core::opentelemetry::StringValue::from("v")].into()),
    );
    for key in sensitive {
        s.assert_no_attr(&format!("rpc.request.metadata.{key}"));
    }
    let s = by_port(allowed);
    assert!(s.attr("rpc.request.metadata.authorization").is_some());
    for key in sensitive.iter().filter(|k| **k != "authorization") {
        s.assert_no_attr(&format!("rpc.request.metadata.{key}"));
    }
}

#[tokio::test]
async fn dup_mode_names_events_and_metrics() {
    let capture = Capture::new();
    let addr = serve(server_builder(&capture).semconv_dup(true).build()).await;
    let mut client = connect(
        addr,
        client_builder(&capture, addr).semconv_dup(true).build(),
    )
    .await;
    let input = futures_util::stream::iter([req("a"), req("bb")]);
    let mut replies = client.bidi(input).await.unwrap().into_inner();
    while replies.message().await.unwrap().is_some() {}
    let c = wait_kind(&capture, SpanKind::Client, 1).await.remove(0);
    let s = wait_kind(&capture, SpanKind::Server, 1).await.remove(0);
    for span in [&c, &s] {
        assert_eq!(span.name(), BIDI);
        span.assert_attr("rpc.system", "grpc")
            .assert_attr("rpc.system.name", "grpc")
            .assert_attr("rpc.service", "otel.test.v1.Echo")
            .assert_attr("rpc.method", "Bidi")
            .assert_attr("rpc.grpc.status_code", 0)
            .assert_attr("rpc.response.status_code", "OK");
        let events: Vec<(String, i64)> = span
            .events()
            .iter()
            .filter(|e| e.name == "rpc.message")
            .map(|e| {
                let get = |k: &str| {
                    e.attributes
                        .iter()
                        .find(|kv| kv.key.as_str() == k)
                        .map(|kv| kv.value.clone())
                };
                let kind = get("rpc.message.type").unwrap().as_str().into_owned();
                let Some(Value::I64(id)) = get("rpc.message.id") else {
                    panic!("id")
                };
                assert!(
                    matches!(get("rpc.message.uncompressed_size"), Some(Value::I64(n)) if n > 0)
                );
                (kind, id)
            })
            .collect();
        let (mine, theirs) = if span.kind() == SpanKind::Client {
            ("SENT", "RECEIVED")
        } else {
            ("RECEIVED", "SENT")
        };
        let count = |k: &str| {
            events
                .iter()
                .filter(|(t, _)| t == k)
                .map(|(_, id)| *id)
                .collect::<Vec<_>>()
        };
        assert_eq!(count(mine), [1, 2], "{events:?}");
        assert_eq!(count(theirs), [1, 2], "{events:?}");
    }
    let metrics = capture.collect_metrics();
    let old = metrics.histogram("rpc.server.duration");
    assert_eq!(metrics.metric("rpc.server.duration").unit(), "ms");
    old.assert_count(
        &[
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", "otel.test.v1.Echo"),
            KeyValue::new("rpc.method", "Bidi"),
            KeyValue::new("rpc.grpc.status_code", 0),
        ],
        1,
    );
    metrics
        .histogram("rpc.client.duration")
        .assert_count(&[KeyValue::new("rpc.method", "Bidi")], 1);
    metrics
        .histogram("rpc.server.call.duration")
        .assert_count(&[KeyValue::new("rpc.method", BIDI)], 1);

    // Unary with an error: integer code on the span.
    capture.clear();
    let nf = EchoRequest {
        code: Code::NotFound as i32,
        ..Default::default()
    };
    client.unary(nf).await.unwrap_err();
    let c = wait_kind(&capture, SpanKind::Client, 1).await.remove(0);
    c.assert_attr("rpc.grpc.status_code", 5)
        .assert_attr("rpc.response.status_code", "NOT_FOUND");
}

#[tokio::test]
async fn unknown_methods_are_other() {
    let capture = Capture::new();
    let server = server_builder(&capture).known_methods([UNARY]).build();
    let addr = serve(server).await;
    let mut client = connect(addr, client_builder(&capture, addr).build()).await;
    client
        .client_stream(futures_util::stream::iter([req("x")]))
        .await
        .unwrap();
    let s = wait_kind(&capture, SpanKind::Server, 1).await.remove(0);
    assert_eq!(s.name(), "grpc");
    s.assert_attr("rpc.method", "_OTHER")
        .assert_attr("rpc.method_original", CLIENT_STREAM);
    let metrics = capture.collect_metrics();
    metrics
        .histogram("rpc.server.call.duration")
        .assert_count(&[KeyValue::new("rpc.method", "_OTHER")], 1);
}

#[tokio::test]
async fn public_endpoint_starts_a_linked_root() {
    let capture = Capture::new();
    let addr = serve(server_builder(&capture).public_endpoint(true).build()).await;
    let mut client = connect(addr, client_builder(&capture, addr).build()).await;
    client.unary(req("x")).await.unwrap();
    let c = wait_kind(&capture, SpanKind::Client, 1).await.remove(0);
    let s = wait_kind(&capture, SpanKind::Server, 1).await.remove(0);
    assert_root(&s);
    assert_linked(&s, &c);
    assert_ne!(s.trace_id(), c.trace_id());
}

#[tokio::test]
async fn b3_propagation() {
    let capture = Capture::new();
    let b3 = || B3Propagator::with_encoding(B3Encoding::MultipleHeaders);
    let addr = serve(server_builder(&capture).propagator(b3()).build()).await;
    let mut client = connect(
        addr,
        client_builder(&capture, addr).propagator(b3()).build(),
    )
    .await;
    client.unary(req("x")).await.unwrap();
    let c = wait_kind(&capture, SpanKind::Client, 1).await.remove(0);
    let s = wait_kind(&capture, SpanKind::Server, 1).await.remove(0);
    assert_parent(&s, &c);
}

#[tokio::test]
async fn unsampled_calls_record_metrics_only() {
    let capture = Capture::builder().sampler(Sampler::AlwaysOff).build();
    let (_, mut client) = pair(&capture).await;
    let reply = client.unary(req("x")).await.unwrap().into_inner();
    assert_eq!(reply.message, "x");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(capture.spans().is_empty());
    let metrics = capture.collect_metrics();
    metrics
        .histogram("rpc.client.call.duration")
        .assert_count(&[KeyValue::new("rpc.method", UNARY)], 1);
}

#[tokio::test]
async fn bad_traceparent_starts_a_new_root() {
    let capture = Capture::new();
    let addr = serve(server_builder(&capture).build()).await;
    // No client layer: the request carries a malformed traceparent.
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = EchoClient::new(channel);
    let mut request = tonic::Request::new(req("x"));
    request
        .metadata_mut()
        .insert("traceparent", "00-zz-not-a-trace-01".parse().unwrap());
    client.unary(request).await.unwrap();
    let s = wait_kind(&capture, SpanKind::Server, 1).await.remove(0);
    assert_root(&s);
}

#[tokio::test]
async fn resend_count_from_a_retry_layer() {
    let capture = Capture::new();
    let (_, mut client) = pair(&capture).await;
    let mut request = tonic::Request::new(req("x"));
    request
        .extensions_mut()
        .insert(otel_kit_core::instrument::ResendCount(2));
    client.unary(request).await.unwrap();
    let c = wait_kind(&capture, SpanKind::Client, 1).await.remove(0);
    c.assert_attr("http.request.resend_count", 2);
    capture.clear();
    client.unary(req("y")).await.unwrap();
    let c = wait_kind(&capture, SpanKind::Client, 1).await.remove(0);
    c.assert_no_attr("http.request.resend_count");
}
