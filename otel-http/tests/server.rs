#![cfg(feature = "axum")]
//! Server layer: spans, status rules, routes, streaming, panics, filters,
//! public endpoints, header capture, bad input, metrics — all with the test
//! kit, through `Service::call` on an axum router (no sockets).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::{any, get};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use otel_kit_core::instrument::{DURATION_BUCKETS, FilterExt, not};
use otel_kit_core::opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Array, Context, KeyValue, Value};
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_core::testing::{Capture, assert_linked, assert_parent, assert_root};
use otel_kit_http::KnownMethods;
use otel_kit_http::filter::{health_check, path_prefix};
use otel_kit_http::server::{ServerLayer, ServerLayerBuilder};
use tower::ServiceExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn builder(capture: &Capture) -> ServerLayerBuilder {
    ServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .semconv_dup(false)
        .known_methods(KnownMethods::standard())
}

fn routes() -> Router {
    let api = Router::new().route(
        "/items/{id}",
        get(|Path(id): Path<String>| async move { id }),
    );
    Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move { format!("{{\"id\":{id}}}") }),
        )
        .route("/health", get(|| async { "ok" }))
        .route(
            "/error",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/panic",
            get(|| async { if true { panic!("handler exploded") } else { "" } }),
        )
        .route("/any", any(|| async { "any" }))
        .nest("/api", api)
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, Bytes) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

fn get_req(uri: &str) -> http::request::Builder {
    Request::get(uri).header("host", "api.example:8080")
}

#[tokio::test]
async fn route_template_attributes_and_parent() {
    let capture = Capture::new();
    let app = routes().layer(builder(&capture).build());
    let req = get_req("/users/42?color=blue&sig=s3cret")
        .header("traceparent", PARENT)
        .header("user-agent", "test-agent/1")
        .header("x-forwarded-for", "203.0.113.9, 10.0.0.1")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "{\"id\":42}");

    let span = capture.span("GET /users/{id}");
    span.assert_kind(SpanKind::Server)
        .assert_attr("http.request.method", "GET")
        .assert_attr("url.path", "/users/42")
        .assert_attr("url.query", "color=blue&sig=REDACTED")
        .assert_attr("url.scheme", "http")
        .assert_attr("http.route", "/users/{id}")
        .assert_attr("http.response.status_code", 200)
        .assert_attr("server.address", "api.example")
        .assert_attr("server.port", 8080)
        .assert_attr("client.address", "203.0.113.9")
        .assert_attr("user_agent.original", "test-agent/1")
        .assert_attr("network.protocol.version", "1.1")
        .assert_no_attr("http.request.method_original")
        .assert_no_attr("error.type")
        .assert_no_attr("http.method")
        .assert_not_error();
    assert_eq!(span.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id().to_string(), "00f067aa0ba902b7");
    assert!(span.has_remote_parent());
    assert!(!format!("{span}").contains("s3cret"));
}

#[tokio::test]
async fn nested_routes_and_fallback_never_use_the_raw_path() {
    let capture = Capture::new();
    let app = routes().layer(builder(&capture).build());
    let (status, _, body) = send(&app, get_req("/api/items/7").body(Body::empty()).unwrap()).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"7"[..]));
    capture
        .span("GET /api/items/{id}")
        .assert_attr("http.route", "/api/items/{id}");

    let (status, _, _) = send(&app, get_req("/nope/123").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let span = capture.span("GET");
    span.assert_no_attr("http.route")
        .assert_attr("url.path", "/nope/123")
        .assert_attr("http.response.status_code", 404)
        .assert_not_error();
    assert!(capture.find(|s| s.name().contains("/nope")).is_none());

    // A custom fallback handler is instrumented the same way.
    let app = Router::new()
        .route("/x", get(|| async { "x" }))
        .fallback(|| async { (StatusCode::IM_A_TEAPOT, "fallback") })
        .layer(builder(&capture).build());
    capture.clear();
    let (status, _, _) = send(&app, get_req("/y/9").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    capture.span("GET").assert_no_attr("http.route");
}

#[tokio::test]
async fn status_rules_server_side() {
    let capture = Capture::new();
    let app = routes().layer(builder(&capture).build());
    send(&app, get_req("/missing").body(Body::empty()).unwrap()).await;
    capture
        .span("GET /missing")
        .assert_attr("http.response.status_code", 404)
        .assert_no_attr("error.type")
        .assert_not_error();

    send(&app, get_req("/error").body(Body::empty()).unwrap()).await;
    let span = capture.span("GET /error");
    span.assert_attr("http.response.status_code", 500)
        .assert_attr("error.type", "500")
        .assert_error();
    assert!(
        span.event("exception").is_none(),
        "a status code needs no exception event"
    );
}

#[tokio::test]
async fn panic_is_caught_as_500_with_error() {
    let capture = Capture::new();
    let app = routes().layer(builder(&capture).build());
    let (status, _, _) = send(&app, get_req("/panic").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let span = capture.span("GET /panic");
    span.assert_attr("error.type", "panic")
        .assert_attr("http.response.status_code", 500)
        .assert_error()
        .assert_event("exception");
    assert_eq!(
        span.event_attr("exception", "exception.message"),
        Some(&Value::from("handler exploded"))
    );
    assert_eq!(span.error_description(), Some("handler exploded"));
    let metrics = capture.collect_metrics();
    metrics
        .histogram("http.server.request.duration")
        .assert_count(
            &[
                KeyValue::new("error.type", "panic"),
                KeyValue::new("http.response.status_code", 500),
            ],
            1,
        );
}

#[tokio::test]
async fn panic_passthrough_when_disabled_still_ends_the_span() {
    let capture = Capture::new();
    let app = routes().layer(builder(&capture).catch_panic(false).build());
    let joined = tokio::spawn(async move {
        app.oneshot(get_req("/panic").body(Body::empty()).unwrap())
            .await
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    let span = capture.span("GET /panic");
    span.assert_no_attr("http.response.status_code");
    let metrics = capture.collect_metrics();
    metrics
        .sum_i64("http.server.active_requests")
        .assert_value(&[], 0);
}

#[tokio::test]
async fn streaming_body_ends_the_span() {
    let capture = Capture::new();
    let app = Router::new()
        .route(
            "/stream",
            get(|| async {
                let chunks = futures::stream::unfold(0u32, |i| async move {
                    if i == 3 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(60)).await;
                    Some((
                        Ok::<_, std::io::Error>(Bytes::from(format!("chunk{i};"))),
                        i + 1,
                    ))
                });
                Body::from_stream(chunks)
            }),
        )
        .layer(builder(&capture).body_size_metrics(true).build());
    let resp = app
        .oneshot(get_req("/stream").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        capture.spans().is_empty(),
        "span must not end with the response head"
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "chunk0;chunk1;chunk2;");
    let span = capture.span("GET /stream");
    assert!(
        span.duration() >= Duration::from_millis(180),
        "{:?}",
        span.duration()
    );
    span.assert_attr("http.response.body.size", 21)
        .assert_not_error();
    let metrics = capture.collect_metrics();
    let point = metrics
        .histogram("http.server.request.duration")
        .point_with(&[KeyValue::new("http.route", "/stream")])
        .clone();
    assert!(point.sum >= 0.18, "{}", point.sum);
    assert_eq!(
        metrics
            .histogram("http.server.response.body.size")
            .point_with(&[KeyValue::new("http.route", "/stream")])
            .sum,
        21.0
    );
}

#[tokio::test]
async fn body_error_and_dropped_body() {
    let capture = Capture::new();
    let app = Router::new()
        .route(
            "/broken",
            get(|| async {
                let chunks = futures::stream::iter(vec![
                    Ok(Bytes::from_static(b"start")),
                    Err(std::io::Error::other("disk gone")),
                ]);
                Body::from_stream(chunks)
            }),
        )
        .route(
            "/stream",
            get(|| async {
                Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>())
            }),
        )
        .layer(builder(&capture).build());
    let resp = app
        .clone()
        .oneshot(get_req("/broken").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(resp.into_body().collect().await.is_err());
    capture
        .span("GET /broken")
        .assert_error()
        .assert_attr("error.type", "axum_core::error::Error");

    // A body dropped before its end (client went away) ends the span.
    let resp = app
        .oneshot(get_req("/stream").body(Body::empty()).unwrap())
        .await
        .unwrap();
    drop(resp);
    capture.span("GET /stream").assert_not_error();
}

#[tokio::test]
async fn handler_runs_inside_the_span() {
    let capture = Capture::new();
    let tracer = capture.tracer("handler");
    let app = Router::new()
        .route(
            "/work",
            get(move || {
                let tracer = tracer.clone();
                async move {
                    tokio::task::yield_now().await;
                    let _child = tracer.start("db query");
                    "done"
                }
            }),
        )
        .layer(builder(&capture).build());
    send(&app, get_req("/work").body(Body::empty()).unwrap()).await;
    assert_parent(&capture.span("db query"), &capture.span("GET /work"));
}

#[tokio::test]
async fn filters_skip_telemetry_but_propagate() {
    let capture = Capture::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen2 = seen.clone();
    let app = Router::new()
        .route(
            "/health",
            get(move || {
                let seen = seen2.clone();
                async move {
                    let cx = Context::current();
                    *seen.lock().unwrap() = Some(cx.span().span_context().trace_id().to_string());
                    "ok"
                }
            }),
        )
        .route("/metrics/x", get(|| async { "m" }))
        .route("/users/{id}", get(|| async { "u" }))
        .layer(
            builder(&capture)
                .filter(not(health_check()).and(not(path_prefix("/metrics"))))
                .build(),
        );
    send(
        &app,
        get_req("/health")
            .header("traceparent", PARENT)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    send(&app, get_req("/metrics/x").body(Body::empty()).unwrap()).await;
    assert!(capture.spans().is_empty(), "{}", capture.tree());
    assert_eq!(seen.lock().unwrap().as_deref(), Some(TRACE_ID));
    send(&app, get_req("/users/1").body(Body::empty()).unwrap()).await;
    assert_eq!(capture.spans().len(), 1);
    let metrics = capture.collect_metrics();
    metrics
        .histogram("http.server.request.duration")
        .assert_count(&[], 1)
        .assert_count(&[KeyValue::new("http.route", "/users/{id}")], 1);
}

#[tokio::test]
async fn public_endpoint_links_instead_of_parenting() {
    let capture = Capture::new();
    let app = routes().layer(
        builder(&capture)
            .public_endpoint_fn(|parts| !parts.uri.path().starts_with("/api"))
            .build(),
    );
    send(
        &app,
        get_req("/users/1")
            .header("traceparent", PARENT)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let span = capture.span("GET /users/{id}");
    assert_root(&span);
    assert_ne!(span.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.links().len(), 1);
    assert_eq!(
        span.links()[0].span_context.trace_id().to_string(),
        TRACE_ID
    );

    send(
        &app,
        get_req("/api/items/1")
            .header("traceparent", PARENT)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let inner = capture.span("GET /api/items/{id}");
    assert_eq!(inner.trace_id().to_string(), TRACE_ID);
    assert!(inner.links().is_empty());
    let _ = assert_linked;
}

#[tokio::test]
async fn header_capture_never_records_credentials() {
    let capture = Capture::new();
    let app = Router::new()
        .route(
            "/h",
            get(|| async {
                (
                    [("x-cache", "HIT"), ("set-cookie", "session=topsecret")],
                    "ok",
                )
            }),
        )
        .layer(
            builder(&capture)
                .capture_request_headers(["X-Tenant", "Authorization", "Cookie"])
                .capture_response_headers(["x-cache", "set-cookie"])
                .build(),
        );
    let req = get_req("/h")
        .header("x-tenant", "acme")
        .header("x-tenant", "beta")
        .header("authorization", "Bearer topsecret")
        .header("cookie", "session=topsecret")
        .body(Body::empty())
        .unwrap();
    send(&app, req).await;
    let span = capture.span("GET /h");
    span.assert_attr(
        "http.request.header.x-tenant",
        Value::Array(Array::String(vec!["acme".into(), "beta".into()])),
    )
    .assert_attr(
        "http.response.header.x-cache",
        Value::Array(Array::String(vec!["HIT".into()])),
    )
    .assert_no_attr("http.request.header.authorization")
    .assert_no_attr("http.request.header.cookie")
    .assert_no_attr("http.response.header.set-cookie");
    assert!(!format!("{span}").contains("topsecret"));
}

#[tokio::test]
async fn bad_input_is_served_as_a_new_root() {
    let capture = Capture::new();
    let app = routes().layer(builder(&capture).build());
    let cases: Vec<(&str, HeaderValue)> = vec![
        (
            "traceparent",
            HeaderValue::from_static("00-zzzz-00f067aa0ba902b7-01"),
        ),
        (
            "traceparent",
            HeaderValue::from_static("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        ),
        (
            "traceparent",
            HeaderValue::from_bytes(b"00-\xff\xfe").unwrap(),
        ),
        ("baggage", HeaderValue::from_static("=;;,,=%%%zz")),
        (
            "user-agent",
            HeaderValue::from_bytes(b"\xff\xfebad").unwrap(),
        ),
        (
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xc3\x28").unwrap(),
        ),
        (
            "forwarded",
            HeaderValue::from_static("for=\"[::1;proto=;host=:"),
        ),
        ("host", HeaderValue::from_static("[::1")),
    ];
    for (name, value) in cases {
        capture.clear();
        let req = Request::get("/users/5")
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        let (status, _, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let span = capture.span("GET /users/{id}");
        assert_root(&span);
        span.assert_attr("http.response.status_code", 200);
    }
}

#[tokio::test]
async fn unknown_methods_become_other() {
    let capture = Capture::new();
    let app = routes().layer(builder(&capture).build());
    let req = Request::builder()
        .method("PURGE")
        .uri("/any")
        .body(Body::empty())
        .unwrap();
    send(&app, req).await;
    capture
        .span("HTTP /any")
        .assert_attr("http.request.method", "_OTHER")
        .assert_attr("http.request.method_original", "PURGE");
    let metrics = capture.collect_metrics();
    metrics
        .histogram("http.server.request.duration")
        .assert_count(&[KeyValue::new("http.request.method", "_OTHER")], 1);

    let capture = Capture::new();
    let app = routes().layer(
        builder(&capture)
            .known_methods(KnownMethods::new(["PURGE", "GET"]))
            .build(),
    );
    let req = Request::builder()
        .method("PURGE")
        .uri("/any")
        .body(Body::empty())
        .unwrap();
    send(&app, req).await;
    capture
        .span("PURGE /any")
        .assert_no_attr("http.request.method_original");
}

#[tokio::test]
async fn options_name_labels_traceresponse_forwarded_proto() {
    let capture = Capture::new();
    let app = routes().layer(
        builder(&capture)
            .span_name(|parts, route| format!("api {} {}", parts.method, route.unwrap_or("?")))
            .span_attributes(|parts| {
                vec![KeyValue::new(
                    "tenant",
                    parts.headers.contains_key("x-tenant"),
                )]
            })
            .metric_attributes(|_| vec![KeyValue::new("deployment", "blue")])
            .trace_response(true)
            .build(),
    );
    let req = get_req("/users/3")
        .header(
            "forwarded",
            "for=198.51.100.4;proto=https;host=shop.example",
        )
        .header("traceparent", PARENT)
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(&app, req).await;
    let span = capture.span("api GET /users/{id}");
    span.assert_attr("tenant", false)
        .assert_attr("url.scheme", "https")
        .assert_attr("server.address", "shop.example")
        .assert_no_attr("server.port")
        .assert_attr("client.address", "198.51.100.4");
    let tr = headers.get("traceresponse").unwrap().to_str().unwrap();
    assert_eq!(tr, format!("00-{TRACE_ID}-{}-01", span.span_id()));
    let metrics = capture.collect_metrics();
    metrics
        .histogram("http.server.request.duration")
        .assert_count(
            &[
                KeyValue::new("deployment", "blue"),
                KeyValue::new("url.scheme", "https"),
            ],
            1,
        );
}

#[tokio::test]
async fn http_dup_emits_old_names() {
    let capture = Capture::new();
    let app = routes().layer(builder(&capture).semconv_dup(true).build());
    send(
        &app,
        get_req("/users/9?a=1")
            .header("x-forwarded-for", "192.0.2.1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    capture
        .span("GET /users/{id}")
        .assert_attr("http.request.method", "GET")
        .assert_attr("http.method", "GET")
        .assert_attr("http.status_code", 200)
        .assert_attr("http.target", "/users/9?a=1")
        .assert_attr("http.scheme", "http")
        .assert_attr("http.client_ip", "192.0.2.1")
        .assert_attr("net.host.name", "api.example")
        .assert_attr("net.host.port", 8080)
        .assert_attr("net.protocol.version", "1.1");
    let metrics = capture.collect_metrics();
    let old = metrics.metric("http.server.duration");
    assert_eq!(old.unit(), "ms");
    metrics
        .histogram("http.server.request.duration")
        .assert_count(&[], 1);
}

#[tokio::test]
async fn metrics_names_units_buckets_attributes() {
    let capture = Capture::new();
    let app = routes().layer(builder(&capture).body_size_metrics(true).build());
    send(&app, get_req("/users/1").body(Body::empty()).unwrap()).await;
    send(&app, get_req("/users/2").body(Body::empty()).unwrap()).await;
    send(
        &app,
        Request::post("/any")
            .header("content-length", "4")
            .body(Body::from("abcd"))
            .unwrap(),
    )
    .await;
    send(&app, get_req("/error").body(Body::empty()).unwrap()).await;

    let metrics = capture.collect_metrics();
    let duration = metrics.metric("http.server.request.duration");
    assert_eq!(duration.unit(), "s");
    let points = metrics.histogram("http.server.request.duration");
    let p = points.point_with(&[KeyValue::new("http.route", "/users/{id}")]);
    assert_eq!(p.count, 2);
    assert_eq!(p.bounds, DURATION_BUCKETS);
    let mut keys: Vec<&str> = p.attributes.iter().map(|kv| kv.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "http.request.method",
            "http.response.status_code",
            "http.route",
            "network.protocol.version",
            "url.scheme"
        ]
    );
    points.assert_count(
        &[
            KeyValue::new("http.route", "/error"),
            KeyValue::new("error.type", "500"),
        ],
        1,
    );
    assert!(p.attributes.iter().all(|kv| kv.key.as_str() != "url.path"));

    assert_eq!(
        metrics.metric("http.server.active_requests").unit(),
        "{request}"
    );
    let active = metrics.sum_i64("http.server.active_requests");
    active.assert_value(
        &[
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.scheme", "http"),
        ],
        0,
    );
    assert_eq!(metrics.metric("http.server.request.body.size").unit(), "By");
    assert_eq!(
        metrics
            .histogram("http.server.request.body.size")
            .point_with(&[KeyValue::new("http.route", "/any")])
            .sum,
        4.0
    );
    assert_eq!(
        metrics
            .histogram("http.server.response.body.size")
            .point_with(&[KeyValue::new("http.route", "/users/{id}")])
            .sum,
        16.0
    );
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let capture = Capture::new();
    let app = routes().layer(builder(&capture).metrics(false).build());
    send(&app, get_req("/users/1").body(Body::empty()).unwrap()).await;
    capture.span("GET /users/{id}");
    let metrics = capture.collect_metrics();
    metrics.assert_absent("http.server.request.duration");

    let capture = Capture::new();
    let app = routes().layer(builder(&capture).active_requests(false).build());
    send(&app, get_req("/users/1").body(Body::empty()).unwrap()).await;
    let metrics = capture.collect_metrics();
    metrics.assert_absent("http.server.active_requests");
    metrics
        .histogram("http.server.request.duration")
        .assert_count(&[], 1);
}

#[tokio::test]
async fn works_on_plain_tower_services_with_route_extension() {
    use otel_kit_http::server::{HttpRoute, PeerAddr};
    use tower::Layer;
    let capture = Capture::new();
    let svc = tower::service_fn(|_req: Request<String>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hi")))
    });
    let svc = builder(&capture)
        .sampling_attributes(true)
        .build()
        .layer(svc);
    let mut req = Request::get("/orders/77").body(String::new()).unwrap();
    req.extensions_mut()
        .insert(HttpRoute("/orders/{id}".into()));
    req.extensions_mut()
        .insert(PeerAddr("10.1.2.3:5555".parse().unwrap()));
    let resp = svc.oneshot(req).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hi");
    capture
        .span("GET /orders/{id}")
        .assert_attr("network.peer.address", "10.1.2.3")
        .assert_attr("network.peer.port", 5555)
        .assert_attr("client.address", "10.1.2.3")
        .assert_attr("url.path", "/orders/77");
}

#[tokio::test]
async fn unsampled_requests_record_metrics_and_propagate_the_decision() {
    use otel_kit_core::opentelemetry_sdk::trace::Sampler;
    let capture = Capture::builder().sampler(Sampler::AlwaysOff).build();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen2 = seen.clone();
    let app = Router::new()
        .route(
            "/users/{id}",
            get(move || {
                let seen = seen2.clone();
                async move {
                    let cx = Context::current();
                    let sc = cx.span().span_context().clone();
                    *seen.lock().unwrap() =
                        Some((sc.is_valid(), sc.is_sampled(), cx.span().is_recording()));
                    "u"
                }
            }),
        )
        .layer(builder(&capture).trace_response(true).build());
    let (status, headers, _) = send(&app, get_req("/users/1").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(capture.spans().is_empty());
    assert_eq!(*seen.lock().unwrap(), Some((true, false, false)));
    assert!(
        headers
            .get("traceresponse")
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-00")
    );
    let metrics = capture.collect_metrics();
    metrics
        .histogram("http.server.request.duration")
        .assert_count(&[KeyValue::new("http.route", "/users/{id}")], 1);
}

/// Every duration series as (sorted `key=value` list, count).
fn duration_series(capture: &Capture) -> Vec<(Vec<String>, u64)> {
    let metrics = capture.collect_metrics();
    let points = metrics.histogram("http.server.request.duration");
    let mut series: Vec<(Vec<String>, u64)> = points
        .matching(&[])
        .map(|p| {
            let mut attrs: Vec<String> = p
                .attributes
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect();
            attrs.sort();
            (attrs, p.count)
        })
        .collect();
    series.sort();
    series
}

/// The default layer records through instruments bound per attribute set;
/// opt-in body sizes take the unbound path. Both must produce the same
/// series with the same counts, including 5xx `error.type`s, unknown
/// methods, unmatched routes and many repeats of each set.
#[tokio::test]
async fn bound_and_unbound_metric_paths_record_the_same_series() {
    let bound = Capture::new();
    let unbound = Capture::new();
    let bound_app = routes().layer(builder(&bound).build());
    let unbound_app = routes().layer(builder(&unbound).body_size_metrics(true).build());
    for app in [&bound_app, &unbound_app] {
        for round in 0..3 {
            for uri in ["/users/1", "/error", "/missing", "/nope", "/api/items/7"] {
                send(app, get_req(uri).body(Body::empty()).unwrap()).await;
            }
            let method = if round == 0 { "PURGE" } else { "DELETE" };
            send(
                app,
                Request::builder()
                    .method(method)
                    .uri("/any")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        }
    }
    let bound_series = duration_series(&bound);
    assert_eq!(bound_series, duration_series(&unbound));
    assert!(
        bound_series
            .iter()
            .any(|(attrs, count)| *count == 3 && attrs.contains(&"error.type=500".to_owned())),
        "{bound_series:?}"
    );
    assert!(
        bound_series.iter().any(|(attrs, count)| *count == 1
            && attrs.contains(&"http.request.method=_OTHER".to_owned())),
        "{bound_series:?}"
    );
}

/// `active_requests` goes up while a request is in flight and back to 0
/// after, through the bound handle, also when the response body is dropped
/// unread and when metric labels force the unbound duration path.
#[tokio::test]
async fn bound_active_requests_go_back_to_zero() {
    let capture = Capture::new();
    let (release, wait) = tokio::sync::oneshot::channel::<()>();
    let wait = std::sync::Arc::new(std::sync::Mutex::new(Some(wait)));
    let app = Router::new()
        .route(
            "/slow",
            get(move || {
                let wait = wait.lock().unwrap().take();
                // Only the first request waits.
                async move {
                    if let Some(wait) = wait {
                        let _ = wait.await;
                    }
                    "done"
                }
            }),
        )
        .layer(
            builder(&capture)
                .metric_attributes(|_| vec![KeyValue::new("tenant", "a")])
                .build(),
        );
    let in_flight = tokio::spawn(
        app.clone()
            .oneshot(get_req("/slow").body(Body::empty()).unwrap()),
    );
    let get = [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.scheme", "http"),
    ];
    let mut seen_one = false;
    for _ in 0..200 {
        let metrics = capture.collect_metrics();
        let value = metrics
            .get("http.server.active_requests")
            .and_then(|m| m.sum_i64().get(&get).map(|p| p.value));
        if value == Some(1) {
            seen_one = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        seen_one,
        "active_requests never reached 1 while a request was in flight"
    );
    release.send(()).unwrap();
    let response = in_flight.await.unwrap().unwrap();
    drop(response); // body never read: the finisher still runs
    for _ in 0..5 {
        send(&app, get_req("/slow").body(Body::empty()).unwrap()).await;
    }
    let metrics = capture.collect_metrics();
    metrics
        .sum_i64("http.server.active_requests")
        .assert_value(&get, 0);
    metrics
        .histogram("http.server.request.duration")
        .assert_count(&[KeyValue::new("tenant", "a")], 6);
}

/// `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN=logs` / `logs/dup`: the panic is an
/// `http.server.request.exception` ERROR log record in the request's span
/// (also when the request is not sampled); span events only with `/dup`.
#[tokio::test]
async fn panic_as_exception_log_record() {
    use otel_kit_core::config::ExceptionSignal;
    use otel_kit_core::opentelemetry::logs::Severity;
    use otel_kit_core::opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

    for signal in [ExceptionSignal::Logs, ExceptionSignal::Both] {
        let capture = Capture::new();
        let app = routes().layer(
            builder(&capture)
                .exception_signal(signal)
                .logger_provider(&capture.logger_provider())
                .build(),
        );
        let (status, _, _) = send(&app, get_req("/panic").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let span = capture.span("GET /panic");
        span.assert_attr("error.type", "panic").assert_error();
        assert_eq!(
            span.event("exception").is_some(),
            signal == ExceptionSignal::Both
        );
        let logs = capture.logs();
        assert_eq!(logs.len(), 1, "{signal:?}");
        let log = &logs[0];
        assert_eq!(log.event_name(), Some("http.server.request.exception"));
        assert_eq!(log.severity(), Some(Severity::Error));
        assert_eq!(
            log.attr("exception.message"),
            Some(&otel_kit_core::opentelemetry::logs::AnyValue::from(
                "handler exploded"
            ))
        );
        assert_eq!(log.trace_id(), Some(span.trace_id()));
        assert_eq!(log.span_id(), Some(span.span_id()));
    }

    // Unsampled: no span, the log record still carries the trace.
    let capture = Capture::new();
    let never = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build();
    let app = routes().layer(
        builder(&capture)
            .tracer_provider(&never)
            .exception_signal(ExceptionSignal::Logs)
            .logger_provider(&capture.logger_provider())
            .build(),
    );
    let (status, _, _) = send(&app, get_req("/panic").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(capture.spans().is_empty());
    let logs = capture.logs();
    assert_eq!(logs.len(), 1);
    assert!(logs[0].trace_id().is_some());
}
