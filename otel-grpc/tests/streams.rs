//! Long and chatty streams: opt-in `rpc.message` events with a cap per
//! call, and the maximum span duration of streaming calls, over loopback.

mod support;

use std::time::Duration;

use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::testing::{Capture, CapturedSpan, assert_parent};
use support::{BIDI, SERVER_STREAM, client_builder, connect, req, serve, server_builder};

fn message_events(span: &CapturedSpan) -> usize {
    span.events()
        .iter()
        .filter(|e| e.name == "rpc.message")
        .count()
}

fn spans_of(capture: &Capture, name: &str, kind: SpanKind) -> Vec<CapturedSpan> {
    capture.find_all(|s| s.name() == name && s.kind() == kind)
}

#[tokio::test]
async fn message_events_are_opt_in_and_capped_per_call() {
    let capture = Capture::new();
    let addr = serve(server_builder(&capture).message_events(4).build()).await;
    let mut client = connect(
        addr,
        client_builder(&capture, addr).message_events(4).build(),
    )
    .await;
    let mut request = req("m");
    request.count = 20;
    let mut replies = client.server_stream(request).await.unwrap().into_inner();
    let mut n = 0;
    while replies.message().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 20);
    capture.wait_for_spans(2).await;
    let server = spans_of(&capture, SERVER_STREAM, SpanKind::Server).remove(0);
    let client_span = spans_of(&capture, SERVER_STREAM, SpanKind::Client).remove(0);
    // 1 request + 20 replies, 4 recorded on each side.
    assert_eq!(message_events(&server), 4);
    assert_eq!(message_events(&client_span), 4);
    let first = &server.events()[0];
    assert!(
        first
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "rpc.message.type" && kv.value.as_str() == "RECEIVED")
    );

    // Off by default.
    let capture = Capture::new();
    let addr = serve(server_builder(&capture).build()).await;
    let mut client = connect(addr, client_builder(&capture, addr).build()).await;
    let mut request = req("m");
    request.count = 3;
    let mut replies = client.server_stream(request).await.unwrap().into_inner();
    while replies.message().await.unwrap().is_some() {}
    for span in capture.wait_for_spans(2).await {
        assert_eq!(message_events(&span), 0);
    }
}

#[tokio::test]
async fn a_long_stream_ends_its_span_at_the_maximum_and_summarises_the_rest() {
    let capture = Capture::new();
    let addr = serve(
        server_builder(&capture)
            .max_span_duration(Duration::ZERO)
            .build(),
    )
    .await;
    let mut client = connect(
        addr,
        client_builder(&capture, addr)
            .max_span_duration(Duration::ZERO)
            .build(),
    )
    .await;
    let input = futures_util::stream::iter([req("a"), req("b"), req("c")]);
    let mut replies = client.bidi(input).await.unwrap().into_inner();
    let mut n = 0;
    while replies.message().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 3, "the stream itself is untouched");
    capture.wait_for_spans(4).await;
    let summary_name = format!("stream {BIDI}");
    for kind in [SpanKind::Server, SpanKind::Client] {
        let call = spans_of(&capture, BIDI, kind.clone()).remove(0);
        call.assert_attr("stream.truncated", true)
            .assert_not_error();
        let summary = capture
            .find(|s| s.name() == summary_name && s.parent_span_id() == call.span_id())
            .unwrap_or_else(|| panic!("no summary for the {kind:?} span:\n{}", capture.tree()));
        assert_parent(&summary, &call);
        summary
            .assert_kind(SpanKind::Internal)
            .assert_attr("rpc.response.status_code", "OK")
            .assert_attr("rpc.method", BIDI)
            .assert_not_error();
    }
}

#[tokio::test]
async fn a_short_call_under_the_maximum_is_unchanged() {
    let capture = Capture::new();
    let addr = serve(
        server_builder(&capture)
            .max_span_duration(Duration::from_secs(3600))
            .build(),
    )
    .await;
    let mut client = connect(addr, client_builder(&capture, addr).build()).await;
    let mut request = req("m");
    request.count = 3;
    let mut replies = client.server_stream(request).await.unwrap().into_inner();
    while replies.message().await.unwrap().is_some() {}
    let spans = capture.wait_for_spans(2).await;
    assert_eq!(spans.len(), 2);
    for span in spans {
        span.assert_no_attr("stream.truncated")
            .assert_attr("rpc.response.status_code", "OK");
    }
}
