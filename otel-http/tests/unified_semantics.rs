#![cfg(all(feature = "axum", feature = "reqwest"))]
//! The semantics every layer of the family shares, pinned for otel-kit-http:
//! extraction on top of the current context, the one sensitive-header rule
//! (server and client), and `error.type` per kind of failure.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Empty, StreamBody};
use otel_kit_core::opentelemetry::baggage::BaggageExt;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::{TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Array, Context, KeyValue, Value};
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_core::testing::{Capture, assert_parent};
use otel_kit_http::client::{ClientLayer, ClientLayerBuilder};
use otel_kit_http::server::{HttpRoute, ServerLayer, ServerLayerBuilder};
use tower::{Layer, ServiceExt};

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn server(capture: &Capture) -> ServerLayerBuilder {
    ServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .semconv_dup(false)
}

fn client(capture: &Capture) -> ClientLayerBuilder {
    ClientLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .semconv_dup(false)
}

/// A handler reporting the baggage entry `k` and the trace id it sees.
fn seeing_app(capture: &Capture) -> Router {
    Router::new()
        .route(
            "/seen",
            get(|| async {
                let cx = Context::current();
                let k = cx.baggage().get("k").map(|v| v.to_string());
                format!("{k:?}")
            }),
        )
        .layer(server(capture).build())
}

async fn body_of(resp: Response<impl http_body::Body<Error: std::fmt::Debug>>) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn without_traceparent_the_request_is_a_child_of_the_current_span() {
    let capture = Capture::new();
    let app = seeing_app(&capture);
    let outer = capture.tracer("test").start("outer");
    let outer_cx = Context::current_with_span(outer).with_baggage([KeyValue::new("k", "outer")]);
    let req = Request::get("/seen").body(Body::empty()).unwrap();
    let resp = app
        .oneshot(req)
        .with_context(outer_cx.clone())
        .await
        .unwrap();
    assert_eq!(body_of(resp).await, "Some(\"outer\")");
    outer_cx.span().end();
    assert_parent(&capture.span("GET /seen"), &capture.span("outer"));
}

#[tokio::test]
async fn with_traceparent_the_remote_parent_wins_and_outer_baggage_stays() {
    let capture = Capture::new();
    let app = seeing_app(&capture);
    let outer = capture.tracer("test").start("outer");
    let outer_cx = Context::current_with_span(outer).with_baggage([KeyValue::new("k", "outer")]);
    let req = Request::get("/seen")
        .header("traceparent", PARENT)
        .body(Body::empty())
        .unwrap();
    let resp = app
        .oneshot(req)
        .with_context(outer_cx.clone())
        .await
        .unwrap();
    assert_eq!(body_of(resp).await, "Some(\"outer\")");
    outer_cx.span().end();
    let span = capture.span("GET /seen");
    assert_eq!(
        span.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(span.parent_span_id().to_string(), "00f067aa0ba902b7");
    assert!(span.has_remote_parent());
}

fn header_app(capture: &Capture, allow: &[&str]) -> Router {
    Router::new()
        .route(
            "/h",
            get(|| async {
                (
                    [("set-cookie", "session=topsecret"), ("x-cache", "HIT")],
                    "ok",
                )
            }),
        )
        .layer(
            server(capture)
                .capture_request_headers(["Authorization", "x-tenant"])
                .capture_response_headers(["set-cookie", "x-cache"])
                .allow_sensitive_headers(allow.iter().copied())
                .build(),
        )
}

fn with_credentials(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("authorization", "Bearer topsecret")
        .header("x-tenant", "acme")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn server_header_capture_refuses_credentials_unless_allowed() {
    let capture = Capture::new();
    let resp = header_app(&capture, &[])
        .oneshot(with_credentials("/h"))
        .await
        .unwrap();
    body_of(resp).await;
    let span = capture.span("GET /h");
    span.assert_attr(
        "http.request.header.x-tenant",
        Value::Array(Array::String(vec!["acme".into()])),
    )
    .assert_attr(
        "http.response.header.x-cache",
        Value::Array(Array::String(vec!["HIT".into()])),
    )
    .assert_no_attr("http.request.header.authorization")
    .assert_no_attr("http.response.header.set-cookie");
    assert!(!format!("{span}").contains("topsecret"));

    let capture = Capture::new();
    let resp = header_app(&capture, &["authorization", "Set-Cookie"])
        .oneshot(with_credentials("/h"))
        .await
        .unwrap();
    body_of(resp).await;
    capture
        .span("GET /h")
        .assert_attr(
            "http.request.header.authorization",
            Value::Array(Array::String(vec!["Bearer topsecret".into()])),
        )
        .assert_attr(
            "http.response.header.set-cookie",
            Value::Array(Array::String(vec!["session=topsecret".into()])),
        );
}

/// A client stack over an in-process "transport" answering `status`.
fn client_over(
    builder: ClientLayerBuilder,
    status: StatusCode,
) -> impl tower::Service<
    Request<Empty<Bytes>>,
    Response = Response<Empty<Bytes>>,
    Error = std::io::Error,
    Future: Send,
> {
    builder.build().layer(tower::service_fn(
        move |_req: Request<Empty<Bytes>>| async move {
            let mut resp = Response::new(Empty::new());
            *resp.status_mut() = status;
            Ok::<_, std::io::Error>(resp)
        },
    ))
}

#[tokio::test]
async fn client_header_capture_refuses_credentials_unless_allowed() {
    let send = |svc| async move {
        let req = Request::get("http://api.example/x")
            .header("authorization", "Bearer topsecret")
            .header("x-tenant", "acme")
            .body(Empty::new())
            .unwrap();
        tower::ServiceExt::oneshot(svc, req).await.unwrap();
    };
    let capture = Capture::new();
    let builder = client(&capture).capture_request_headers(["authorization", "x-tenant"]);
    send(client_over(builder, StatusCode::OK)).await;
    let span = capture.span("GET");
    span.assert_attr(
        "http.request.header.x-tenant",
        Value::Array(Array::String(vec!["acme".into()])),
    )
    .assert_no_attr("http.request.header.authorization");
    assert!(!format!("{span}").contains("topsecret"));

    let capture = Capture::new();
    let builder = client(&capture)
        .capture_request_headers(["authorization", "x-tenant"])
        .allow_sensitive_headers(["Authorization"]);
    send(client_over(builder, StatusCode::OK)).await;
    capture.span("GET").assert_attr(
        "http.request.header.authorization",
        Value::Array(Array::String(vec!["Bearer topsecret".into()])),
    );
}

#[tokio::test]
async fn server_error_type_per_kind_of_failure() {
    let capture = Capture::new();
    let app = Router::new()
        .route("/500", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route(
            "/panic",
            get(|| async { if true { panic!("boom") } else { "" } }),
        )
        .route(
            "/body",
            get(|| async {
                Body::from_stream(futures::stream::iter(vec![
                    Ok(Bytes::from_static(b"a")),
                    Err(std::io::Error::other("gone")),
                ]))
            }),
        )
        .layer(server(&capture).build());
    for uri in ["/500", "/panic", "/body"] {
        let resp = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let _ = resp.into_body().collect().await;
    }
    capture
        .span("GET /500")
        .assert_attr("error.type", "503")
        .assert_error();
    capture
        .span("GET /panic")
        .assert_attr("error.type", "panic")
        .assert_error();
    // An axum body fails with axum's error type: its full path.
    capture
        .span("GET /body")
        .assert_attr("error.type", "axum_core::error::Error")
        .assert_error();

    // A plain tower service: the inner service's error and a body's error
    // are their full Rust type paths.
    let capture = Capture::new();
    let failing = server(&capture)
        .build()
        .layer(tower::service_fn(|_req: Request<Body>| async {
            Err::<Response<Body>, _>(std::io::Error::other("inner failed"))
        }));
    let mut req = Request::get("/inner").body(Body::empty()).unwrap();
    req.extensions_mut().insert(HttpRoute("/inner".into()));
    assert!(failing.oneshot(req).await.is_err());
    capture
        .span("GET /inner")
        .assert_attr("error.type", "std::io::error::Error")
        .assert_error();

    let streaming =
        server(&capture)
            .build()
            .layer(tower::service_fn(|_req: Request<Body>| async {
                let frames = futures::stream::iter(vec![
                    Ok(Frame::data(Bytes::from_static(b"a"))),
                    Err(std::fmt::Error),
                ]);
                Ok::<_, Infallible>(Response::new(StreamBody::new(frames)))
            }));
    let mut req = Request::get("/stream").body(Body::empty()).unwrap();
    req.extensions_mut().insert(HttpRoute("/stream".into()));
    let resp = streaming.oneshot(req).await.unwrap();
    assert!(resp.into_body().collect().await.is_err());
    capture
        .span("GET /stream")
        .assert_attr("error.type", "core::fmt::Error")
        .assert_error();
}

#[tokio::test]
async fn client_error_type_per_kind_of_failure() {
    // Status codes: 4xx is an error by default (configurable), 5xx always.
    let capture = Capture::new();
    let svc = client_over(client(&capture), StatusCode::NOT_FOUND);
    svc.oneshot(
        Request::get("http://api.example/x")
            .body(Empty::new())
            .unwrap(),
    )
    .await
    .unwrap();
    capture
        .span("GET")
        .assert_attr("error.type", "404")
        .assert_error();
    let capture = Capture::new();
    let svc = client_over(client(&capture).error_on_4xx(false), StatusCode::NOT_FOUND);
    svc.oneshot(
        Request::get("http://api.example/x")
            .body(Empty::new())
            .unwrap(),
    )
    .await
    .unwrap();
    capture
        .span("GET")
        .assert_no_attr("error.type")
        .assert_not_error();

    // The inner client's error: its full Rust type path.
    let capture = Capture::new();
    let svc =
        client(&capture)
            .build()
            .layer(tower::service_fn(|_req: Request<Empty<Bytes>>| async {
                Err::<Response<Empty<Bytes>>, _>(std::io::Error::other("reset"))
            }));
    assert!(
        svc.oneshot(
            Request::get("http://api.example/x")
                .body(Empty::new())
                .unwrap()
        )
        .await
        .is_err()
    );
    capture
        .span("GET")
        .assert_attr("error.type", "std::io::error::Error")
        .assert_error();

    // reqwest: the class the error names (`connect`, `timeout`).
    let capture = Capture::new();
    let reqwest_client = reqwest_middleware::ClientBuilder::new(
        reqwest::Client::builder()
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap(),
    )
    .with(client(&capture).build_middleware())
    .build();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    reqwest_client
        .get(format!("http://127.0.0.1:{closed}/x"))
        .send()
        .await
        .unwrap_err();
    capture.span("GET").assert_attr("error.type", "connect");
    capture.clear();
    let slow = slow_server().await;
    let err = reqwest_client
        .get(format!("http://{slow}/slow"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    capture.span("GET").assert_attr("error.type", "timeout");
}

async fn slow_server() -> SocketAddr {
    let app = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}
