#![cfg(all(feature = "ws", feature = "tungstenite"))]
//! WebSockets over loopback with real clients: an axum server behind the
//! server layer with `TracedWebSocketUpgrade`, tokio-tungstenite clients
//! (traced and plain), spans and metrics from the in-memory capture.

use std::net::SocketAddr;

use axum::extract::ws::Message;
use axum::routing::get;
use axum::{Extension, Router};
use futures::{SinkExt, StreamExt};
use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use otel_kit_core::opentelemetry_sdk::trace::Sampler;
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_core::testing::{
    Capture, CapturedSpan, assert_linked, assert_parent, assert_root, assert_same_trace,
};
use otel_kit_http::client::UrlTemplate;
use otel_kit_http::server::ServerLayer;
use otel_kit_http::ws::{TracedWebSocketUpgrade, WsInstrumentation, WsInstrumentationBuilder};
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn ws_builder(capture: &Capture) -> WsInstrumentationBuilder {
    WsInstrumentation::builder()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&capture.meter_provider())
        .propagator(TraceContextPropagator::new())
}

/// Echoes text upper-cased; each message's handler makes a `downstream`
/// span (the test's tracer, from the current context); `close-me` makes
/// the server close with 1011; `drop-me` makes it drop the socket.
async fn echo(
    ws: TracedWebSocketUpgrade,
    Extension(capture): Extension<Capture>,
) -> axum::response::Response {
    ws.on_upgrade(move |mut socket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            let tracer = capture.tracer("test");
            if msg.to_text().ok() == Some("via-handle") {
                // `handle`: the handler gets the message by value.
                msg.handle(async |_m| drop(tracer.start("handled"))).await;
                continue;
            }
            let reply = msg
                .in_span(async {
                    let _child = tracer.start("downstream");
                    match &*msg {
                        Message::Text(t) => Some(t.to_uppercase()),
                        _ => None,
                    }
                })
                .await;
            match reply.as_deref() {
                Some("CLOSE-ME") => {
                    let frame = axum::extract::ws::CloseFrame {
                        code: 1011,
                        reason: "server failed".into(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                }
                Some("DROP-ME") => return,
                // Sent inside the received message's span: its child.
                Some(r) if msg.in_span(socket.send(Message::text(r))).await.is_err() => return,
                _ => {}
            }
        }
    })
}

async fn serve(capture: &Capture, ws: WsInstrumentation) -> SocketAddr {
    let app = Router::new()
        .route("/ws", get(echo))
        .layer(Extension(ws))
        .layer(Extension(capture.clone()))
        .layer(
            ServerLayer::builder()
                .tracer_provider(&capture.tracer_provider())
                .meter_provider(&capture.meter_provider())
                .propagator(TraceContextPropagator::new())
                .build(),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn by_kind(spans: &[CapturedSpan], name: &str, kind: SpanKind) -> Vec<CapturedSpan> {
    spans
        .iter()
        .filter(|s| s.name() == name && s.kind() == kind)
        .cloned()
        .collect()
}

#[tokio::test]
async fn upgrade_messages_and_close_make_a_linked_span_tree() {
    let capture = Capture::new();
    let addr = serve(&capture, ws_builder(&capture).build()).await;

    let (mut client, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    for text in ["a", "b", "c"] {
        client.send(TMessage::text(text)).await.unwrap();
        let reply = client.next().await.unwrap().unwrap();
        assert_eq!(reply.into_text().unwrap().as_str(), text.to_uppercase());
    }
    client.send(TMessage::text("via-handle")).await.unwrap();
    client
        .send(TMessage::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await
        .unwrap();
    while client.next().await.is_some() {}

    capture.wait_for_span("close /ws").await;
    let spans = capture.spans();
    let upgrade = capture.span("GET /ws");
    upgrade
        .assert_kind(SpanKind::Server)
        .assert_attr("http.response.status_code", 101)
        .assert_not_error();
    assert_root(&upgrade);

    let received = by_kind(&spans, "receive /ws", SpanKind::Consumer);
    let sent = by_kind(&spans, "send /ws", SpanKind::Producer);
    assert_eq!((received.len(), sent.len()), (4, 3), "{}", capture.tree());
    let handled = capture.span("handled");
    assert_parent(&handled, &received[3]);
    let received = &received[..3];
    // (the handler also ran for the close frame, which has no span)
    let downstream = capture.spans_named("downstream");
    for (i, r) in received.iter().enumerate() {
        assert_root(r);
        assert_linked(r, &upgrade);
        r.assert_attr("websocket.message.type", "text")
            .assert_attr("websocket.message.size", 1)
            .assert_attr("websocket.message.sequence", i as i64 + 1)
            .assert_attr("http.route", "/ws");
        // The handler ran inside the message's span, the reply is sent from
        // the loop after it.
        assert!(downstream.iter().any(|d| d.parent_span_id() == r.span_id()));
    }
    for s in &sent {
        assert_linked(s, &upgrade);
        s.assert_attr("websocket.message.size", 1);
        assert!(
            received.iter().any(|r| r.span_id() == s.parent_span_id()),
            "a reply is a child of the message it answers:\n{}",
            capture.tree()
        );
    }

    let close = capture.span("close /ws");
    close
        .assert_kind(SpanKind::Internal)
        .assert_attr("websocket.close.code", 1000)
        .assert_attr("websocket.close.reason", "bye")
        .assert_attr("websocket.close.initiator", "client")
        .assert_attr("websocket.connection.received_messages", 4)
        .assert_attr("websocket.connection.sent_messages", 3)
        .assert_attr("websocket.connection.untraced_messages", 0)
        .assert_not_error();
    assert_linked(&close, &upgrade);

    let metrics = capture.collect_metrics();
    let route = KeyValue::new("http.route", "/ws");
    metrics.sum_u64("websocket.server.messages").assert_value(
        &[
            route.clone(),
            KeyValue::new("websocket.message.direction", "receive"),
            KeyValue::new("websocket.message.type", "text"),
        ],
        4,
    );
    metrics
        .sum_u64("websocket.server.message.bytes")
        .assert_value(
            &[
                route.clone(),
                KeyValue::new("websocket.message.direction", "send"),
            ],
            3,
        );
    metrics
        .sum_i64("websocket.server.active_connections")
        .assert_value(std::slice::from_ref(&route), 0);
    assert_eq!(
        metrics
            .histogram("websocket.server.connection.duration")
            .point_with(std::slice::from_ref(&route))
            .count,
        1
    );
}

#[tokio::test]
async fn an_abnormal_close_is_an_error() {
    let capture = Capture::new();
    let addr = serve(&capture, ws_builder(&capture).build()).await;

    // The server closes with 1011.
    let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    client.send(TMessage::text("close-me")).await.unwrap();
    while client.next().await.is_some() {}
    let close = capture.wait_for_span("close /ws").await;
    close
        .assert_error()
        .assert_attr("error.type", "1011")
        .assert_attr("websocket.close.code", 1011)
        .assert_attr("websocket.close.reason", "server failed")
        .assert_attr("websocket.close.initiator", "server");
    capture.clear();

    // The client goes away without a close frame: 1006, by the client.
    let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    client.send(TMessage::text("x")).await.unwrap();
    let _ = client.next().await;
    drop(client);
    let close = capture.wait_for_span("close /ws").await;
    close
        .assert_error()
        .assert_attr("websocket.close.initiator", "client")
        .assert_attr("websocket.connection.received_messages", 1);
    assert!(
        matches!(close.attr_i64("websocket.close.code"), Some(1006)),
        "{close:?}"
    );
    capture.clear();

    // The server handler drops the socket without a close.
    let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    client.send(TMessage::text("drop-me")).await.unwrap();
    while client.next().await.is_some() {}
    let close = capture.wait_for_span("close /ws").await;
    close
        .assert_error()
        .assert_attr("error.type", "1006")
        .assert_attr("websocket.close.initiator", "server");
}

#[tokio::test]
async fn traced_client_joins_the_server_message_spans() {
    let capture = Capture::new();
    let ws = ws_builder(&capture).build();
    let addr = serve(&capture, ws.clone()).await;

    let tracer = capture.tracer("test");
    let outer = tracer.start("session");
    let cx = otel_kit_core::opentelemetry::Context::current_with_span(outer);
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.extensions_mut().insert(UrlTemplate("/ws".into()));
    let (mut client, _) = ws
        .connect_async(request)
        .with_context(cx.clone())
        .await
        .unwrap();
    client.send(TMessage::text("hello")).await.unwrap();
    let reply = client.recv().await.unwrap().unwrap();
    assert_eq!(reply.to_text().unwrap(), "HELLO");
    drop(reply);
    client.send(TMessage::Close(None)).await.unwrap();
    while client.recv().await.is_some() {}
    cx.span().end();

    // session, 2 upgrades, 2 sends, 2 receives, 1 downstream, 2 closes.
    let spans = capture.wait_for_spans(10).await;
    let client_upgrade_span = spans
        .iter()
        .find(|s| s.name() == "GET /ws" && s.kind() == SpanKind::Client)
        .cloned()
        .expect("client upgrade span");
    client_upgrade_span
        .assert_attr("http.response.status_code", 101)
        .assert_attr("url.template", "/ws")
        .assert_not_error();
    let session = capture.span("session");
    assert_parent(&client_upgrade_span, &session);

    let server_upgrade = spans
        .iter()
        .find(|s| s.kind() == SpanKind::Server)
        .cloned()
        .expect("server upgrade span");
    assert_parent(&server_upgrade, &client_upgrade_span);

    // Client send -> server receive: both linked to upgrade spans of the
    // same trace, the session's.
    let client_send = by_kind(&spans, "send /ws", SpanKind::Producer)
        .into_iter()
        .find(|s| s.attr_str("url.template").is_some())
        .expect("client send span");
    assert_linked(&client_send, &client_upgrade_span);
    let server_receive = by_kind(&spans, "receive /ws", SpanKind::Consumer)
        .into_iter()
        .find(|s| s.attr_str("http.route").is_some())
        .expect("server receive span");
    assert_linked(&server_receive, &server_upgrade);
    assert_same_trace(&server_upgrade, &session);
    let client_receive = by_kind(&spans, "receive /ws", SpanKind::Consumer)
        .into_iter()
        .find(|s| s.attr_str("url.template").is_some())
        .expect("client receive span");
    assert_linked(&client_receive, &client_upgrade_span);
    let client_close = spans
        .iter()
        .find(|s| s.name() == "close /ws" && s.attr_str("url.template").is_some())
        .expect("client close span");
    client_close
        .assert_attr("websocket.close.initiator", "client")
        .assert_attr("websocket.close.code", 1005)
        .assert_not_error();
}

#[tokio::test]
async fn rate_limit_and_sampling_bound_message_spans() {
    // Parent-based, as deployments sample: what an untraced message's
    // handler calls follows the unsampled context it runs in.
    let capture = Capture::builder()
        .sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .build();
    let clock = otel_kit_core::clock::ManualClock::new();
    let addr = serve(
        &capture,
        ws_builder(&capture)
            .max_message_spans_per_second(5)
            .clock(clock.clone())
            .build(),
    )
    .await;
    let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    for _ in 0..20 {
        client.send(TMessage::text("m")).await.unwrap();
        client.next().await.unwrap().unwrap();
    }
    client.send(TMessage::Close(None)).await.unwrap();
    while client.next().await.is_some() {}
    let close = capture.wait_for_span("close /ws").await;
    // The clock stands still: 5 tokens for 40 data messages (20 each way).
    close
        .assert_attr("websocket.connection.received_messages", 20)
        .assert_attr("websocket.connection.untraced_messages", 35);
    let message_spans = capture.find_all(|s| s.name() == "receive /ws" || s.name() == "send /ws");
    assert_eq!(message_spans.len(), 5);
    // Untraced messages' handlers ran in an unsampled context: their
    // downstream spans were not sampled.
    // Tokens go receive, send, receive, send, receive: 3 traced handlers.
    let traced_receives = capture.spans_named("receive /ws");
    assert_eq!(traced_receives.len(), 3);
    let downstream = capture.spans_named("downstream");
    assert_eq!(downstream.len(), 3);
    for d in &downstream {
        assert!(
            traced_receives
                .iter()
                .any(|r| r.span_id() == d.parent_span_id())
        );
    }
    capture.clear();

    let addr = serve(&capture, ws_builder(&capture).message_sampling(0.0).build()).await;
    let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    client.send(TMessage::text("m")).await.unwrap();
    client.next().await.unwrap().unwrap();
    client.send(TMessage::Close(None)).await.unwrap();
    while client.next().await.is_some() {}
    capture
        .wait_for_span("close /ws")
        .await
        .assert_attr("websocket.connection.untraced_messages", 2);
    assert!(capture.spans_named("receive /ws").is_empty());
}

#[tokio::test]
async fn a_split_socket_records_into_one_connection() {
    let capture = Capture::new();
    let ws = ws_builder(&capture).build();
    let addr = serve(&capture, ws.clone()).await;
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.extensions_mut().insert(UrlTemplate("/ws".into()));
    let (socket, _) = ws.connect_async(request).await.unwrap();
    let (mut sender, mut receiver) = socket.split();
    let writer = tokio::spawn(async move {
        for text in ["a", "b", "c"] {
            sender.send(TMessage::text(text)).await.unwrap();
        }
        sender
    });
    let mut replies = Vec::new();
    for _ in 0..3 {
        let reply = receiver.recv().await.unwrap().unwrap();
        replies.push(reply.to_text().unwrap().to_owned());
    }
    assert_eq!(replies, ["A", "B", "C"]);
    let mut sender = writer.await.unwrap();
    sender.send(TMessage::Close(None)).await.unwrap();
    while receiver.recv().await.is_some() {}
    drop((sender, receiver));

    let spans = capture.wait_for_spans(12).await;
    let client = |name: &str| {
        spans
            .iter()
            .filter(|s| s.name() == name && s.attr_str("url.template").is_some())
            .count()
    };
    assert_eq!((client("send /ws"), client("receive /ws")), (3, 3));
    let closes: Vec<_> = spans
        .iter()
        .filter(|s| s.name() == "close /ws" && s.attr_str("url.template").is_some())
        .collect();
    assert_eq!(closes.len(), 1, "{}", capture.tree());
    closes[0]
        .assert_attr("websocket.close.initiator", "client")
        .assert_attr("websocket.connection.sent_messages", 3)
        .assert_attr("websocket.connection.received_messages", 3)
        .assert_not_error();
}

#[tokio::test]
async fn a_traceparent_in_the_message_continues_the_senders_trace() {
    let capture = Capture::new();
    let addr = serve(
        &capture,
        ws_builder(&capture).trace_context_in_messages(true).build(),
    )
    .await;
    let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();

    let tracer = capture.tracer("test");
    let cx = otel_kit_core::opentelemetry::Context::current_with_span(tracer.start("sender"));
    let tp = otel_kit_http::ws::envelope_traceparent(&cx).unwrap();
    client
        .send(TMessage::text(format!(
            r#"{{"traceparent": "{tp}", "n": 1}}"#
        )))
        .await
        .unwrap();
    client.next().await.unwrap().unwrap();
    // Without an envelope (or a broken one): a new root, as usual.
    client
        .send(TMessage::text(r#"{"traceparent": "00-bad"}"#))
        .await
        .unwrap();
    client.next().await.unwrap().unwrap();
    client.send(TMessage::Close(None)).await.unwrap();
    while client.next().await.is_some() {}
    cx.span().end();

    capture.wait_for_span("close /ws").await;
    let sender = capture.span("sender");
    let upgrade = capture.span("GET /ws");
    let received = capture.spans_named("receive /ws");
    assert_eq!(received.len(), 2);
    let (with, without) = match received[0].attr_i64("websocket.message.sequence") {
        Some(1) => (&received[0], &received[1]),
        _ => (&received[1], &received[0]),
    };
    assert_parent(with, &sender);
    assert_linked(with, &upgrade);
    assert_root(without);
    assert_linked(without, &upgrade);
}

/// The traced client's handshake is an HTTP client request in the metrics:
/// `http.client.request.duration` with the status, or `error.type` when the
/// server refuses the upgrade.
#[tokio::test]
async fn the_client_handshake_records_the_http_client_duration() {
    let capture = Capture::new();
    let ws = ws_builder(&capture).build();
    let addr = serve(&capture, ws.clone()).await;

    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.extensions_mut().insert(UrlTemplate("/ws".into()));
    let (mut client, _) = ws.connect_async(request).await.unwrap();
    client.send(TMessage::Close(None)).await.unwrap();
    while client.recv().await.is_some() {}
    let refused = ws
        .connect_async(format!("ws://{addr}/missing"))
        .await
        .expect_err("no WebSocket route there");
    assert!(
        matches!(refused, tokio_tungstenite::tungstenite::Error::Http(_)),
        "{refused}"
    );
    let refused_span = capture
        .find(|s| {
            s.kind() == SpanKind::Client && s.attr_i64("http.response.status_code") == Some(404)
        })
        .expect("the refused handshake's span");
    refused_span.assert_attr("error.type", "404").assert_error();

    let port = i64::from(addr.port());
    let metrics = capture.collect_metrics();
    let duration = metrics.histogram("http.client.request.duration");
    duration.assert_count(
        &[
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("server.address", "127.0.0.1"),
            KeyValue::new("server.port", port),
            KeyValue::new("url.template", "/ws"),
            KeyValue::new("http.response.status_code", 101),
        ],
        1,
    );
    duration.assert_count(
        &[
            KeyValue::new("server.port", port),
            KeyValue::new("http.response.status_code", 404),
            KeyValue::new("error.type", "404"),
        ],
        1,
    );
    let ok = duration.point_with(&[KeyValue::new("http.response.status_code", 101)]);
    assert!(
        !ok.attributes
            .iter()
            .any(|kv| kv.key.as_str() == "error.type"),
        "a completed handshake is not an error"
    );
}
