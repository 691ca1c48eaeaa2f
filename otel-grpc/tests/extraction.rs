//! The family's one extraction rule on the server: the caller's context is
//! extracted **on top of the current context** (before the instrumentation
//! core, otel-kit-grpc extracted into an empty context).

use std::convert::Infallible;

use http::{Request, Response};
use otel_kit_core::opentelemetry::baggage::BaggageExt;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_core::testing::{Capture, assert_parent};
use otel_kit_grpc::GrpcServerLayer;
use tower::{Layer, ServiceExt, service_fn};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A handler answering OK that reports the baggage `k` it sees as current.
async fn handle(
    _req: Request<tonic::body::Body>,
) -> Result<Response<tonic::body::Body>, Infallible> {
    let k = Context::current()
        .baggage()
        .get("k")
        .map(|v| v.to_string())
        .unwrap_or_default();
    let mut response = tonic::Status::ok("").into_http::<tonic::body::Body>();
    response.headers_mut().insert("x-k", k.parse().unwrap());
    Ok(response)
}

fn request(traceparent: Option<&str>) -> Request<tonic::body::Body> {
    let mut b = Request::post("/a.B/C");
    if let Some(tp) = traceparent {
        b = b.header("traceparent", tp);
    }
    b.body(tonic::body::Body::empty()).unwrap()
}

/// Runs one call through the server layer inside `outer` (an ambient span
/// with baggage `k=outer`) and returns the baggage the handler saw.
async fn call_inside(capture: &Capture, public: bool, traceparent: Option<&str>) -> String {
    let layer = GrpcServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .public_endpoint(public)
        .build();
    let svc = layer.layer(service_fn(handle));
    let outer = capture.tracer_provider().tracer("test").start("outer");
    let cx = Context::new()
        .with_span(outer)
        .with_baggage([KeyValue::new("k", "outer")]);
    // The layer's call (where extraction happens) runs with `cx` current.
    let response = svc
        .oneshot(request(traceparent))
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();
    response.headers()["x-k"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn without_context_the_call_continues_the_current_one() {
    let capture = Capture::new();
    let baggage = call_inside(&capture, false, None).await;
    let outer = capture.span("outer");
    let server = capture.find(|s| s.kind() == SpanKind::Server).unwrap();
    // Before: a new root. Now: a child of the ambient span.
    assert_parent(&server, &outer);
    assert_eq!(baggage, "outer", "the current baggage stays");
}

#[tokio::test]
async fn a_valid_traceparent_replaces_only_the_current_span() {
    let capture = Capture::new();
    let baggage = call_inside(&capture, false, Some(TRACEPARENT)).await;
    let server = capture.find(|s| s.kind() == SpanKind::Server).unwrap();
    assert_eq!(
        server.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(server.parent_span_id().to_string(), "00f067aa0ba902b7");
    assert!(server.has_remote_parent());
    // The carrier brought no baggage: the current baggage is kept.
    assert_eq!(baggage, "outer");
}

#[tokio::test]
async fn a_malformed_traceparent_is_ignored() {
    let capture = Capture::new();
    call_inside(&capture, false, Some("00-zz-not-a-trace-01")).await;
    let outer = capture.span("outer");
    let server = capture.find(|s| s.kind() == SpanKind::Server).unwrap();
    assert_parent(&server, &outer);
}

#[tokio::test]
async fn public_endpoint_links_the_caller_and_stays_under_the_current_context() {
    let capture = Capture::new();
    call_inside(&capture, true, Some(TRACEPARENT)).await;
    let outer = capture.span("outer");
    let server = capture.find(|s| s.kind() == SpanKind::Server).unwrap();
    assert_parent(&server, &outer);
    assert_eq!(server.links().len(), 1);
    assert_eq!(
        server.links()[0].span_context.span_id().to_string(),
        "00f067aa0ba902b7"
    );
}
