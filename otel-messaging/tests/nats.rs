//! NATS core and JetStream against the real server on 127.0.0.1:4222.
#![cfg(feature = "nats")]

mod common;

use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::stream;
use async_nats::{HeaderMap, HeaderValue};
use bytes::Bytes;
use common::{DELIVERY_WAIT, TRACEPARENT, builder, capture, instrumentation, nats_url, unique};
use futures_util::StreamExt;
use otel_kit_core::opentelemetry::baggage::BaggageExt;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::propagation::TextMapCompositePropagator;
use otel_kit_core::opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::propagation::{B3Propagator, BaggagePropagator, TraceContextPropagator};
use otel_kit_core::testing::{assert_linked, assert_parent, assert_root, assert_same_trace};
use otel_kit_messaging::ProcessMode;
use otel_kit_messaging::nats::{NatsHeaderExtractor, TracedClient, TracedJetStream};

async fn connect() -> async_nats::Client {
    async_nats::connect(nats_url())
        .await
        .expect("NATS server on 127.0.0.1:4222 (see TEST_INFRA.md)")
}

async fn next<S: futures_util::Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(DELIVERY_WAIT, s.next())
        .await
        .expect("message delivered in time")
        .expect("stream open")
}

#[tokio::test]
async fn publish_and_process_link_mode_by_default() {
    let capture = capture();
    let client = TracedClient::new(connect().await, instrumentation(&capture));
    let subject = unique("t.link");
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.client().flush().await.unwrap();

    let payload = Bytes::from_static(b"hello \x00\xff bytes");
    client
        .publish(subject.clone(), payload.clone())
        .await
        .unwrap();
    let delivered = next(&mut sub).await;
    // The payload is untouched; only trace headers were added.
    assert_eq!(delivered.payload, payload);
    let headers = delivered.headers.clone().unwrap();
    assert!(headers.get("traceparent").is_some());
    delivered.end();

    let send = capture.span(&format!("publish {subject}"));
    send.assert_kind(SpanKind::Producer)
        .assert_attr("messaging.system", "nats")
        .assert_attr("messaging.operation.name", "publish")
        .assert_attr("messaging.operation.type", "send")
        .assert_attr("messaging.destination.name", subject.as_str())
        .assert_attr("messaging.message.body.size", payload.len() as i64)
        .assert_attr("server.port", 4222i64);
    let process = capture.span(&format!("process {subject}"));
    process
        .assert_kind(SpanKind::Consumer)
        .assert_attr("messaging.operation.type", "process")
        .assert_attr("messaging.destination.name", subject.as_str());
    assert_root(&process);
    assert_linked(&process, &send);

    let metrics = capture.collect_metrics();
    let dest = KeyValue::new("messaging.destination.name", subject.clone());
    metrics
        .sum_u64("messaging.client.sent.messages")
        .assert_value(
            &[dest.clone(), KeyValue::new("messaging.system", "nats")],
            1,
        );
    metrics
        .sum_u64("messaging.client.consumed.messages")
        .assert_value(std::slice::from_ref(&dest), 1);
    metrics
        .histogram("messaging.client.operation.duration")
        .assert_count(
            &[
                dest.clone(),
                KeyValue::new("messaging.operation.name", "publish"),
            ],
            1,
        );
    metrics
        .histogram("messaging.process.duration")
        .assert_count(&[dest], 1);
}

#[tokio::test]
async fn parent_mode_makes_one_tree_and_nested_spans_are_children() {
    let capture = capture();
    let client = TracedClient::new(
        connect().await,
        builder(&capture).process_mode(ProcessMode::Parent).build(),
    );
    let subject = unique("t.parent");
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.client().flush().await.unwrap();
    client
        .publish(subject.clone(), Bytes::from_static(b"x"))
        .await
        .unwrap();
    let delivered = next(&mut sub).await;
    let tracer = capture.tracer("handler");
    async {
        let _span = tracer.start("handle");
    }
    .with_context(delivered.context().clone())
    .await;
    delivered.end();

    let send = capture.span(&format!("publish {subject}"));
    let process = capture.span(&format!("process {subject}"));
    assert_parent(&process, &send);
    assert_parent(&capture.span("handle"), &process);
    assert_same_trace(&process, &send);
}

#[tokio::test]
async fn wildcard_queue_subscription_records_template_and_group() {
    let capture = capture();
    let client = TracedClient::new(connect().await, instrumentation(&capture));
    let base = unique("t.wild");
    let template = format!("{base}.*");
    let mut sub = client
        .queue_subscribe(template.clone(), "workers".to_owned())
        .await
        .unwrap();
    client.client().flush().await.unwrap();
    let subject = format!("{base}.orders");
    client
        .publish(subject.clone(), Bytes::from_static(b"x"))
        .await
        .unwrap();
    next(&mut sub).await.end();

    let process = capture.span(&format!("process {template}"));
    process
        .assert_attr("messaging.destination.template", template.as_str())
        .assert_attr("messaging.destination.name", subject.as_str())
        .assert_attr("messaging.consumer.group.name", "workers");
    capture
        .collect_metrics()
        .sum_u64("messaging.client.consumed.messages")
        .assert_value(
            &[
                KeyValue::new("messaging.destination.template", template.clone()),
                KeyValue::new("messaging.consumer.group.name", "workers"),
            ],
            1,
        );
}

#[tokio::test]
async fn request_reply_is_traced_on_both_sides() {
    let capture = capture();
    let client = TracedClient::new(
        connect().await,
        builder(&capture).process_mode(ProcessMode::Parent).build(),
    );
    let subject = unique("t.req");
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.client().flush().await.unwrap();
    let responder = client.clone();
    let server = tokio::spawn(async move {
        let request = next(&mut sub).await;
        let cx = request.context().clone();
        responder
            .respond(&request, Bytes::from_static(b"pong"))
            .with_context(cx)
            .await
            .unwrap();
        request.end();
    });
    let reply = client
        .request(subject.clone(), Bytes::from_static(b"ping"))
        .await
        .unwrap();
    assert_eq!(reply.payload, Bytes::from_static(b"pong"));
    server.await.unwrap();

    let request = capture.span(&format!("request {subject}"));
    request
        .assert_kind(SpanKind::Client)
        .assert_attr("messaging.operation.type", "send");
    let process = capture.span(&format!("process {subject}"));
    assert_parent(&process, &request);
    // The reply goes to a temporary _INBOX subject: not in the span name.
    let reply_span = capture
        .find(|s| s.attr_bool("messaging.destination.temporary") == Some(true))
        .expect("reply span");
    assert!(
        !reply_span.name().contains("_INBOX"),
        "{}",
        reply_span.name()
    );
    assert!(
        reply_span
            .attr_str("messaging.destination.name")
            .unwrap()
            .starts_with("_INBOX.")
    );
    assert_parent(&reply_span, &process);
}

#[tokio::test]
async fn malformed_binary_oversized_and_missing_headers_never_block_delivery() {
    let capture = capture();
    let client = TracedClient::new(connect().await, instrumentation(&capture));
    let subject = unique("t.bad");
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.client().flush().await.unwrap();
    let raw = client.client();

    let mut bad = HeaderMap::new();
    bad.insert("traceparent", "00-zzzz-not-a-trace-01");
    bad.append("traceparent", "garbage");
    bad.insert("tracestate", "x".repeat(100_000).as_str());
    bad.insert("x-binary", HeaderValue::from("\u{fffd}\u{1}\u{7f}é"));
    raw.publish_with_headers(subject.clone(), bad, Bytes::from_static(b"one"))
        .await
        .unwrap();
    let mut huge = HeaderMap::new();
    huge.insert(
        "traceparent",
        format!("{TRACEPARENT}{}", "0".repeat(20_000)).as_str(),
    );
    raw.publish_with_headers(subject.clone(), huge, Bytes::from_static(b"two"))
        .await
        .unwrap();
    raw.publish(subject.clone(), Bytes::from_static(b"three"))
        .await
        .unwrap();

    for expected in [&b"one"[..], b"two", b"three"] {
        let d = next(&mut sub).await;
        assert_eq!(&d.payload[..], expected);
        d.end();
    }
    let spans = capture.spans_named(&format!("process {subject}"));
    assert_eq!(spans.len(), 3);
    for s in &spans {
        assert_root(s);
        assert!(s.links().is_empty(), "no link from a bad context");
    }
}

#[test]
fn duplicate_headers_are_all_exposed_and_never_panic() {
    use otel_kit_core::opentelemetry::propagation::Extractor;
    common::propagator();
    let mut headers = HeaderMap::new();
    headers.insert("TraceParent", "bad");
    headers.append("TraceParent", TRACEPARENT);
    let extractor = NatsHeaderExtractor(&headers);
    assert_eq!(extractor.get("traceparent"), Some(TRACEPARENT));
    assert_eq!(extractor.get_all("traceparent").unwrap().len(), 2);
    // W3C: a repeated traceparent is invalid, so the message starts a new
    // trace (and is still processed).
    let cx = otel_kit_core::propagation::extract_with(
        &otel_kit_core::opentelemetry::Context::new(),
        &extractor,
    );
    assert!(!cx.span().span_context().is_valid());

    let mut single = HeaderMap::new();
    single.insert("TRACEPARENT", TRACEPARENT);
    let cx = otel_kit_core::propagation::extract_with(
        &otel_kit_core::opentelemetry::Context::new(),
        &NatsHeaderExtractor(&single),
    );
    assert!(
        cx.span().span_context().is_valid(),
        "names match case-insensitively"
    );
}

#[tokio::test]
async fn propagation_toggle_and_header_capture() {
    let capture = capture();
    let client = TracedClient::new(
        connect().await,
        builder(&capture)
            .propagate(false)
            .capture_request_headers(["X-Tenant"])
            .build(),
    );
    let subject = unique("t.noprop");
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.client().flush().await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-tenant", "acme");
    client
        .publish_with_headers(subject.clone(), headers, Bytes::from_static(b"x"))
        .await
        .unwrap();
    let d = next(&mut sub).await;
    let received = d.headers.clone().unwrap();
    assert!(received.get("traceparent").is_none());
    assert_eq!(received.get("x-tenant").unwrap().as_str(), "acme");
    d.end();

    let send = capture.span(&format!("publish {subject}"));
    let process = capture.span(&format!("process {subject}"));
    assert!(process.links().is_empty());
    assert_ne!(process.trace_id(), send.trace_id());
    assert!(process.has_attr("messaging.header.x-tenant"));
    assert!(send.has_attr("messaging.header.x-tenant"));
}

#[tokio::test]
async fn jetstream_publish_ack_and_settle_spans() {
    let capture = capture();
    let js = TracedJetStream::new(
        async_nats::jetstream::new(connect().await),
        instrumentation(&capture),
    );
    let name = unique("JS").replace('-', "_");
    let subject = format!("{name}.events");
    js.context()
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            storage: stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .unwrap();

    for body in [&b"a"[..], b"b", b"c"] {
        js.publish(subject.clone(), Bytes::copy_from_slice(body))
            .await
            .unwrap();
    }
    let sends = capture.spans_named(&format!("publish {subject}"));
    assert_eq!(sends.len(), 3);
    sends[0]
        .assert_attr("messaging.nats.stream.name", name.as_str())
        .assert_kind(SpanKind::Producer);
    assert!(
        sends
            .iter()
            .any(|s| s.attr_i64("messaging.nats.stream.sequence") == Some(1))
    );

    let consumer = js
        .context()
        .get_stream(&name)
        .await
        .unwrap()
        .create_consumer(pull::Config {
            durable_name: Some("worker".to_owned()),
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = js.messages(consumer.messages().await.unwrap());
    let first = next(&mut messages).await.unwrap();
    first.ack().await.unwrap();
    first.end();
    let second = next(&mut messages).await.unwrap();
    second.term().await.unwrap();
    second.end();
    let third = next(&mut messages).await.unwrap();
    third.nak(Some(Duration::from_secs(60))).await.unwrap();
    third.end();

    let processes = capture.spans_named(&format!("process {subject}"));
    assert_eq!(processes.len(), 3);
    for p in &processes {
        p.assert_attr("messaging.consumer.group.name", "worker")
            .assert_attr("messaging.nats.stream.name", name.as_str());
        assert!(sends.iter().any(|s| p.is_linked_to(s)));
    }
    for op in ["ack", "term", "nak"] {
        let settle = capture.span(&format!("{op} {subject}"));
        settle
            .assert_kind(SpanKind::Client)
            .assert_attr("messaging.operation.type", "settle")
            .assert_attr("messaging.operation.name", op);
        assert!(
            processes
                .iter()
                .any(|p| p.span_id() == settle.parent_span_id())
        );
    }
    let metrics = capture.collect_metrics();
    let durations = metrics.histogram("messaging.client.operation.duration");
    for op in ["ack", "term", "nak"] {
        durations.assert_count(
            &[
                KeyValue::new("messaging.operation.type", "settle"),
                KeyValue::new("messaging.operation.name", op),
                KeyValue::new("messaging.destination.name", subject.clone()),
            ],
            1,
        );
    }
    js.context().delete_stream(&name).await.unwrap();
}

#[tokio::test]
async fn process_runs_the_responder_inside_the_span_and_ends_it_with_the_outcome() {
    let capture = capture();
    let client = TracedClient::new(connect().await, instrumentation(&capture));
    let subject = unique("t.handler");
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.client().flush().await.unwrap();
    let responder = client.clone();
    let server = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            let request = next(&mut sub).await;
            let outcome = request
                .process(async |request| {
                    if request.payload.as_ref() == b"bad" {
                        return Err(std::io::Error::other("refused"));
                    }
                    // No context named: the reply's span is a child of
                    // the process span.
                    responder
                        .respond(request, Bytes::from_static(b"pong"))
                        .await
                        .map_err(std::io::Error::other)
                })
                .await;
            outcomes.push(outcome.map_err(|e| e.to_string()));
        }
        outcomes
    });
    let reply = client
        .request(subject.clone(), Bytes::from_static(b"ping"))
        .await
        .unwrap();
    assert_eq!(reply.payload, Bytes::from_static(b"pong"));
    client
        .publish(subject.clone(), Bytes::from_static(b"bad"))
        .await
        .unwrap();
    assert_eq!(
        server.await.unwrap(),
        vec![Ok(true), Err("refused".to_owned())]
    );

    let processes = capture.spans_named(&format!("process {subject}"));
    assert_eq!(processes.len(), 2);
    let reply_span = capture
        .find(|s| s.attr_bool("messaging.destination.temporary") == Some(true))
        .expect("reply span");
    assert_parent(&reply_span, &processes[0]);
    processes[0].assert_not_error();
    processes[1]
        .assert_error()
        .assert_attr("error.type", "std::io::error::Error");
}

#[tokio::test]
async fn jetstream_fetch_acks_inside_the_process_span() {
    let capture = capture();
    let js = TracedJetStream::new(
        async_nats::jetstream::new(connect().await),
        instrumentation(&capture),
    );
    let name = unique("JSH").replace('-', "_");
    let subject = format!("{name}.events");
    let stream = js
        .context()
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            storage: stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .unwrap();
    for body in [&b"a"[..], b"b"] {
        js.publish(subject.clone(), Bytes::copy_from_slice(body))
            .await
            .unwrap();
    }
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("handler".to_owned()),
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .unwrap();
    let tracer = capture.tracer("handler");
    let received = js
        .fetch(
            consumer
                .batch()
                .max_messages(2)
                .expires(DELIVERY_WAIT)
                .messages(),
        )
        .await
        .unwrap();
    assert_eq!(received.len(), 2);
    for message in received {
        message
            .process(async |message| {
                let _handle = tracer.start("handle");
                message.ack().await
            })
            .await
            .unwrap();
    }
    let processes = capture.spans_named(&format!("process {subject}"));
    assert_eq!(processes.len(), 2);
    let acks = capture.spans_named(&format!("ack {subject}"));
    let handles = capture.spans_named("handle");
    for process in &processes {
        process.assert_not_error();
        assert!(acks.iter().any(|a| a.parent_span_id() == process.span_id()));
        assert!(
            handles
                .iter()
                .any(|h| h.parent_span_id() == process.span_id())
        );
    }
    // Acked inside the span: nothing is left to redeliver.
    let info = js
        .context()
        .get_stream(&name)
        .await
        .unwrap()
        .get_consumer::<pull::Config>("handler")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.num_ack_pending, 0);
    js.context().delete_stream(&name).await.unwrap();
}

#[tokio::test]
async fn ambient_span_is_parent_in_link_mode_and_linked_in_parent_mode() {
    for mode in [ProcessMode::Link, ProcessMode::Parent] {
        let capture = capture();
        let client = TracedClient::new(
            connect().await,
            builder(&capture).process_mode(mode).build(),
        );
        let subject = unique("t.ambient");
        let mut sub = client.subscribe(subject.clone()).await.unwrap();
        client.client().flush().await.unwrap();
        client
            .publish(subject.clone(), Bytes::from_static(b"x"))
            .await
            .unwrap();
        let tracer = capture.tracer("app");
        let ambient =
            otel_kit_core::opentelemetry::Context::current_with_span(tracer.start("worker loop"));
        let delivered = next(&mut sub).with_context(ambient.clone()).await;
        delivered.end();
        ambient.span().end();

        let send = capture.span(&format!("publish {subject}"));
        let process = capture.span(&format!("process {subject}"));
        let worker = capture.span("worker loop");
        match mode {
            ProcessMode::Link => {
                assert_parent(&process, &worker);
                assert_linked(&process, &send);
            }
            ProcessMode::Parent => {
                assert_parent(&process, &send);
                assert_linked(&process, &worker);
            }
        }
    }
}

fn outbound(subject: &str, payload: &'static [u8]) -> async_nats::message::OutboundMessage {
    async_nats::message::OutboundMessage {
        subject: subject.into(),
        reply: None,
        payload: Bytes::from_static(payload),
        headers: None,
    }
}

#[tokio::test]
async fn publish_batch_makes_create_spans_and_one_client_publish_span() {
    let capture = capture();
    let client = TracedClient::new(connect().await, instrumentation(&capture));
    let subject = unique("t.batch");
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.client().flush().await.unwrap();

    let mut user = outbound(&subject, b"user context");
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", TRACEPARENT);
    user.headers = Some(headers);
    let mut with_reply = outbound(&subject, b"reply");
    with_reply.reply = Some(format!("{subject}.reply").into());
    client
        .publish_batch(vec![outbound(&subject, b"plain"), with_reply, user])
        .await
        .unwrap();
    let mut delivered = Vec::new();
    for _ in 0..3 {
        delivered.push(next(&mut sub).await);
    }
    assert!(delivered.iter().any(|d| d.reply.is_some()));
    // The user's context was not overwritten.
    assert!(delivered.iter().any(|d| {
        d.headers
            .as_ref()
            .and_then(|h| h.get("traceparent"))
            .map(|v| v.as_str())
            == Some(TRACEPARENT)
    }));
    drop(delivered);

    let creates = capture.spans_named(&format!("create {subject}"));
    assert_eq!(creates.len(), 2, "{}", capture.tree());
    for create in &creates {
        create
            .assert_kind(SpanKind::Producer)
            .assert_attr("messaging.operation.type", "create")
            .assert_attr("messaging.destination.name", subject.as_str());
    }
    let publish = capture.span(&format!("publish {subject}"));
    publish
        .assert_kind(SpanKind::Client)
        .assert_attr("messaging.operation.type", "send")
        .assert_attr("messaging.batch.message_count", 3i64)
        .assert_no_attr("messaging.message.body.size");
    assert_eq!(publish.links().len(), 3);
    // Each message's process span links to that message's creation context.
    let processes = capture.spans_named(&format!("process {subject}"));
    assert_eq!(processes.len(), 3);
    for create in &creates {
        assert_linked(&publish, create);
        assert_eq!(
            processes.iter().filter(|p| p.is_linked_to(create)).count(),
            1
        );
    }
    let metrics = capture.collect_metrics();
    metrics
        .sum_u64("messaging.client.sent.messages")
        .assert_value(
            &[
                KeyValue::new("messaging.destination.name", subject.clone()),
                KeyValue::new("messaging.operation.name", "publish"),
            ],
            3,
        );
}

#[tokio::test]
async fn jetstream_batch_publish_fetch_receive_and_settle() {
    let capture = capture();
    let client = TracedClient::new(connect().await, instrumentation(&capture));
    let js = client.jetstream();
    let name = unique("JSB").replace('-', "_");
    let subject = format!("{name}.events");
    js.context()
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            storage: stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .unwrap();

    let acks = js
        .publish_batch(vec![
            outbound(&subject, b"a"),
            outbound(&subject, b"b"),
            outbound(&subject, b"c"),
        ])
        .await;
    let sequences: Vec<u64> = acks.into_iter().map(|a| a.unwrap().sequence).collect();
    assert_eq!(sequences, [1, 2, 3]);
    let creates = capture.spans_named(&format!("create {subject}"));
    assert_eq!(creates.len(), 3);
    let publish = capture.span(&format!("publish {subject}"));
    publish
        .assert_kind(SpanKind::Client)
        .assert_attr("messaging.batch.message_count", 3i64)
        .assert_attr("messaging.nats.stream.name", name.as_str());
    for create in &creates {
        assert_linked(&publish, create);
    }

    let consumer = js
        .context()
        .get_stream(&name)
        .await
        .unwrap()
        .create_consumer(pull::Config {
            durable_name: Some("puller".to_owned()),
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .unwrap();
    let received = js
        .fetch(
            consumer
                .batch()
                .max_messages(3)
                .expires(DELIVERY_WAIT)
                .messages(),
        )
        .await
        .unwrap();
    assert_eq!(received.len(), 3);
    let receive = capture.span(&format!("receive {subject}"));
    receive
        .assert_kind(SpanKind::Client)
        .assert_attr("messaging.operation.type", "receive")
        .assert_attr("messaging.batch.message_count", 3i64)
        .assert_attr("messaging.consumer.group.name", "puller")
        .assert_attr("messaging.nats.stream.name", name.as_str())
        .assert_attr("messaging.destination.name", subject.as_str());
    assert_eq!(receive.links().len(), 3);
    for create in &creates {
        assert_linked(&receive, create);
    }
    assert!(receive.links().iter().any(|l| {
        l.attributes
            .contains(&KeyValue::new("messaging.nats.stream.sequence", 3i64))
    }));

    let mut received = received.into_iter();
    let (first, second, third) = (
        received.next().unwrap(),
        received.next().unwrap(),
        received.next().unwrap(),
    );
    first.ack().await.unwrap();
    second.nak(Some(Duration::from_secs(60))).await.unwrap();
    third.term().await.unwrap();
    let process_ids: Vec<_> = [&first, &second, &third]
        .iter()
        .map(|d| d.context().span().span_context().span_id())
        .collect();
    drop((first, second, third));
    for op in ["ack", "nak", "term"] {
        let settle = capture.span(&format!("{op} {subject}"));
        settle.assert_attr("messaging.operation.type", "settle");
        assert!(process_ids.contains(&settle.parent_span_id()));
    }
    let processes = capture.spans_named(&format!("process {subject}"));
    assert_eq!(processes.len(), 3);
    for p in &processes {
        assert!(creates.iter().any(|c| p.is_linked_to(c)));
    }

    // Nothing left (one message waits 60 s for redelivery): an empty
    // receive, named after the server.
    let empty = js
        .fetch(consumer.fetch().max_messages(5).messages())
        .await
        .unwrap();
    assert!(empty.is_empty());
    let empty_receive = capture
        .find(|s| {
            s.name.starts_with("receive") && s.attr_i64("messaging.batch.message_count") == Some(0)
        })
        .expect("empty receive span");
    empty_receive.assert_no_attr("messaging.destination.name");
    assert!(empty_receive.links().is_empty());

    // Consumed once per message, by the receive span.
    let metrics = capture.collect_metrics();
    let consumed = metrics.sum_u64("messaging.client.consumed.messages");
    consumed.assert_value(
        &[
            KeyValue::new("messaging.destination.name", subject.clone()),
            KeyValue::new("messaging.operation.name", "receive"),
        ],
        3,
    );
    consumed.assert_value(
        &[KeyValue::new("messaging.destination.name", subject.clone())],
        3,
    );
    js.context().delete_stream(&name).await.unwrap();
}

#[tokio::test]
async fn jetstream_process_batch_links_every_message() {
    let capture = capture();
    let client = TracedClient::new(connect().await, instrumentation(&capture));
    let js = client.jetstream();
    let name = unique("JSP").replace('-', "_");
    let subject = format!("{name}.events");
    js.context()
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            storage: stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .unwrap();
    for body in [&b"a"[..], b"b"] {
        js.publish(subject.clone(), Bytes::copy_from_slice(body))
            .await
            .unwrap();
    }
    let consumer = js
        .context()
        .get_stream(&name)
        .await
        .unwrap()
        .create_consumer(pull::Config {
            durable_name: Some("batcher".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = consumer
        .batch()
        .max_messages(2)
        .expires(DELIVERY_WAIT)
        .messages()
        .await
        .unwrap();
    let mut messages = Vec::new();
    while let Some(m) = batch.next().await {
        messages.push(m.unwrap());
    }
    assert_eq!(messages.len(), 2);
    let batch_span = js.process_batch(&messages);
    js.ack(&batch_span, &messages[0]).await.unwrap();
    js.term(&batch_span, &messages[1]).await.unwrap();
    batch_span.end();

    let sends = capture.spans_named(&format!("publish {subject}"));
    let process = capture.span(&format!("process {subject}"));
    process
        .assert_kind(SpanKind::Consumer)
        .assert_attr("messaging.batch.message_count", 2i64)
        .assert_attr("messaging.consumer.group.name", "batcher")
        .assert_attr("messaging.nats.stream.name", name.as_str())
        .assert_no_attr("messaging.message.body.size");
    assert_root(&process);
    assert_eq!(process.links().len(), 2);
    for send in &sends {
        assert_linked(&process, send);
    }
    // The raw messages' settles are CLIENT settle spans under the batch
    // span, with each message's consumer, stream and sequence.
    for (op_name, sequence) in [("ack", 1i64), ("term", 2)] {
        let settle = capture.span(&format!("{op_name} {subject}"));
        settle
            .assert_kind(SpanKind::Client)
            .assert_attr("messaging.operation.type", "settle")
            .assert_attr("messaging.operation.name", op_name)
            .assert_attr("messaging.destination.name", subject.as_str())
            .assert_attr("messaging.consumer.group.name", "batcher")
            .assert_attr("messaging.nats.stream.name", name.as_str())
            .assert_attr("messaging.nats.stream.sequence", sequence)
            .assert_no_attr("messaging.batch.message_count")
            .assert_not_error();
        assert_parent(&settle, &process);
    }
    // The server got them: nothing is pending acknowledgement.
    let mut consumer = consumer;
    let deadline = std::time::Instant::now() + DELIVERY_WAIT;
    loop {
        let info = consumer.info().await.unwrap();
        if info.num_ack_pending == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "acks not applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    capture
        .collect_metrics()
        .histogram("messaging.process.duration")
        .assert_count(
            &[KeyValue::new("messaging.destination.name", subject.clone())],
            1,
        );
    js.context().delete_stream(&name).await.unwrap();
}

fn trace_and_baggage() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

fn baggage_value(cx: &Context, key: &str) -> Option<String> {
    cx.baggage().get(key).map(|v| v.as_str().to_owned())
}

#[tokio::test]
async fn process_context_carries_the_producers_baggage_in_link_and_parent_mode() {
    for mode in [ProcessMode::Link, ProcessMode::Parent] {
        let capture = capture();
        let client = TracedClient::new(
            connect().await,
            builder(&capture)
                .process_mode(mode)
                .propagator(trace_and_baggage())
                .build(),
        );
        let subject = unique("t.baggage");
        let mut sub = client.subscribe(subject.clone()).await.unwrap();
        client.client().flush().await.unwrap();
        let producer_cx = Context::new().with_baggage([
            KeyValue::new("tenant", "acme"),
            KeyValue::new("shared", "from-producer"),
        ]);
        client
            .publish(subject.clone(), Bytes::from_static(b"x"))
            .with_context(producer_cx)
            .await
            .unwrap();
        // The consumer's own ambient baggage stays; the message's entries
        // are added and win on a name clash.
        let consumer_cx = Context::new().with_baggage([
            KeyValue::new("region", "eu"),
            KeyValue::new("shared", "from-consumer"),
        ]);
        let delivered = async { next(&mut sub).await }
            .with_context(consumer_cx)
            .await;
        let baggage = delivered.headers.as_ref().unwrap().get("baggage").unwrap();
        assert!(baggage.as_str().contains("tenant=acme"), "{mode:?}");
        let cx = delivered.context().clone();
        assert_eq!(
            baggage_value(&cx, "tenant").as_deref(),
            Some("acme"),
            "{mode:?}"
        );
        assert_eq!(
            baggage_value(&cx, "region").as_deref(),
            Some("eu"),
            "{mode:?}"
        );
        assert_eq!(
            baggage_value(&cx, "shared").as_deref(),
            Some("from-producer"),
            "{mode:?}"
        );
        // The handler, run under the process context, sees it too.
        let seen = async { baggage_value(&Context::current(), "tenant") }
            .with_context(cx)
            .await;
        assert_eq!(seen.as_deref(), Some("acme"));
        delivered.end();

        let send = capture.span(&format!("publish {subject}"));
        let process = capture.span(&format!("process {subject}"));
        common::assert_process_follows(mode, &process, &send);
    }
}

#[tokio::test]
async fn message_without_baggage_leaves_the_ambient_baggage_alone() {
    let capture = capture();
    let client = TracedClient::new(
        connect().await,
        builder(&capture).propagator(trace_and_baggage()).build(),
    );
    let subject = unique("t.nobaggage");
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.client().flush().await.unwrap();
    client
        .publish(subject.clone(), Bytes::from_static(b"x"))
        .with_context(Context::new())
        .await
        .unwrap();
    let consumer_cx = Context::new().with_baggage([KeyValue::new("region", "eu")]);
    let delivered = async { next(&mut sub).await }
        .with_context(consumer_cx)
        .await;
    assert!(delivered.headers.as_ref().unwrap().get("baggage").is_none());
    let cx = delivered.context();
    assert_eq!(baggage_value(cx, "region").as_deref(), Some("eu"));
    assert_eq!(cx.baggage().len(), 1);
    delivered.end();
}

#[tokio::test]
async fn builder_propagator_replaces_the_global_one() {
    // The global propagator is W3C trace context (set by `capture()`).
    let capture = capture();
    // One connection for both: the server handles a connection's commands in
    // order, so both subscriptions exist before the publish. (`flush` only
    // writes the buffer; with two connections the publish could overtake
    // the second SUB and the W3C consumer would wait forever.)
    let connection = connect().await;
    let b3 = TracedClient::new(
        connection.clone(),
        builder(&capture)
            .propagator(B3Propagator::single())
            .process_mode(ProcessMode::Parent)
            .build(),
    );
    let global = TracedClient::new(
        connection,
        builder(&capture).process_mode(ProcessMode::Parent).build(),
    );
    let subject = unique("t.b3");
    let mut b3_sub = b3.subscribe(subject.clone()).await.unwrap();
    let mut global_sub = global.subscribe(subject.clone()).await.unwrap();
    b3.client().flush().await.unwrap();
    b3.publish(subject.clone(), Bytes::from_static(b"x"))
        .await
        .unwrap();
    let via_b3 = next(&mut b3_sub).await;
    let headers = via_b3.headers.clone().unwrap();
    assert!(headers.get("b3").is_some());
    assert!(headers.get("traceparent").is_none());
    via_b3.end();
    // A consumer on the global (W3C) propagator finds no context in it.
    next(&mut global_sub).await.end();

    let send = capture.span(&format!("publish {subject}"));
    let processes = capture.spans_named(&format!("process {subject}"));
    assert_eq!(processes.len(), 2);
    let (extracted, not): (Vec<_>, Vec<_>) = processes
        .iter()
        .partition(|p| p.trace_id() == send.trace_id());
    assert_eq!((extracted.len(), not.len()), (1, 1));
    assert_parent(extracted[0], &send);
    assert_root(not[0]);
    assert!(not[0].links().is_empty());

    // Batches inject and read existing contexts with it as well.
    b3.publish_batch(vec![outbound(&subject, b"y")])
        .await
        .unwrap();
    let in_batch = next(&mut b3_sub).await;
    let headers = in_batch.headers.clone().unwrap();
    assert!(headers.get("b3").is_some());
    assert!(headers.get("traceparent").is_none());
    in_batch.end();
    let create = capture.span(&format!("create {subject}"));
    let processes = capture.spans_named(&format!("process {subject}"));
    assert!(
        processes
            .iter()
            .any(|p| p.parent_span_id() == create.span_id())
    );
}

#[tokio::test]
async fn header_capture_refuses_credentials_unless_allowed() {
    // Message headers go through the family's one sensitive-header rule:
    // listing `authorization` or `cookie` is not enough to record them.
    for allow in [false, true] {
        let capture = capture();
        let mut b =
            builder(&capture).capture_request_headers(["x-tenant", "Authorization", "cookie"]);
        if allow {
            b = b.allow_sensitive_headers(["authorization"]);
        }
        let client = TracedClient::new(connect().await, b.build());
        let subject = unique("t.secret");
        let mut sub = client.subscribe(subject.clone()).await.unwrap();
        client.client().flush().await.unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", "acme");
        headers.insert("Authorization", "Bearer s3cret");
        headers.insert("cookie", "session=s3cret");
        client
            .publish_with_headers(subject.clone(), headers, Bytes::from_static(b"x"))
            .await
            .unwrap();
        let d = next(&mut sub).await;
        // The message itself is untouched.
        let received = d.headers.clone().unwrap();
        assert_eq!(
            received.get("Authorization").unwrap().as_str(),
            "Bearer s3cret"
        );
        d.end();
        for name in [format!("publish {subject}"), format!("process {subject}")] {
            let span = capture.span(&name);
            assert!(span.has_attr("messaging.header.x-tenant"), "{name}");
            assert!(!span.has_attr("messaging.header.cookie"), "{name}");
            assert_eq!(
                span.has_attr("messaging.header.authorization"),
                allow,
                "{name}: authorization only when allowed"
            );
        }
    }
}

/// The family's one extraction rule for a consumer: the headers are read
/// on top of the current context. The ambient span stays the parent in
/// link mode and the carried context is the link; what the headers held
/// besides the span context (forwarded mesh headers) lands in the process
/// context next to the ambient values.
#[tokio::test]
async fn consumer_extracts_on_top_of_the_current_context() {
    use otel_kit_core::propagation::ForwardHeadersPropagator;
    use otel_kit_core::propagation::ForwardedHeaders;
    #[derive(Debug, PartialEq)]
    struct AmbientMarker(u8);
    for mode in [ProcessMode::Link, ProcessMode::Parent] {
        let capture = capture();
        let client = TracedClient::new(
            connect().await,
            builder(&capture)
                .process_mode(mode)
                .propagator(TextMapCompositePropagator::new(vec![
                    Box::new(TraceContextPropagator::new()),
                    Box::new(ForwardHeadersPropagator::new()),
                ]))
                .build(),
        );
        let subject = unique("t.ontop");
        let mut sub = client.subscribe(subject.clone()).await.unwrap();
        client.client().flush().await.unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", "req-42");
        client
            .publish_with_headers(subject.clone(), headers, Bytes::from_static(b"x"))
            .await
            .unwrap();
        let tracer = capture.tracer("app");
        let ambient =
            Context::current_with_span(tracer.start("worker loop")).with_value(AmbientMarker(7));
        let delivered = next(&mut sub).with_context(ambient.clone()).await;
        let cx = delivered.context().clone();
        assert_eq!(
            cx.get::<AmbientMarker>(),
            Some(&AmbientMarker(7)),
            "{mode:?}"
        );
        assert_eq!(
            ForwardedHeaders::from_context(&cx).and_then(ForwardedHeaders::request_id),
            Some("req-42"),
            "{mode:?}"
        );
        delivered.end();
        ambient.span().end();

        let send = capture.span(&format!("publish {subject}"));
        let process = capture.span(&format!("process {subject}"));
        let worker = capture.span("worker loop");
        match mode {
            ProcessMode::Link => {
                assert_parent(&process, &worker);
                assert_linked(&process, &send);
                assert_eq!(process.links().len(), 1);
            }
            ProcessMode::Parent => {
                assert_parent(&process, &send);
                assert_linked(&process, &worker);
                assert_eq!(process.links().len(), 1);
            }
        }
    }
}

/// A message without a trace context read inside an ambient span: nothing
/// remote, so no link in either mode and the ambient span is the parent.
#[tokio::test]
async fn message_without_context_is_the_ambient_spans_child_in_both_modes() {
    for mode in [ProcessMode::Link, ProcessMode::Parent] {
        let capture = capture();
        let client = TracedClient::new(
            connect().await,
            builder(&capture).process_mode(mode).build(),
        );
        let subject = unique("t.nocontext");
        let mut sub = client.subscribe(subject.clone()).await.unwrap();
        client.client().flush().await.unwrap();
        client
            .client()
            .publish(subject.clone(), Bytes::from_static(b"x"))
            .await
            .unwrap();
        let tracer = capture.tracer("app");
        let ambient = Context::current_with_span(tracer.start("worker loop"));
        next(&mut sub).with_context(ambient.clone()).await.end();
        ambient.span().end();
        let process = capture.span(&format!("process {subject}"));
        assert_parent(&process, &capture.span("worker loop"));
        assert!(process.links().is_empty(), "{mode:?}");
    }
}

#[tokio::test]
async fn error_type_is_the_async_nats_error_kind() {
    let capture = capture();
    let client = TracedClient::new(connect().await, instrumentation(&capture));
    let subject = unique("t.noresponders");
    let result = client.request(subject.clone(), Bytes::new()).await;
    assert!(result.is_err());
    let request = capture.span(&format!("request {subject}"));
    request.assert_error();
    assert_eq!(request.attr_str("error.type"), Some("NoResponders"));
}
