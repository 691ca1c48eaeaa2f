//! `error.type` and exceptions, by the family's one rule: a gRPC status is
//! the call's outcome (its code name, per the side's table, no exception);
//! an error raised instead of a status (a transport failure, a failing
//! handler) is an exception whose `error.type` is the error's class.

mod support;

use std::time::Duration;

use http::{Request, Response};
use otel_kit_core::config::ExceptionSignal;
use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::logs::AnyValue;
use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::testing::{Capture, CapturedSpan};
use support::*;
use tonic::Code;
use tower::{Layer, ServiceExt, service_fn};

async fn wait_kind(capture: &Capture, kind: SpanKind) -> CapturedSpan {
    for _ in 0..1000 {
        if let Some(span) = capture.find(|s| s.kind() == kind) {
            return span;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no {kind:?} span: {:?}", capture.spans());
}

#[tokio::test]
async fn status_codes_are_error_types_not_exceptions() {
    let capture = Capture::new();
    let (_, mut client) = pair(&capture).await;
    // INTERNAL: an error on both sides.
    let internal = EchoRequest {
        code: Code::Internal as i32,
        ..Default::default()
    };
    client.unary(internal).await.unwrap_err();
    let c = wait_kind(&capture, SpanKind::Client).await;
    let s = wait_kind(&capture, SpanKind::Server).await;
    for span in [&c, &s] {
        span.assert_attr("error.type", "INTERNAL").assert_error();
        assert!(
            span.event("exception").is_none(),
            "a status is no exception"
        );
    }
    // NOT_FOUND: the client's error, not the server's.
    capture.clear();
    let nf = EchoRequest {
        code: Code::NotFound as i32,
        ..Default::default()
    };
    client.unary(nf).await.unwrap_err();
    let c = wait_kind(&capture, SpanKind::Client).await;
    let s = wait_kind(&capture, SpanKind::Server).await;
    c.assert_attr("error.type", "NOT_FOUND").assert_error();
    s.assert_no_attr("error.type").assert_not_error();
    assert!(c.event("exception").is_none());
}

#[tokio::test]
async fn transport_failure_is_an_exception_with_the_error_type() {
    let capture = Capture::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let layer = client_builder(&capture, addr)
        .exception_signal(ExceptionSignal::Both)
        .logger_provider(&capture.logger_provider())
        .build();
    let mut client = EchoClient::new(tower::ServiceBuilder::new().layer(layer).service(channel));
    let err = client.unary(req("x")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    let span = capture.span(UNARY);
    span.assert_attr("rpc.response.status_code", "UNAVAILABLE")
        .assert_attr("error.type", "tonic::transport::error::Error")
        .assert_error();
    let event = span.event("exception").expect("an exception event");
    assert!(
        event
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "exception.type"
                && kv.value.as_str() == "tonic::transport::error::Error")
    );
    let logs = capture.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].event_name(), Some("rpc.client.call.exception"));
    assert_eq!(
        logs[0].attr("exception.type"),
        Some(&AnyValue::from("tonic::transport::error::Error"))
    );
    capture
        .collect_metrics()
        .histogram("rpc.client.call.duration")
        .assert_count(
            &[
                KeyValue::new("rpc.response.status_code", "UNAVAILABLE"),
                KeyValue::new("error.type", "tonic::transport::error::Error"),
            ],
            1,
        );
}

/// A server whose inner service fails with `error` instead of answering.
async fn failing_handler<E>(error: fn() -> E) -> CapturedSpan
where
    E: std::fmt::Display + Send + 'static,
{
    let capture = Capture::new();
    let svc = server_builder(&capture).build().layer(service_fn(
        move |_req: Request<tonic::body::Body>| async move {
            Err::<Response<tonic::body::Body>, E>(error())
        },
    ));
    let request = Request::post("/a.B/C")
        .body(tonic::body::Body::empty())
        .unwrap();
    assert!(svc.oneshot(request).await.is_err());
    capture.find(|s| s.kind() == SpanKind::Server).unwrap()
}

#[tokio::test]
async fn handler_errors_are_exceptions_typed_by_their_rust_type() {
    let s = failing_handler(|| std::io::Error::other("disk on fire")).await;
    s.assert_attr("rpc.response.status_code", "UNKNOWN")
        .assert_attr("error.type", "std::io::error::Error")
        .assert_error();
    assert_eq!(s.error_description(), Some("disk on fire"));
    assert!(s.event("exception").is_some());

    // A type-erased error says nothing: _OTHER.
    let s = failing_handler(|| -> otel_kit_grpc::BoxError { "boxed".into() }).await;
    s.assert_attr("error.type", "_OTHER").assert_error();
}
