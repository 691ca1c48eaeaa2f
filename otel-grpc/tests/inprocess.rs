//! Responses a real tonic peer rarely sends, through in-process stacks:
//! HTTP errors without a gRPC status, bodies ending without trailers,
//! failing bodies, garbage `grpc-status` values.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame};
use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_core::testing::{Capture, CapturedSpan};
use otel_kit_grpc::{GrpcClientLayer, GrpcServerLayer};
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// Data frames, then optional trailers or an error.
struct Scripted {
    frames: Vec<Bytes>,
    end: End,
}

#[derive(Clone)]
enum End {
    Trailers(HeaderMap),
    Nothing,
    Error,
}

impl Body for Scripted {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if !self.frames.is_empty() {
            let f = self.frames.remove(0);
            return Poll::Ready(Some(Ok(Frame::data(f))));
        }
        match std::mem::replace(&mut self.end, End::Nothing) {
            End::Trailers(t) => Poll::Ready(Some(Ok(Frame::trailers(t)))),
            End::Nothing => Poll::Ready(None),
            End::Error => Poll::Ready(Some(Err(std::io::Error::other("connection reset")))),
        }
    }
}

async fn run(status: u16, headers: HeaderMap, end: End) -> (CapturedSpan, CapturedSpan) {
    let capture = Capture::new();
    let server = GrpcServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .semconv_dup(true)
        .build();
    let client = GrpcClientLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
        .semconv_dup(true)
        .build();
    let handler = service_fn(move |_req: Request<tonic::body::Body>| {
        let headers = headers.clone();
        let end = end.clone();
        async move {
            let mut response = Response::new(Scripted {
                frames: vec![Bytes::from_static(b"\0\0\0\0\x02hi")],
                end,
            });
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            *response.headers_mut() = headers;
            Ok::<_, Infallible>(response)
        }
    });
    let stack = ServiceBuilder::new()
        .layer(client)
        .layer(server)
        .service(handler);
    let request = Request::post("http://orders:8080/a.B/C")
        .body(tonic::body::Body::empty())
        .unwrap();
    if let Ok(response) = stack.oneshot(request).await {
        let mut body = response.into_body();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if frame.is_err() {
                break;
            }
        }
    }
    let client = capture.find(|s| s.kind() == SpanKind::Client).unwrap();
    let server = capture.find(|s| s.kind() == SpanKind::Server).unwrap();
    (client, server)
}

fn trailers(status: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("grpc-status", status.parse().unwrap());
    h
}

#[tokio::test]
async fn http_error_without_grpc_status() {
    let (c, s) = run(503, HeaderMap::new(), End::Nothing).await;
    c.assert_attr("rpc.response.status_code", "UNAVAILABLE")
        .assert_attr("rpc.grpc.status_code", 14)
        .assert_error();
    s.assert_attr("rpc.response.status_code", "UNAVAILABLE")
        .assert_error();
    c.assert_attr("server.address", "orders")
        .assert_attr("server.port", 8080);
}

#[tokio::test]
async fn body_ends_without_trailers() {
    let (c, s) = run(200, HeaderMap::new(), End::Nothing).await;
    c.assert_attr("rpc.response.status_code", "UNKNOWN")
        .assert_error();
    s.assert_attr("rpc.response.status_code", "UNKNOWN")
        .assert_error();
    // dup mode: the one message was seen on both sides.
    assert_eq!(
        c.events()
            .iter()
            .filter(|e| e.name == "rpc.message")
            .count(),
        1
    );
    assert_eq!(
        s.events()
            .iter()
            .filter(|e| e.name == "rpc.message")
            .count(),
        1
    );
}

#[tokio::test]
async fn failing_body() {
    let (c, s) = run(200, HeaderMap::new(), End::Error).await;
    // The server's body failed with an io::Error: its Rust type. The client
    // received that failure as a tonic Status: its code.
    s.assert_attr("rpc.response.status_code", "UNKNOWN")
        .assert_attr("error.type", "std::io::error::Error")
        .assert_error();
    c.assert_error().assert_attr("error.type", "UNKNOWN");
    assert_eq!(c.error_description(), Some("connection reset"));
    // Raised errors are exceptions on both sides.
    assert!(s.event("exception").is_some());
    assert!(c.event("exception").is_some());
}

#[tokio::test]
async fn garbage_grpc_status_is_unknown() {
    let (c, s) = run(200, HeaderMap::new(), End::Trailers(trailers("banana"))).await;
    c.assert_attr("rpc.response.status_code", "UNKNOWN");
    s.assert_attr("rpc.response.status_code", "UNKNOWN");
    let (c, _) = run(200, HeaderMap::new(), End::Trailers(trailers("0"))).await;
    c.assert_attr("rpc.response.status_code", "OK")
        .assert_not_error();
}

#[tokio::test]
async fn trailers_only_status_in_headers() {
    let mut headers = trailers("7");
    headers.insert("grpc-message", "no%20access".parse().unwrap());
    let (c, s) = run(200, headers, End::Nothing).await;
    c.assert_attr("rpc.response.status_code", "PERMISSION_DENIED")
        .assert_error();
    assert_eq!(c.error_description(), Some("no access"));
    s.assert_attr("rpc.response.status_code", "PERMISSION_DENIED")
        .assert_not_error();
}
