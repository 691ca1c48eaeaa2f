//! The `http-server` example's long-lived endpoints, run as a process
//! exporting to a collector: `/sse` (10 events, 100 ms apart, under a
//! 500 ms stream policy) ends its request span truncated and records the
//! rest in a `stream /sse` span; `/ws` echoes each text message upper-cased
//! after one traced call downstream, so each `receive /ws` span has a
//! client child, linked to the upgrade's `GET /ws` span, and the close is
//! one more span.

#![cfg(unix)]

mod support;
use support::{free_port, get, sigterm_and_wait};

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use otel_tests::collector::{Collector, ReceivedSpan};
use tokio_tungstenite::tungstenite::Message;

// OTLP span kinds.
const INTERNAL: i32 = 1;
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;
const STATUS_ERROR: i32 = 2;

fn start(addr: &str, collector: &Collector) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_http-server"))
        .env("LISTEN_ADDR", addr)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc_endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("OTEL_METRICS_EXPORTER", "none")
        .env("OTEL_LOGS_EXPORTER", "none")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("DOWNSTREAM_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the http-server example");
    // `/health` is filtered out of the traces: a readiness probe.
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(addr, "/health").is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not answer on {addr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// SIGTERM, and the exit of a graceful stop (the spans flushed).
fn stop(mut child: Child) {
    let exit = sigterm_and_wait(&mut child);
    assert!(exit.success(), "exit after SIGTERM: {exit:?}");
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn one<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "one `{name}` span in {:?}", names(spans));
    found[0]
}

fn names(spans: &[ReceivedSpan]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

fn child_of<'a>(spans: &'a [ReceivedSpan], parent: &ReceivedSpan, kind: i32) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.parent_span_id == parent.span_id && s.kind == kind)
        .unwrap_or_else(|| {
            panic!(
                "no child of kind {kind} under `{}` in {:?}",
                parent.name,
                names(spans)
            )
        })
}

#[tokio::test]
async fn sse_and_websocket_endpoints_make_bounded_linked_traces() {
    let collector = Collector::start();
    let addr = format!("127.0.0.1:{}", free_port());
    let child = start(&addr, &collector);

    // Server-sent events: the whole stream arrives, untouched by the policy.
    let sse = get(&addr, "/sse").expect("GET /sse");
    assert!(sse.starts_with("HTTP/1.1 200"), "{sse}");
    assert_eq!(sse.matches("data: event").count(), 10, "{sse}");

    // The WebSocket: two messages echoed upper-cased, then a normal close.
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .expect("the WebSocket handshake");
    for text in ["hello", "again"] {
        socket.send(Message::text(text)).await.expect("send");
        let reply = socket.next().await.expect("a reply").expect("a frame");
        assert_eq!(reply.to_text().unwrap(), text.to_uppercase());
    }
    socket.close(None).await.expect("close");
    while let Some(Ok(_)) = socket.next().await {}

    stop(child);
    // GET /sse, stream /sse, GET /ws, 2 receive, 2 send, 2 downstream
    // CLIENT + 2 SERVER (and their `load_user`), close.
    let spans = collector.wait_for_spans(13, Duration::from_secs(20));

    let request = one(&spans, "GET /sse");
    assert_eq!(request.kind, SERVER);
    assert_eq!(request.attr_bool("stream.truncated"), Some(true));
    assert_eq!(request.attr_i64("http.response.status_code"), Some(200));
    let summary = one(&spans, "stream /sse");
    assert_eq!(summary.kind, INTERNAL);
    assert_eq!(summary.parent_span_id, request.span_id);
    assert_eq!(summary.attr_i64("stream.frames"), Some(10));
    assert!(
        request.end_time_unix_nano <= summary.start_time_unix_nano,
        "the summary starts where the request span ended"
    );

    let upgrade = one(&spans, "GET /ws");
    assert_eq!(upgrade.kind, SERVER);
    assert_eq!(upgrade.attr_i64("http.response.status_code"), Some(101));
    assert_ne!(upgrade.status_code, STATUS_ERROR, "101 is no error");
    let linked = |s: &ReceivedSpan| s.links.iter().any(|l| l.span_id == upgrade.span_id);

    let received = named(&spans, "receive /ws");
    assert_eq!(received.len(), 2, "{:?}", names(&spans));
    for receive in received {
        assert_eq!(receive.kind, CONSUMER);
        assert!(linked(receive), "`receive /ws` links to the upgrade span");
        // The handler's downstream call is the message span's child, and
        // the downstream server continues it.
        let call = child_of(&spans, receive, CLIENT);
        let served = child_of(&spans, call, SERVER);
        assert_eq!(served.name, "GET /users/{id}");
        let send = child_of(&spans, receive, PRODUCER);
        assert_eq!(send.name, "send /ws");
    }

    let close = one(&spans, "close /ws");
    assert!(linked(close), "`close /ws` links to the upgrade span");
    assert_eq!(close.attr_str("websocket.close.initiator"), Some("client"));
    assert_eq!(
        close.attr_i64("websocket.connection.received_messages"),
        Some(2)
    );
    assert_ne!(close.status_code, STATUS_ERROR, "a normal close");
}
