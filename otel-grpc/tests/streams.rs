//! Long and chatty streams: opt-in `rpc.message` events with a cap per
//! call, and the maximum span duration of streaming calls, over loopback.

mod support;

use std::sync::Arc;
use std::time::Duration;

use otel_kit_core::opentelemetry::trace::SpanKind;
use otel_kit_core::testing::{Capture, CapturedSpan, assert_parent};
use support::{
    BIDI, CLIENT_STREAM, EchoRequest, SERVER_STREAM, client_builder, connect, req, serve,
    server_builder,
};
use tokio::sync::Notify;

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

/// `a`, then (once `resume` is notified) `b`: a request stream that sits
/// idle in between.
fn held_requests(resume: Arc<Notify>) -> impl futures_util::Stream<Item = EchoRequest> {
    futures_util::stream::unfold(0u32, move |n| {
        let resume = resume.clone();
        async move {
            match n {
                0 => Some((req("a"), 1)),
                1 => {
                    resume.notified().await;
                    Some((req("b"), 2))
                }
                _ => None,
            }
        }
    })
}

/// Both sides' spans of `method` ended truncated while the call waits.
async fn assert_cut_while_idle(capture: &Capture, method: &str) {
    let cut = capture.wait_for_spans(2).await;
    for kind in [SpanKind::Server, SpanKind::Client] {
        let call = cut
            .iter()
            .find(|s| s.name() == method && s.kind() == kind)
            .unwrap_or_else(|| {
                panic!(
                    "no {kind:?} span before the call ended:\n{}",
                    capture.tree()
                )
            });
        call.assert_attr("stream.truncated", true)
            .assert_not_error();
    }
    assert!(
        capture.spans_named(&format!("stream {method}")).is_empty(),
        "the call goes on"
    );
}

/// Each side's summary of `method`, once the call ended OK.
async fn assert_summaries(capture: &Capture, method: &str) {
    capture.wait_for_spans(4).await;
    let summary_name = format!("stream {method}");
    for kind in [SpanKind::Server, SpanKind::Client] {
        let call = spans_of(capture, method, kind.clone()).remove(0);
        let summary = capture
            .find(|s| s.name() == summary_name && s.parent_span_id() == call.span_id())
            .unwrap_or_else(|| panic!("no summary for the {kind:?} span:\n{}", capture.tree()));
        summary
            .assert_kind(SpanKind::Internal)
            .assert_attr("rpc.response.status_code", "OK")
            .assert_not_error();
    }
}

#[tokio::test]
async fn an_idle_client_streaming_call_is_cut_at_the_maximum() {
    let capture = Capture::new();
    let max = Duration::from_millis(100);
    let addr = serve(server_builder(&capture).max_span_duration(max).build()).await;
    let mut client = connect(
        addr,
        client_builder(&capture, addr)
            .max_span_duration(max)
            .build(),
    )
    .await;
    let resume = Arc::new(Notify::new());
    // The response (and its headers) comes only at the end of the call: no
    // response message flows while it waits for the client's next request.
    let requests = held_requests(resume.clone());
    let call = tokio::spawn(async move { client.client_stream(requests).await });
    assert_cut_while_idle(&capture, CLIENT_STREAM).await;
    resume.notify_one();
    let reply = call.await.unwrap().unwrap().into_inner();
    assert_eq!(reply.message, "a,b", "the call itself is untouched");
    assert_summaries(&capture, CLIENT_STREAM).await;
}

#[tokio::test]
async fn an_idle_bidirectional_call_is_cut_at_the_maximum() {
    let capture = Capture::new();
    let max = Duration::from_millis(100);
    let addr = serve(server_builder(&capture).max_span_duration(max).build()).await;
    let mut client = connect(
        addr,
        client_builder(&capture, addr)
            .max_span_duration(max)
            .build(),
    )
    .await;
    let resume = Arc::new(Notify::new());
    let mut replies = client
        .bidi(held_requests(resume.clone()))
        .await
        .unwrap()
        .into_inner();
    // The application waits on the reply stream, as a long-lived consumer does.
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(reply) = replies.message().await.unwrap() {
            seen.push(reply.message);
        }
        seen
    });
    // After `a`, both response bodies wait for the next message.
    assert_cut_while_idle(&capture, BIDI).await;
    resume.notify_one();
    assert_eq!(
        reader.await.unwrap(),
        ["a", "b"],
        "the call itself is untouched"
    );
    assert_summaries(&capture, BIDI).await;
}
