//! The client's propagation allow-list (`LayerBuilder::propagate_to`): trace
//! headers and baggage go only to listed destinations, over a real tonic
//! channel and through an in-process stack that shows the exact metadata
//! the inner service receives.

mod support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, Request};
use otel_kit_core::opentelemetry::baggage::BaggageExt;
use otel_kit_core::opentelemetry::propagation::TextMapCompositePropagator;
use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::propagation::{
    B3Encoding, B3Propagator, BaggagePropagator, JaegerPropagator, TraceContextPropagator,
};
use otel_kit_core::testing::{Capture, CapturedSpan, assert_parent, assert_root};
use otel_kit_grpc::{GrpcClientLayer, ServerAddress};
use support::*;
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// Every metadata key a propagator in [`all_propagators`] may inject.
const CONTEXT_KEYS: &[&str] = &[
    "traceparent",
    "tracestate",
    "baggage",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "uber-trace-id",
];

fn all_propagators() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
        Box::new(B3Propagator::with_encoding(B3Encoding::MultipleHeaders)),
        Box::new(JaegerPropagator::new()),
    ])
}

async fn wait_kind(capture: &Capture, kind: SpanKind) -> CapturedSpan {
    for _ in 0..1000 {
        if let Some(span) = capture.find(|s| s.kind() == kind) {
            return span;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no {kind:?} span: {:?}", capture.spans());
}

/// Sends one call (`uri`) through a client layer built from `builder` to an
/// in-process handler, with baggage in the caller's context; returns the
/// metadata the handler received and the client span.
async fn metadata_seen(
    builder: otel_kit_grpc::LayerBuilder<otel_kit_grpc::ClientSide>,
    uri: &str,
    capture: &Capture,
) -> (HeaderMap, CapturedSpan) {
    capture.clear();
    let seen = Arc::new(Mutex::new(HeaderMap::new()));
    let handler = {
        let seen = Arc::clone(&seen);
        service_fn(move |req: Request<tonic::body::Body>| {
            *seen.lock().unwrap() = req.headers().clone();
            async { Ok::<_, Infallible>(tonic::Status::ok("").into_http::<tonic::body::Body>()) }
        })
    };
    let layer = builder
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(all_propagators())
        .build();
    let stack = ServiceBuilder::new().layer(layer).service(handler);
    let mut request = Request::post(uri).body(tonic::body::Body::empty()).unwrap();
    request
        .headers_mut()
        .insert("x-request-id", "r-1".parse().unwrap());
    let cx = Context::current_with_baggage([KeyValue::new("tenant", "acme")]);
    let _guard = cx.attach();
    let response = stack.oneshot(request).await.unwrap();
    drop(response);
    let span = wait_kind(capture, SpanKind::Client).await;
    let seen = seen.lock().unwrap().clone();
    (seen, span)
}

#[track_caller]
fn assert_no_context(seen: &HeaderMap, what: &str) {
    for key in CONTEXT_KEYS {
        assert!(!seen.contains_key(*key), "{what}: {key} sent: {seen:?}");
    }
    assert!(
        !seen.keys().any(|k| k.as_str().starts_with("uberctx-")),
        "{what}: Jaeger baggage sent: {seen:?}"
    );
    assert_eq!(seen["x-request-id"], "r-1", "{what}: other metadata kept");
}

#[track_caller]
fn assert_full_context(seen: &HeaderMap, span: &CapturedSpan, what: &str) {
    for key in CONTEXT_KEYS
        .iter()
        .filter(|k| **k != "tracestate" && **k != "x-b3-sampled")
    {
        assert!(seen.contains_key(*key), "{what}: no {key}: {seen:?}");
    }
    let traceparent = seen["traceparent"].to_str().unwrap();
    assert!(
        traceparent.contains(&span.trace_id().to_string()),
        "{what}: {traceparent}"
    );
    assert_eq!(seen["baggage"], "tenant=acme", "{what}");
}

#[tokio::test]
async fn context_goes_only_to_listed_destinations() {
    let capture = Capture::new();
    let list = ["*.svc.cluster.local", "billing.internal", "[::1]"];
    for (target, allowed) in [
        ("http://orders.svc.cluster.local:50051", true),
        ("dns:///orders.svc.cluster.local:443", true),
        ("https://ORDERS.SVC.Cluster.Local", true),
        ("billing.internal:7000", true),
        ("ipv6:[::1]:50051", true),
        ("http://svc.cluster.local:50051", false),
        ("http://evilsvc.cluster.local:50051", false),
        ("http://orders.svc.cluster.local.evil.com", false),
        ("http://billing.internal.evil.com:7000", false),
        ("http://user@evil.com:50051", false),
        ("unix:///run/orders.sock", false),
        ("127.0.0.1:50051", false),
    ] {
        let builder = GrpcClientLayer::builder().target(target).propagate_to(list);
        let (seen, span) = metadata_seen(builder, "/pkg.Orders/Get", &capture).await;
        if allowed {
            assert_full_context(&seen, &span, target);
        } else {
            assert_no_context(&seen, target);
        }
        // The call is traced either way.
        span.assert_attr("rpc.method", "pkg.Orders/Get");
        span.assert_attr("rpc.response.status_code", "OK");
    }
}

#[tokio::test]
async fn without_a_target_the_uri_host_decides_and_an_unknown_one_gets_nothing() {
    let capture = Capture::new();
    let list = || GrpcClientLayer::builder().propagate_to(["*.internal"]);
    // No target, no authority: unknown destination.
    let (seen, _) = metadata_seen(list(), "/pkg.Orders/Get", &capture).await;
    assert_no_context(&seen, "unknown destination");
    // The URI's authority is the destination when there is no target.
    let (seen, span) =
        metadata_seen(list(), "http://orders.internal:80/pkg.Orders/Get", &capture).await;
    assert_full_context(&seen, &span, "listed authority");
    let (seen, _) = metadata_seen(list(), "http://orders.example/pkg.Orders/Get", &capture).await;
    assert_no_context(&seen, "unlisted authority");
    // The target wins over the authority (a tonic Channel replaces the
    // request's origin with its endpoint's).
    let (seen, _) = metadata_seen(
        list().target("http://orders.example:50051"),
        "http://orders.internal/pkg.Orders/Get",
        &capture,
    )
    .await;
    assert_no_context(&seen, "unlisted target");
    // An explicit server address counts as the target.
    let (seen, span) = metadata_seen(
        list().server_address(ServerAddress::new("orders.internal", Some(1))),
        "/pkg.Orders/Get",
        &capture,
    )
    .await;
    assert_full_context(&seen, &span, "listed server address");
    // An empty list sends nothing anywhere.
    let (seen, _) = metadata_seen(
        GrpcClientLayer::builder()
            .target("http://orders.internal:1")
            .propagate_to(Vec::<String>::new()),
        "/pkg.Orders/Get",
        &capture,
    )
    .await;
    assert_no_context(&seen, "empty list");
    // No list: context everywhere, unknown destinations included.
    let (seen, span) = metadata_seen(GrpcClientLayer::builder(), "/pkg.Orders/Get", &capture).await;
    assert_full_context(&seen, &span, "no list");
}

/// Over a real channel: a listed target continues the trace on the server,
/// an unlisted one makes the server start a new root.
#[tokio::test]
async fn real_channel_listed_and_unlisted() {
    let capture = Capture::new();
    let addr = serve(server_builder(&capture).build()).await;

    let listed = client_builder(&capture, addr)
        .propagate_to(["127.0.0.1"])
        .build();
    let mut client = connect(addr, listed).await;
    let reply = client.unary(req("x")).await.unwrap().into_inner();
    let c = wait_kind(&capture, SpanKind::Client).await;
    let s = wait_kind(&capture, SpanKind::Server).await;
    assert_parent(&s, &c);
    assert!(reply.trace_id.starts_with(&c.trace_id().to_string()));

    capture.clear();
    let unlisted = client_builder(&capture, addr)
        .propagate_to(["orders.internal", "*.localhost"])
        .build();
    let mut client = connect(addr, unlisted).await;
    let reply = client.unary(req("y")).await.unwrap().into_inner();
    let c = wait_kind(&capture, SpanKind::Client).await;
    let s = wait_kind(&capture, SpanKind::Server).await;
    assert_root(&s);
    assert_ne!(s.trace_id(), c.trace_id());
    assert!(!reply.trace_id.starts_with(&c.trace_id().to_string()));
}
