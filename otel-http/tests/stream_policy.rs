#![cfg(feature = "axum")]
//! The stream policy over loopback: a server-sent-events endpoint read by
//! reqwest, the request span ended at the policy's maximum while the stream
//! goes on, and the summary span at the stream's end.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::testing::{Capture, assert_parent};
use otel_kit_http::server::{ServerLayer, StreamPolicy};
use tokio::sync::Notify;

/// `/sse`: 10 events; after the `hold_after`-th it waits for `resume`.
async fn serve(
    capture: &Capture,
    policy: Option<StreamPolicy>,
    resume: Arc<Notify>,
    hold_after: u32,
) -> SocketAddr {
    let sse = get(move || {
        let resume = resume.clone();
        async move {
            let events = futures::stream::unfold(0u32, move |n| {
                let resume = resume.clone();
                async move {
                    if n == 10 {
                        return None;
                    }
                    if n == hold_after {
                        resume.notified().await;
                    }
                    Some((
                        Ok::<_, Infallible>(Event::default().data(format!("event {n}"))),
                        n + 1,
                    ))
                }
            });
            Sse::new(events)
        }
    });
    let mut layer = ServerLayer::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .body_size_metrics(true);
    if let Some(p) = policy {
        layer = layer.stream_policy(p);
    }
    let app = Router::new().route("/sse", sse).layer(layer.build());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn read_all(mut response: reqwest::Response) -> usize {
    let mut text = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    text.matches("data: event").count()
}

#[tokio::test]
async fn the_span_ends_at_the_maximum_while_the_stream_goes_on() {
    let capture = Capture::new();
    let resume = Arc::new(Notify::new());
    let addr = serve(
        &capture,
        Some(StreamPolicy::new().max_frames(3)),
        resume.clone(),
        3,
    )
    .await;

    let response = reqwest::get(format!("http://{addr}/sse")).await.unwrap();
    // The stream is held after 3 events: the request span is already out.
    let request = capture.wait_for_span("GET /sse").await;
    request
        .assert_kind(SpanKind::Server)
        .assert_attr("stream.truncated", true)
        .assert_attr("stream.frames", 3)
        .assert_attr("http.response.status_code", 200)
        .assert_not_error();
    assert!(capture.spans_named("stream /sse").is_empty());

    resume.notify_one();
    assert_eq!(
        read_all(response).await,
        10,
        "the stream itself is untouched"
    );
    let summary = capture.wait_for_span("stream /sse").await;
    summary
        .assert_kind(SpanKind::Internal)
        .assert_attr("stream.frames", 10)
        .assert_attr("http.route", "/sse")
        .assert_not_error();
    assert!(summary.attr_i64("http.response.body.size").unwrap() > 0);
    assert_parent(&summary, &request);

    // The duration metric measures the whole response, once.
    let metrics = capture.collect_metrics();
    assert_eq!(
        metrics
            .histogram("http.server.request.duration")
            .point_with(&[otel_kit_core::opentelemetry::KeyValue::new(
                "http.route",
                "/sse"
            )])
            .count,
        1
    );
}

#[tokio::test]
async fn max_duration_zero_ends_the_span_at_the_first_frame() {
    let capture = Capture::new();
    let resume = Arc::new(Notify::new());
    let addr = serve(
        &capture,
        Some(StreamPolicy::new().max_duration(Duration::ZERO)),
        resume.clone(),
        3,
    )
    .await;
    let response = reqwest::get(format!("http://{addr}/sse")).await.unwrap();
    capture
        .wait_for_span("GET /sse")
        .await
        .assert_attr("stream.truncated", true)
        .assert_attr("stream.frames", 1);
    resume.notify_one();
    assert_eq!(read_all(response).await, 10);
    capture
        .wait_for_span("stream /sse")
        .await
        .assert_attr("stream.frames", 10);
}

#[tokio::test]
async fn without_a_policy_the_span_lasts_as_long_as_the_stream() {
    let capture = Capture::new();
    let resume = Arc::new(Notify::new());
    let addr = serve(&capture, None, resume.clone(), 3).await;
    let response = reqwest::get(format!("http://{addr}/sse")).await.unwrap();
    resume.notify_one();
    assert_eq!(read_all(response).await, 10);
    let request = capture.wait_for_span("GET /sse").await;
    request
        .assert_no_attr("stream.truncated")
        .assert_no_attr("stream.frames");
    assert!(capture.spans_named("stream /sse").is_empty());
}

#[tokio::test]
async fn max_duration_ends_the_span_of_an_idle_stream_without_a_frame() {
    let capture = Capture::new();
    let resume = Arc::new(Notify::new());
    // One event, then the stream waits (as a server-sent-events connection
    // waits for its next event) until the test lets it go on.
    let addr = serve(
        &capture,
        Some(StreamPolicy::new().max_duration(Duration::from_millis(100))),
        resume.clone(),
        1,
    )
    .await;
    let mut response = reqwest::get(format!("http://{addr}/sse")).await.unwrap();
    let first = response.chunk().await.unwrap().unwrap();
    assert!(std::str::from_utf8(&first).unwrap().contains("event 0"));

    // No frame is sent while the stream is held: the deadline alone ends
    // the request span.
    let request = capture.wait_for_span("GET /sse").await;
    request
        .assert_kind(SpanKind::Server)
        .assert_attr("stream.truncated", true)
        .assert_attr("stream.frames", 1)
        .assert_not_error();
    assert!(capture.spans_named("stream /sse").is_empty());

    resume.notify_one();
    assert_eq!(
        read_all(response).await,
        9,
        "the stream itself is untouched"
    );
    let summary = capture.wait_for_span("stream /sse").await;
    summary.assert_attr("stream.frames", 10).assert_not_error();
    assert_parent(&summary, &request);
    assert_eq!(
        summary.start_time, request.end_time,
        "the summary starts where the request span ended"
    );
    assert_eq!(capture.spans_named("GET /sse").len(), 1);
}
