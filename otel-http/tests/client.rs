#![cfg(all(feature = "axum", feature = "reqwest"))]
//! Client layer and reqwest middleware against real loopback servers:
//! attributes, redaction, status rules, errors, propagation allow-list,
//! resend counts, metrics, and server → client → server in one trace.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use http::{Extensions, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use otel_kit_core::instrument::{DURATION_BUCKETS, ResendCount};
use otel_kit_core::opentelemetry::propagation::TextMapCompositePropagator;
use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::opentelemetry::{Array, KeyValue, Value};
use otel_kit_core::propagation::{ForwardHeadersPropagator, TraceContextPropagator};
use otel_kit_core::testing::{Capture, assert_parent, assert_root, assert_same_trace};
use otel_kit_http::client::{ClientLayer, ClientLayerBuilder, NoPropagation, UrlTemplate};
use otel_kit_http::server::ServerLayer;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use tower::{Layer, ServiceExt};

type Seen = Arc<Mutex<Vec<HeaderMap>>>;

fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(ForwardHeadersPropagator::new()),
    ])
}

fn client_builder(capture: &Capture) -> ClientLayerBuilder {
    ClientLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(propagator())
        .semconv_dup(false)
}

fn reqwest_client(capture: &Capture) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(client_builder(capture).build_middleware())
        .build()
}

/// A plain (untraced) server recording the headers it receives.
async fn recording_server() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/status/{code}",
            get(
                |State(seen): State<Seen>, Path(code): Path<u16>, headers: HeaderMap| async move {
                    seen.lock().unwrap().push(headers);
                    (StatusCode::from_u16(code).unwrap(), "body")
                },
            ),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .with_state(seen.clone());
    (serve(app).await, seen)
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

#[tokio::test]
async fn reqwest_attributes_and_redaction() {
    let capture = Capture::new();
    let (addr, seen) = recording_server().await;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(
            client_builder(&capture)
                .capture_request_headers(["x-tenant", "authorization", "proxy-authorization"])
                .capture_response_headers(["content-type", "set-cookie"])
                .build_middleware(),
        )
        .build();
    let url = format!(
        "http://alice:hunter2@127.0.0.1:{}/status/200?color=blue&X-Amz-Signature=topsecret&sig=topsecret",
        addr.port()
    );
    let resp = client
        .get(&url)
        .header("x-tenant", "acme")
        .header("authorization", "Bearer topsecret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let span = capture.span("GET");
    span.assert_kind(SpanKind::Client)
        .assert_attr("http.request.method", "GET")
        .assert_attr("server.address", "127.0.0.1")
        .assert_attr("server.port", i64::from(addr.port()))
        .assert_attr(
            "url.full",
            format!(
                // reqwest moves userinfo into an `Authorization` header
                // (never captured) before any middleware sees the URL.
                "http://127.0.0.1:{}/status/200?color=blue&X-Amz-Signature=REDACTED&sig=REDACTED",
                addr.port()
            ),
        )
        .assert_attr("url.scheme", "http")
        .assert_attr("http.response.status_code", 200)
        .assert_attr("network.protocol.version", "1.1")
        .assert_attr("network.peer.address", "127.0.0.1")
        .assert_attr("network.peer.port", i64::from(addr.port()))
        .assert_attr(
            "http.request.header.x-tenant",
            Value::Array(Array::String(vec!["acme".into()])),
        )
        .assert_no_attr("http.request.header.authorization")
        .assert_no_attr("http.request.resend_count")
        .assert_not_error();
    assert_root(&span);
    let all = format!("{span}");
    assert!(
        !all.contains("topsecret")
            && !all.contains("hunter2")
            && !all.contains("YWxpY2U6aHVudGVyMg"),
        "{all}"
    );
    // The context went out with the request.
    let headers = &seen.lock().unwrap()[0];
    let tp = headers.get("traceparent").unwrap().to_str().unwrap();
    assert_eq!(tp, format!("00-{}-{}-01", span.trace_id(), span.span_id()));
}

#[tokio::test]
async fn client_status_rules() {
    let capture = Capture::new();
    let (addr, _) = recording_server().await;
    let client = reqwest_client(&capture);
    for code in [404u16, 503] {
        let resp = client
            .get(format!("http://127.0.0.1:{}/status/{code}", addr.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), code);
    }
    let spans = capture.spans_named("GET");
    assert_eq!(spans.len(), 2);
    spans[0].assert_attr("error.type", "404").assert_error();
    spans[1].assert_attr("error.type", "503").assert_error();

    let capture = Capture::new();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(
            client_builder(&capture)
                .error_on_4xx(false)
                .build_middleware(),
        )
        .build();
    client
        .get(format!("http://127.0.0.1:{}/status/404", addr.port()))
        .send()
        .await
        .unwrap();
    capture
        .span("GET")
        .assert_not_error()
        .assert_no_attr("error.type");
}

#[tokio::test]
async fn transport_errors_and_cancellation() {
    let capture = Capture::new();
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = reqwest_client(&capture);
    let err = client
        .get(format!("http://127.0.0.1:{closed}/x"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect());
    let span = capture.span("GET");
    span.assert_attr("error.type", "connect")
        .assert_error()
        .assert_no_attr("http.response.status_code");
    let metrics = capture.collect_metrics();
    metrics
        .histogram("http.client.request.duration")
        .assert_count(&[KeyValue::new("error.type", "connect")], 1);

    // A request cancelled by the caller is not an error.
    let capture = Capture::new();
    let (addr, _) = recording_server().await;
    let client = reqwest_client(&capture);
    let fut = client
        .get(format!("http://127.0.0.1:{}/slow", addr.port()))
        .send();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), fut)
            .await
            .is_err()
    );
    capture
        .span("GET")
        .assert_not_error()
        .assert_no_attr("error.type");
}

#[tokio::test]
async fn propagation_allow_list_and_opt_out() {
    let (addr, seen) = recording_server().await;
    let url = format!("http://127.0.0.1:{}/status/200", addr.port());

    let capture = Capture::new();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(
            client_builder(&capture)
                .propagate_to(["*.svc.cluster.local", "localhost"])
                .build_middleware(),
        )
        .build();
    client.get(&url).send().await.unwrap();
    capture.span("GET");
    assert!(seen.lock().unwrap()[0].get("traceparent").is_none());

    let client = ClientBuilder::new(reqwest::Client::new())
        .with(
            client_builder(&capture)
                .propagate_to(["127.0.0.1"])
                .build_middleware(),
        )
        .build();
    client.get(&url).send().await.unwrap();
    assert!(seen.lock().unwrap()[1].get("traceparent").is_some());

    // Per-request opt-out.
    client
        .get(&url)
        .with_extension(NoPropagation)
        .send()
        .await
        .unwrap();
    assert!(seen.lock().unwrap()[2].get("traceparent").is_none());
}

/// A minimal retry middleware: re-sends once on a 5xx, with the same
/// `Extensions`, as `reqwest-retry` does.
struct RetryOnce;

#[async_trait::async_trait]
impl Middleware for RetryOnce {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let copy = req.try_clone().unwrap();
        let first = next.clone().run(req, extensions).await?;
        if first.status().is_server_error() {
            return next.run(copy, extensions).await;
        }
        Ok(first)
    }
}

#[tokio::test]
async fn resend_count_across_retries() {
    let capture = Capture::new();
    let (addr, seen) = recording_server().await;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(RetryOnce)
        .with(client_builder(&capture).build_middleware())
        .build();
    client
        .get(format!("http://127.0.0.1:{}/status/503", addr.port()))
        .send()
        .await
        .unwrap();
    let spans = capture.spans_named("GET");
    assert_eq!(spans.len(), 2, "{}", capture.tree());
    spans[0].assert_no_attr("http.request.resend_count");
    spans[1].assert_attr("http.request.resend_count", 1);
    assert_eq!(seen.lock().unwrap().len(), 2);

    // The tower layer reads the ResendCount extension a retry layer sets.
    let capture = Capture::new();
    let hyper_client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let svc = client_builder(&capture).build().layer(hyper_client);
    for n in 0..3u32 {
        let mut req = Request::get(format!("http://127.0.0.1:{}/status/503", addr.port()))
            .body(Empty::new())
            .unwrap();
        if n > 0 {
            req.extensions_mut().insert(ResendCount(n));
        }
        svc.clone().oneshot(req).await.unwrap();
    }
    let spans = capture.spans_named("GET");
    assert_eq!(spans.len(), 3);
    spans[0].assert_no_attr("http.request.resend_count");
    spans[1].assert_attr("http.request.resend_count", 1);
    spans[2].assert_attr("http.request.resend_count", 2);
}

#[tokio::test]
async fn hyper_client_layer_and_metrics() {
    let capture = Capture::new();
    let (addr, seen) = recording_server().await;
    let hyper_client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let svc = client_builder(&capture)
        .body_size_metrics(true)
        .active_requests(true)
        .build()
        .layer(hyper_client);
    let mut req = Request::get(format!(
        "http://alice:hunter2@127.0.0.1:{}/status/201?sig=x",
        addr.port()
    ))
    .body(Empty::new())
    .unwrap();
    req.extensions_mut()
        .insert(UrlTemplate("/status/{code}".into()));
    let resp = svc.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 201);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "body");

    let span = capture.span("GET /status/{code}");
    span.assert_attr("url.template", "/status/{code}")
        .assert_attr(
            "url.full",
            format!(
                "http://REDACTED:REDACTED@127.0.0.1:{}/status/201?sig=REDACTED",
                addr.port()
            ),
        )
        .assert_attr("http.response.status_code", 201)
        // From hyper-util's `HttpInfo` (feature `hyper-util`).
        .assert_attr("network.peer.address", "127.0.0.1")
        .assert_attr("network.peer.port", i64::from(addr.port()));
    assert!(seen.lock().unwrap()[0].contains_key("traceparent"));

    let metrics = capture.collect_metrics();
    let duration = metrics.metric("http.client.request.duration");
    assert_eq!(duration.unit(), "s");
    let points = metrics.histogram("http.client.request.duration");
    let p = points.point_with(&[
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("server.address", "127.0.0.1"),
        KeyValue::new("server.port", i64::from(addr.port())),
        KeyValue::new("http.response.status_code", 201),
        KeyValue::new("network.protocol.version", "1.1"),
        KeyValue::new("url.template", "/status/{code}"),
    ]);
    assert_eq!(p.bounds, DURATION_BUCKETS);
    assert_eq!(p.count, 1);
    // Opt-in `http.client.active_requests`: +1 at the start, −1 at the end,
    // with the request's attributes and none of the response's.
    assert_eq!(
        metrics.metric("http.client.active_requests").unit(),
        "{request}"
    );
    let active = metrics.sum_i64("http.client.active_requests");
    let a = active.point_with(&[
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("server.address", "127.0.0.1"),
        KeyValue::new("server.port", i64::from(addr.port())),
        KeyValue::new("url.template", "/status/{code}"),
    ]);
    assert_eq!(a.value, 0);
    assert_eq!(a.attributes.len(), 4, "{:?}", a.attributes);
    assert_eq!(
        metrics
            .histogram("http.client.response.body.size")
            .point_with(&[])
            .sum,
        4.0
    );
}

/// Server A (`/chain/{id}`) calls server B (`/users/{id}`) with the traced
/// reqwest client: one trace, parent/child at every hop, `x-request-id`
/// forwarded.
#[tokio::test]
async fn server_client_server_in_one_trace() {
    let capture = Capture::new();
    let server_layer = || {
        ServerLayer::builder()
            .tracer_provider(&capture.tracer_provider())
            .meter_provider(&capture.meter_provider())
            .propagator(propagator())
            .build()
    };
    let b_seen: Seen = Arc::default();
    let b = Router::new()
        .route(
            "/users/{id}",
            get(
                |State(seen): State<Seen>, Path(id): Path<u32>, headers: HeaderMap| async move {
                    seen.lock().unwrap().push(headers);
                    format!("user {id}")
                },
            ),
        )
        .with_state(b_seen.clone())
        .layer(server_layer());
    let b_addr = serve(b).await;

    let client = reqwest_client(&capture);
    let a = Router::new()
        .route(
            "/chain/{id}",
            get(move |Path(id): Path<u32>| {
                let client = client.clone();
                async move {
                    let resp = client
                        .get(format!("http://127.0.0.1:{}/users/{id}", b_addr.port()))
                        .send()
                        .await
                        .unwrap();
                    resp.text().await.unwrap()
                }
            }),
        )
        .layer(server_layer());
    let a_addr = serve(a).await;

    let resp = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/chain/5", a_addr.port()))
        .header("x-request-id", "req-123")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "user 5");

    let server_a = capture.wait_for_span("GET /chain/{id}").await;
    let server_b = capture.wait_for_span("GET /users/{id}").await;
    let client_span = capture.span("GET");
    assert_eq!(
        server_a.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_parent(&client_span, &server_a);
    assert_parent(&server_b, &client_span);
    assert_same_trace(&server_a, &server_b);
    server_a
        .assert_kind(SpanKind::Server)
        .assert_attr("network.peer.address", "127.0.0.1");
    server_b.assert_attr("client.address", "127.0.0.1");
    let headers = &b_seen.lock().unwrap()[0];
    assert_eq!(headers.get("x-request-id").unwrap(), "req-123");
}

#[tokio::test]
async fn client_http_dup_and_header_capture_on_the_tower_layer() {
    let capture = Capture::new();
    let (addr, _) = recording_server().await;
    let hyper_client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let svc = client_builder(&capture)
        .semconv_dup(true)
        .capture_request_headers(["x-tenant", "cookie"])
        .build()
        .layer(hyper_client);
    let req = Request::get(format!("http://127.0.0.1:{}/status/200", addr.port()))
        .header("x-tenant", "acme")
        .header("cookie", "session=topsecret")
        .body(Empty::new())
        .unwrap();
    svc.oneshot(req).await.unwrap();
    let span = capture.span("GET");
    span.assert_attr("http.method", "GET")
        .assert_attr("http.status_code", 200)
        .assert_attr(
            "http.url",
            format!("http://127.0.0.1:{}/status/200", addr.port()),
        )
        .assert_attr("net.peer.name", "127.0.0.1")
        .assert_attr("net.peer.port", i64::from(addr.port()))
        .assert_attr(
            "http.request.header.x-tenant",
            Value::Array(Array::String(vec!["acme".into()])),
        )
        .assert_no_attr("http.request.header.cookie");
    let metrics = capture.collect_metrics();
    assert_eq!(metrics.metric("http.client.duration").unit(), "ms");
}

/// `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN=logs`: a transport failure is an
/// `http.client.request.exception` WARN log record in the attempt's span,
/// not a span event; an error status is not an exception at all.
#[tokio::test]
async fn exceptions_as_log_records() {
    use otel_kit_core::config::ExceptionSignal;
    use otel_kit_core::opentelemetry::logs::Severity;

    let capture = Capture::new();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(
            client_builder(&capture)
                .exception_signal(ExceptionSignal::Logs)
                .logger_provider(&capture.logger_provider())
                .build_middleware(),
        )
        .build();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    client
        .get(format!("http://127.0.0.1:{closed}/x"))
        .send()
        .await
        .unwrap_err();
    let span = capture.span("GET");
    span.assert_attr("error.type", "connect").assert_error();
    assert!(span.event("exception").is_none());
    let logs = capture.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].event_name(), Some("http.client.request.exception"));
    assert_eq!(logs[0].severity(), Some(Severity::Warn));
    assert_eq!(logs[0].span_id(), Some(span.span_id()));
    assert_eq!(logs[0].scope().name(), "otel-kit-http");

    capture.clear();
    let (addr, _) = recording_server().await;
    let resp = client
        .get(format!("http://127.0.0.1:{}/status/503", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    capture.span("GET").assert_error();
    assert!(
        capture.logs().is_empty(),
        "a status code is not an exception"
    );
}
