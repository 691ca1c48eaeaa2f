//! Hostile and arbitrary headers against the server and client layers:
//! - property (256 cases): any header set on the server layer never panics,
//!   the request reaches the inner service with its headers, and the inner
//!   response comes back;
//! - oversized and repeated trace headers (1 MB baggage, 10k tracestate
//!   members, 1000 `traceparent` headers) are bounded on extract and never
//!   forwarded beyond the W3C limits by the client layer;
//! - the client allow-list (`propagate_to`) keeps every propagated header
//!   (trace context, baggage, mesh headers) away from other hosts, with the
//!   hyper-util and reqwest clients against real loopback servers.
#![cfg(all(feature = "axum", feature = "reqwest"))]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::baggage::BaggageExt;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::propagation::TextMapCompositePropagator;
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::propagation::{
    BaggagePropagator, ForwardHeadersPropagator, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS,
    MAX_TRACESTATE_HEADER_LEN, MAX_TRACESTATE_MEMBERS, TraceContextPropagator,
};
use otel_kit_core::testing::Capture;
use otel_kit_http::client::ClientLayer;
use otel_kit_http::server::ServerLayer;
use proptest::collection::vec;
use proptest::prelude::*;
use tower::{Layer, Service, ServiceExt};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
        Box::new(ForwardHeadersPropagator::new()),
    ])
}

fn server_layer(capture: &Capture) -> ServerLayer {
    ServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(propagator())
        .build()
}

/// What the inner service saw: the request headers and the context it ran in.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(HeaderMap, Context)>>>);

/// Runs one request through the server layer around a recording handler;
/// returns the response status.
async fn serve_once(capture: &Capture, headers: HeaderMap, seen: &Seen) -> StatusCode {
    let recorder = seen.clone();
    let mut service =
        server_layer(capture).layer(tower::service_fn(move |req: Request<String>| {
            let recorder = recorder.clone();
            async move {
                recorder
                    .0
                    .lock()
                    .unwrap()
                    .push((req.headers().clone(), Context::current()));
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(StatusCode::ACCEPTED)
                        .body(String::from("inner"))
                        .unwrap(),
                )
            }
        }));
    let mut request = Request::get("/abuse").body(String::new()).unwrap();
    *request.headers_mut() = headers;
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    let status = response.status();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "inner"
    );
    status
}

/// What a client layer (allow-list open) forwards from `cx`, captured by a
/// tower service standing in for the network.
async fn forwarded_from(capture: &Capture, cx: Context) -> HeaderMap {
    let sent: Arc<Mutex<Option<HeaderMap>>> = Arc::default();
    let slot = sent.clone();
    let client = ClientLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(propagator())
        .build()
        .layer(tower::service_fn(move |req: Request<String>| {
            *slot.lock().unwrap() = Some(req.headers().clone());
            async { Ok::<_, Infallible>(Response::new(String::new())) }
        }));
    let request = Request::get("http://downstream.local/")
        .body(String::new())
        .unwrap();
    client.oneshot(request).with_context(cx).await.unwrap();
    sent.lock().unwrap().take().expect("request sent")
}

fn header_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(
            &[
                "traceparent",
                "tracestate",
                "baggage",
                "x-request-id",
                "b3",
                "uber-trace-id",
                "host",
                "content-length",
                "transfer-encoding",
                "user-agent",
            ][..]
        )
        .prop_map(|s| s.as_bytes().to_vec()),
        vec(any::<u8>(), 1..24),
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(TRACEPARENT.as_bytes().to_vec()),
        "[a-z0-9=,;% -]{0,64}".prop_map(String::into_bytes),
        vec(any::<u8>(), 0..128),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_header_set_reaches_the_inner_service(
        pairs in vec((header_name(), header_value()), 0..12),
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in &pairs {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                headers.append(name, value);
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let capture = Capture::new();
        let seen = Seen::default();
        let status = runtime.block_on(serve_once(&capture, headers.clone(), &seen));
        prop_assert_eq!(status, StatusCode::ACCEPTED);
        let seen = seen.0.lock().unwrap();
        prop_assert_eq!(seen.len(), 1, "the inner service ran once");
        prop_assert_eq!(&seen[0].0, &headers, "headers reach the handler unchanged");
    }
}

#[tokio::test]
async fn oversized_and_repeated_trace_headers_are_bounded_and_not_forwarded() {
    let capture = Capture::new();
    // 10k tracestate members in one header, 1 MB of baggage in 200 headers,
    // a request id of 64 KiB.
    let tracestate: Vec<String> = (0..10_000).map(|i| format!("k{i}=v{i}")).collect();
    let big_value = "v".repeat(5000);
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    headers.insert(
        "tracestate",
        HeaderValue::from_str(&tracestate.join(",")).unwrap(),
    );
    for i in 0..200 {
        headers.append(
            "baggage",
            HeaderValue::from_str(&format!("k{i}={big_value}")).unwrap(),
        );
    }
    headers.insert(
        "x-request-id",
        HeaderValue::from_str(&"r".repeat(64 * 1024)).unwrap(),
    );
    let baggage_bytes: usize = headers.get_all("baggage").iter().map(|v| v.len()).sum();
    assert!(baggage_bytes > 1_000_000);

    let seen = Seen::default();
    assert_eq!(
        serve_once(&capture, headers, &seen).await,
        StatusCode::ACCEPTED
    );
    let cx = seen.0.lock().unwrap()[0].1.clone();
    // The trace continues; the oversized tracestate (more than 32 members)
    // is discarded as W3C requires; no baggage member over 4096 bytes is kept.
    let span = cx.span();
    assert_eq!(
        span.span_context().trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert!(span.span_context().trace_state().header().is_empty());
    assert!(cx.baggage().len() <= MAX_BAGGAGE_MEMBERS);
    assert_eq!(cx.baggage().len(), 0, "every 5000-byte member is dropped");

    let out = forwarded_from(&capture, cx).await;
    assert!(out.get("tracestate").is_none());
    assert!(out.get("baggage").is_none());
    assert!(
        out.get("x-request-id").is_none(),
        "over-long request id not forwarded"
    );
}

#[tokio::test]
async fn many_valid_members_are_forwarded_within_the_limits() {
    let capture = Capture::new();
    // 32 members of 100 characters (the most a receiver keeps), 1000 baggage
    // members of 100 bytes over 10 headers.
    let tracestate: Vec<String> = (0..32)
        .map(|i| format!("k{i:02}={}", "t".repeat(96)))
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    headers.insert(
        "tracestate",
        HeaderValue::from_str(&tracestate.join(",")).unwrap(),
    );
    for h in 0..10 {
        let members: Vec<String> = (0..100)
            .map(|i| format!("m{h}x{i:03}={}", "b".repeat(90)))
            .collect();
        headers.append(
            "baggage",
            HeaderValue::from_str(&members.join(",")).unwrap(),
        );
    }
    let seen = Seen::default();
    serve_once(&capture, headers, &seen).await;
    let cx = seen.0.lock().unwrap()[0].1.clone();
    assert_eq!(
        cx.span()
            .span_context()
            .trace_state()
            .header()
            .split(',')
            .count(),
        MAX_TRACESTATE_MEMBERS
    );
    assert!(!cx.baggage().is_empty());
    assert!(cx.baggage().len() <= MAX_BAGGAGE_MEMBERS);

    let out = forwarded_from(&capture, cx).await;
    let tracestate = out
        .get("tracestate")
        .expect("tracestate forwarded")
        .to_str()
        .unwrap();
    assert!(
        tracestate.len() <= MAX_TRACESTATE_HEADER_LEN,
        "{}",
        tracestate.len()
    );
    assert!(
        tracestate.starts_with("k00="),
        "the leftmost members are kept"
    );
    let baggage: Vec<_> = out.get_all("baggage").iter().collect();
    assert_eq!(baggage.len(), 1);
    assert!(
        baggage[0].len() <= MAX_BAGGAGE_BYTES,
        "{}",
        baggage[0].len()
    );
    assert!(
        baggage[0].len() > MAX_BAGGAGE_BYTES / 2,
        "not dropped wholesale"
    );
}

#[tokio::test]
async fn a_thousand_traceparent_headers_start_a_new_trace() {
    let capture = Capture::new();
    let mut headers = HeaderMap::new();
    for _ in 0..1000 {
        headers.append("traceparent", HeaderValue::from_static(TRACEPARENT));
    }
    headers.insert("tracestate", HeaderValue::from_static("a=1"));
    let seen = Seen::default();
    assert_eq!(
        serve_once(&capture, headers, &seen).await,
        StatusCode::ACCEPTED
    );
    let cx = seen.0.lock().unwrap()[0].1.clone();
    let span = cx.span();
    assert!(span.span_context().is_valid(), "the server span exists");
    assert_ne!(
        span.span_context().trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "a repeated traceparent is not continued"
    );
    assert!(span.span_context().trace_state().header().is_empty());
    let out = forwarded_from(&capture, cx).await;
    assert_eq!(out.get_all("traceparent").iter().count(), 1);
}

/// A loopback server recording the headers of every request.
async fn recording_server() -> (SocketAddr, Arc<Mutex<Vec<HeaderMap>>>) {
    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let recorder = seen.clone();
    let app = Router::new().route(
        "/",
        get(move |headers: HeaderMap| {
            let recorder = recorder.clone();
            async move {
                recorder.lock().unwrap().push(headers);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

/// A context carrying a span, baggage and a forwarded request id, as a
/// server layer would have extracted it.
async fn incoming_context(capture: &Capture) -> Context {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    headers.insert("baggage", HeaderValue::from_static("tenant=secret-tenant"));
    headers.insert("x-request-id", HeaderValue::from_static("req-1"));
    let seen = Seen::default();
    serve_once(capture, headers, &seen).await;
    seen.0.lock().unwrap()[0].1.clone()
}

const PROPAGATED: [&str; 3] = ["traceparent", "baggage", "x-request-id"];

fn propagated(headers: &HeaderMap) -> Vec<&'static str> {
    PROPAGATED
        .into_iter()
        .filter(|h| headers.contains_key(*h))
        .collect()
}

#[tokio::test]
async fn hyper_client_sends_context_only_to_allowed_hosts() {
    let capture = Capture::new();
    let cx = incoming_context(&capture).await;
    let (addr, seen) = recording_server().await;
    let port = addr.port();
    let hyper_client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let client = |hosts: &[&str]| {
        ClientLayer::builder()
            .tracer_provider(&capture.tracer_provider())
            .meter_provider(&capture.meter_provider())
            .propagator(propagator())
            .propagate_to(hosts.iter().copied())
            .build()
            .layer(hyper_client.clone())
    };
    // (allow-list, URL host, context expected)
    let cases: &[(&[&str], &str, bool)] = &[
        (&["*.svc.cluster.local"], "127.0.0.1", false),
        (&["127.0.0.2", "localhost"], "127.0.0.1", false),
        (&["127.0.0.1"], "127.0.0.1", true),
        (&["LOCALHOST"], "localhost", true),
        (&["*.localhost"], "localhost", false),
        (&[], "127.0.0.1", false),
    ];
    for (i, (hosts, host, expected)) in cases.iter().enumerate() {
        let request = Request::get(format!("http://{host}:{port}/"))
            .body(Empty::new())
            .unwrap();
        let response = client(hosts)
            .oneshot(request)
            .with_context(cx.clone())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let got = propagated(&seen.lock().unwrap()[i]);
        let want: Vec<&str> = if *expected {
            PROPAGATED.to_vec()
        } else {
            Vec::new()
        };
        assert_eq!(got, want, "allow-list {hosts:?}, host {host}");
    }
}

#[tokio::test]
async fn request_without_a_known_destination_gets_no_context_under_an_allow_list() {
    let capture = Capture::new();
    let cx = incoming_context(&capture).await;
    let sent: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let slot = sent.clone();
    let inner = tower::service_fn(move |req: Request<String>| {
        slot.lock().unwrap().push(req.headers().clone());
        async { Ok::<_, Infallible>(Response::new(String::new())) }
    });
    let builder = || {
        ClientLayer::builder()
            .tracer_provider(&capture.tracer_provider())
            .meter_provider(&capture.meter_provider())
            .propagator(propagator())
    };
    // A relative URI and no Host header (as on a raw connection): unknown.
    for layer in [
        builder().propagate_to(["127.0.0.1"]).build(),
        builder().build(),
    ] {
        let request = Request::get("/path").body(String::new()).unwrap();
        layer
            .layer(inner.clone())
            .oneshot(request)
            .with_context(cx.clone())
            .await
            .unwrap();
    }
    // With a Host header the allow-list applies to it.
    let request = Request::get("/path")
        .header("host", "127.0.0.1:8080")
        .body(String::new())
        .unwrap();
    builder()
        .propagate_to(["127.0.0.1"])
        .build()
        .layer(inner.clone())
        .oneshot(request)
        .with_context(cx.clone())
        .await
        .unwrap();
    let sent = sent.lock().unwrap();
    assert_eq!(
        propagated(&sent[0]),
        Vec::<&str>::new(),
        "allow-list, unknown host"
    );
    assert_eq!(propagated(&sent[1]), PROPAGATED.to_vec(), "no allow-list");
    assert_eq!(
        propagated(&sent[2]),
        PROPAGATED.to_vec(),
        "allowed Host header"
    );
}

#[tokio::test]
async fn reqwest_client_sends_context_only_to_allowed_hosts() {
    let capture = Capture::new();
    let cx = incoming_context(&capture).await;
    let (addr, seen) = recording_server().await;
    let port = addr.port();
    let cases: &[(&[&str], &str, bool)] = &[
        (&["*.svc.cluster.local"], "127.0.0.1", false),
        (&["example.com"], "localhost", false),
        (&["127.0.0.1"], "127.0.0.1", true),
        (&["Localhost"], "localhost", true),
    ];
    for (i, (hosts, host, expected)) in cases.iter().enumerate() {
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(
                ClientLayer::builder()
                    .tracer_provider(&capture.tracer_provider())
                    .meter_provider(&capture.meter_provider())
                    .propagator(propagator())
                    .propagate_to(hosts.iter().copied())
                    .build_middleware(),
            )
            .build();
        let url = format!("http://{host}:{port}/");
        let response = client
            .get(&url)
            .send()
            .with_context(cx.clone())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let got = propagated(&seen.lock().unwrap()[i]);
        let want: Vec<&str> = if *expected {
            PROPAGATED.to_vec()
        } else {
            Vec::new()
        };
        assert_eq!(got, want, "allow-list {hosts:?}, host {host}");
    }
}
