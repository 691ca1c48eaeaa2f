//! RabbitMQ through lapin against the real broker on 127.0.0.1:5672.
#![cfg(feature = "rabbitmq")]

mod common;

use common::{DELIVERY_WAIT, TRACEPARENT, amqp_url, builder, capture, instrumentation, unique};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions,
    BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use otel_kit_core::opentelemetry::baggage::BaggageExt;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::propagation::TextMapCompositePropagator;
use otel_kit_core::opentelemetry::trace::{SpanKind, Tracer};
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::propagation::{B3Propagator, BaggagePropagator};
use otel_kit_core::testing::{assert_linked, assert_parent, assert_root};
use otel_kit_messaging::ProcessMode;
use otel_kit_messaging::rabbitmq::{AmqpHeaderExtractor, TracedChannel, TracedConsumer};

async fn channel() -> (Connection, Channel) {
    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (see TEST_INFRA.md)");
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    (conn, ch)
}

async fn queue(ch: &Channel, name: &str) {
    ch.queue_declare(
        name.into(),
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
}

async fn consume(traced: &TracedChannel, queue: &str) -> TracedConsumer {
    traced
        .basic_consume(
            queue.into(),
            ShortString::from(format!("c-{queue}")),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap()
}

async fn next(c: &mut TracedConsumer) -> otel_kit_messaging::Delivered<lapin::message::Delivery> {
    tokio::time::timeout(DELIVERY_WAIT, c.next())
        .await
        .expect("delivery in time")
        .expect("consumer open")
        .expect("delivery ok")
}

#[tokio::test]
async fn process_runs_the_handler_inside_the_span_and_ends_it_with_the_outcome() {
    let capture = capture();
    let (_conn, ch) = channel().await;
    let traced = TracedChannel::new(ch.clone(), instrumentation(&capture));
    let q = unique("q-handler");
    queue(&ch, &q).await;
    let mut consumer = consume(&traced, &q).await;
    for body in [&b"ok"[..], &b"bad"[..]] {
        traced
            .basic_publish(
                "".into(),
                q.as_str().into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default(),
            )
            .await
            .unwrap();
    }
    let tracer = capture.tracer("handler");
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let delivery = next(&mut consumer).await;
        let outcome = delivery
            .process(async |delivery| {
                // No context named: the process span is current here.
                let _handle = tracer.start("handle");
                if &delivery.data[..] == b"bad" {
                    delivery
                        .reject(BasicRejectOptions { requeue: false })
                        .await
                        .map_err(std::io::Error::other)?;
                    return Err(std::io::Error::other("rejected"));
                }
                delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .map_err(std::io::Error::other)
            })
            .await;
        outcomes.push(outcome.map_err(|e| e.to_string()));
    }
    assert_eq!(outcomes, vec![Ok(true), Err("rejected".to_owned())]);

    let processes = capture.spans_named(&format!("process {q}"));
    assert_eq!(processes.len(), 2);
    let handles = capture.spans_named("handle");
    for process in &processes {
        assert!(
            handles
                .iter()
                .any(|h| h.parent_span_id() == process.span_id())
        );
    }
    assert_parent(&capture.span(&format!("ack {q}")), &processes[0]);
    assert_parent(&capture.span(&format!("reject {q}")), &processes[1]);
    processes[0].assert_not_error();
    processes[1]
        .assert_error()
        .assert_attr("error.type", "std::io::error::Error");
}

#[tokio::test]
async fn publish_confirm_process_and_ack_default_exchange() {
    let capture = capture();
    let (_conn, ch) = channel().await;
    let traced =
        TracedChannel::new(ch.clone(), instrumentation(&capture)).with_server("127.0.0.1", 5672);
    let q = unique("q");
    queue(&ch, &q).await;
    let mut consumer = consume(&traced, &q).await;

    let payload = b"\x00\x01binary payload\xff";
    let mut user_headers = FieldTable::default();
    user_headers.insert("x-user".into(), AMQPValue::LongString("kept".into()));
    let confirmation = traced
        .basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            payload,
            BasicProperties::default()
                .with_headers(user_headers)
                .with_correlation_id("corr-1".into())
                .with_message_id("m-1".into()),
        )
        .await
        .unwrap();
    assert!(matches!(confirmation, Confirmation::Ack(_)));

    let delivered = next(&mut consumer).await;
    assert_eq!(&delivered.data[..], &payload[..]);
    let headers = delivered.properties.headers().clone().unwrap();
    assert!(headers.contains_key("traceparent"));
    assert!(headers.contains_key("x-user"));
    assert!(delivered.ack(BasicAckOptions::default()).await.unwrap());
    delivered.end();

    let send = capture.span(&format!("publish {q}"));
    send.assert_kind(SpanKind::Producer)
        .assert_attr("messaging.system", "rabbitmq")
        .assert_attr("messaging.destination.name", q.as_str())
        .assert_attr("messaging.rabbitmq.destination.routing_key", q.as_str())
        .assert_attr("messaging.message.conversation_id", "corr-1")
        .assert_attr("messaging.message.id", "m-1")
        .assert_attr("server.address", "127.0.0.1");
    let process = capture.span(&format!("process {q}"));
    process
        .assert_kind(SpanKind::Consumer)
        .assert_attr("messaging.destination.name", q.as_str())
        .assert_attr("messaging.rabbitmq.message.delivery_tag", 1i64);
    assert_root(&process);
    assert_linked(&process, &send);
    let ack = capture.span(&format!("ack {q}"));
    ack.assert_kind(SpanKind::Client)
        .assert_attr("messaging.operation.type", "settle");
    assert_parent(&ack, &process);

    let metrics = capture.collect_metrics();
    let dest = KeyValue::new("messaging.destination.name", q.clone());
    metrics
        .sum_u64("messaging.client.sent.messages")
        .assert_value(std::slice::from_ref(&dest), 1);
    metrics
        .sum_u64("messaging.client.consumed.messages")
        .assert_value(std::slice::from_ref(&dest), 1);
    metrics
        .histogram("messaging.process.duration")
        .assert_count(std::slice::from_ref(&dest), 1);
    metrics
        .histogram("messaging.client.operation.duration")
        .assert_count(&[dest, KeyValue::new("messaging.operation.name", "ack")], 1);
}

#[tokio::test]
async fn exchange_routing_key_parent_mode_nack_and_reject() {
    let capture = capture();
    let (_conn, ch) = channel().await;
    // `logs/dup`: the handler failure is a span event and a
    // `messaging.process.exception` log record.
    let traced = TracedChannel::new(
        ch.clone(),
        builder(&capture)
            .process_mode(ProcessMode::Parent)
            .exception_signal(otel_kit_core::config::ExceptionSignal::Both)
            .logger_provider(&capture.logger_provider())
            .build(),
    );
    let ex = unique("ex");
    let q = unique("q");
    ch.exchange_declare(
        ex.as_str().into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    queue(&ch, &q).await;
    ch.queue_bind(
        q.as_str().into(),
        ex.as_str().into(),
        "orders".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut consumer = consume(&traced, &q).await;

    for _ in 0..2 {
        traced
            .basic_publish(
                ex.as_str().into(),
                "orders".into(),
                BasicPublishOptions::default(),
                b"x",
                BasicProperties::default(),
            )
            .await
            .unwrap();
    }
    let first = next(&mut consumer).await;
    let tracer = capture.tracer("handler");
    async {
        let _s = tracer.start("handle");
    }
    .with_context(first.context().clone())
    .await;
    first
        .nack(BasicNackOptions {
            requeue: false,
            ..Default::default()
        })
        .await
        .unwrap();
    first.end();
    let second = next(&mut consumer).await;
    second
        .reject(BasicRejectOptions { requeue: false })
        .await
        .unwrap();
    second.end_with_error("handler_failed", "boom");

    let sends = capture.spans_named(&format!("publish {ex}:orders"));
    assert_eq!(sends.len(), 2);
    let consume_dest = format!("{ex}:orders:{q}");
    let processes = capture.spans_named(&format!("process {consume_dest}"));
    assert_eq!(processes.len(), 2);
    for p in &processes {
        assert!(sends.iter().any(|s| p.parent_span_id() == s.span_id()));
        p.assert_attr("messaging.rabbitmq.destination.routing_key", "orders");
    }
    assert!(processes.iter().any(|p| p.is_error()));
    let failed = processes.iter().find(|p| p.is_error()).unwrap();
    assert!(failed.event("exception").is_some());
    let logs = capture.logs();
    assert_eq!(logs.len(), 1, "one exception: the failed handler");
    assert_eq!(logs[0].event_name(), Some("messaging.process.exception"));
    assert_eq!(
        logs[0].severity(),
        Some(otel_kit_core::opentelemetry::logs::Severity::Error)
    );
    assert_eq!(logs[0].span_id(), Some(failed.span_id()));
    let handle = capture.span("handle");
    assert!(
        processes
            .iter()
            .any(|p| p.span_id() == handle.parent_span_id())
    );
    capture.span(&format!("nack {consume_dest}"));
    capture.span(&format!("reject {consume_dest}"));
    capture
        .collect_metrics()
        .histogram("messaging.process.duration")
        .assert_count(
            &[
                KeyValue::new("messaging.destination.name", consume_dest.clone()),
                KeyValue::new("error.type", "handler_failed"),
            ],
            1,
        );
}

#[tokio::test]
async fn malformed_binary_and_missing_headers_are_still_delivered() {
    let capture = capture();
    let (_conn, ch) = channel().await;
    let traced = TracedChannel::new(ch.clone(), instrumentation(&capture));
    let q = unique("q-bad");
    queue(&ch, &q).await;
    let mut consumer = consume(&traced, &q).await;

    let cases: Vec<FieldTable> = vec![
        {
            let mut t = FieldTable::default();
            t.insert(
                "traceparent".into(),
                AMQPValue::LongString(LongString::from(vec![0xff, 0xfe, 0x00, 0x80])),
            );
            t
        },
        {
            let mut t = FieldTable::default();
            t.insert("traceparent".into(), AMQPValue::LongLongInt(42));
            t.insert("tracestate".into(), AMQPValue::Void);
            t
        },
        {
            let mut t = FieldTable::default();
            t.insert(
                "traceparent".into(),
                AMQPValue::LongString(format!("{TRACEPARENT}{}", "f".repeat(50_000)).into()),
            );
            t
        },
        {
            let mut t = FieldTable::default();
            t.insert(
                "traceparent".into(),
                AMQPValue::FieldTable(FieldTable::default()),
            );
            t
        },
        FieldTable::default(),
    ];
    let n = cases.len();
    for (i, headers) in cases.into_iter().enumerate() {
        ch.basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            format!("m{i}").as_bytes(),
            BasicProperties::default().with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    // And one without any headers property at all.
    ch.basic_publish(
        "".into(),
        q.as_str().into(),
        BasicPublishOptions::default(),
        b"plain",
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    for _ in 0..=n {
        let d = next(&mut consumer).await;
        d.ack(BasicAckOptions::default()).await.unwrap();
        d.end();
    }
    let processes = capture.spans_named(&format!("process {q}"));
    assert_eq!(processes.len(), n + 1);
    for p in &processes {
        assert_root(p);
        assert!(p.links().is_empty());
    }
}

#[tokio::test]
async fn propagation_toggle_and_header_capture() {
    let capture = capture();
    let (_conn, ch) = channel().await;
    let traced = TracedChannel::new(
        ch.clone(),
        builder(&capture)
            .propagate(false)
            .capture_request_headers(["x-tenant"])
            .build(),
    );
    let q = unique("q-noprop");
    queue(&ch, &q).await;
    let mut consumer = consume(&traced, &q).await;
    let mut headers = FieldTable::default();
    headers.insert("X-Tenant".into(), AMQPValue::LongString("acme".into()));
    traced
        .basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            b"x",
            BasicProperties::default().with_headers(headers),
        )
        .await
        .unwrap();
    let d = next(&mut consumer).await;
    let received = d.properties.headers().clone().unwrap();
    assert!(!received.contains_key("traceparent"));
    use otel_kit_core::opentelemetry::propagation::Extractor;
    assert_eq!(AmqpHeaderExtractor(&received).get("x-tenant"), Some("acme"));
    d.end();
    let process = capture.span(&format!("process {q}"));
    assert!(process.links().is_empty());
    assert!(process.has_attr("messaging.header.x-tenant"));
}

#[tokio::test]
async fn basic_get_records_receive_then_process_and_settles() {
    let capture = capture();
    let (_conn, ch) = channel().await;
    let traced = TracedChannel::new(ch.clone(), instrumentation(&capture));
    let q = unique("q-get");
    queue(&ch, &q).await;
    assert!(
        traced
            .basic_get(q.as_str().into(), Default::default())
            .await
            .unwrap()
            .is_none()
    );
    traced
        .basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            b"pulled",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    let message = traced
        .basic_get(q.as_str().into(), Default::default())
        .await
        .unwrap()
        .expect("a message");
    assert_eq!(&message.delivery.data[..], b"pulled");
    message.ack(BasicAckOptions::default()).await.unwrap();
    message.end();

    let send = capture.span(&format!("publish {q}"));
    let receive = capture.span(&format!("receive {q}"));
    receive
        .assert_kind(SpanKind::Client)
        .assert_attr("messaging.operation.type", "receive");
    assert_linked(&receive, &send);
    let process = capture.span(&format!("process {q}"));
    assert_linked(&process, &send);
    assert_parent(&capture.span(&format!("ack {q}")), &process);
    let consumed = capture.collect_metrics();
    let total: u64 = consumed
        .sum_u64("messaging.client.consumed.messages")
        .matching(&[KeyValue::new("messaging.destination.name", q.clone())])
        .map(|p| p.value)
        .sum();
    assert_eq!(total, 1, "counted once, by the receive span");
}

#[tokio::test]
async fn builder_propagator_carries_context_and_baggage_in_both_modes() {
    // The global propagator is W3C trace context (set by `capture()`); the
    // instrumentation uses B3 plus baggage instead.
    for mode in [ProcessMode::Link, ProcessMode::Parent] {
        let capture = capture();
        let (_conn, ch) = channel().await;
        let traced = TracedChannel::new(
            ch.clone(),
            builder(&capture)
                .process_mode(mode)
                .propagator(TextMapCompositePropagator::new(vec![
                    Box::new(B3Propagator::single()),
                    Box::new(BaggagePropagator::new()),
                ]))
                .build(),
        )
        .with_server("127.0.0.1", 5672);
        let q = unique("q-b3");
        queue(&ch, &q).await;
        let mut consumer = consume(&traced, &q).await;
        traced
            .basic_publish(
                "".into(),
                q.as_str().into(),
                BasicPublishOptions::default(),
                b"x",
                BasicProperties::default(),
            )
            .with_context(Context::new().with_baggage([KeyValue::new("tenant", "acme")]))
            .await
            .unwrap();
        let delivered = next(&mut consumer).await;
        let headers = delivered.properties.headers().clone().unwrap();
        assert!(headers.contains_key("b3") && headers.contains_key("baggage"));
        assert!(!headers.contains_key("traceparent"));
        let tenant = delivered
            .context()
            .baggage()
            .get("tenant")
            .map(|v| v.as_str().to_owned());
        assert_eq!(tenant.as_deref(), Some("acme"), "{mode:?}");
        delivered.ack(BasicAckOptions::default()).await.unwrap();
        delivered.end();

        let send = capture.span(&format!("publish {q}"));
        let process = capture.span(&format!("process {q}"));
        common::assert_process_follows(mode, &process, &send);
    }
}

#[tokio::test]
async fn header_capture_refuses_credentials_unless_allowed() {
    // The family's one sensitive-header rule for AMQP headers too.
    for allow in [false, true] {
        let capture = capture();
        let (_conn, ch) = channel().await;
        let mut b =
            builder(&capture).capture_request_headers(["x-tenant", "authorization", "X-Api-Key"]);
        if allow {
            b = b.allow_sensitive_headers(["Authorization"]);
        }
        let traced = TracedChannel::new(ch.clone(), b.build());
        let q = unique("q-secret");
        queue(&ch, &q).await;
        let mut consumer = consume(&traced, &q).await;
        let mut headers = FieldTable::default();
        headers.insert("x-tenant".into(), AMQPValue::LongString("acme".into()));
        headers.insert(
            "authorization".into(),
            AMQPValue::LongString("Bearer s3cret".into()),
        );
        headers.insert("x-api-key".into(), AMQPValue::LongString("k3y".into()));
        traced
            .basic_publish(
                "".into(),
                q.as_str().into(),
                BasicPublishOptions::default(),
                b"x",
                BasicProperties::default().with_headers(headers),
            )
            .await
            .unwrap();
        next(&mut consumer).await.end();
        for name in [format!("publish {q}"), format!("process {q}")] {
            let span = capture.span(&name);
            assert!(span.has_attr("messaging.header.x-tenant"), "{name}");
            assert!(!span.has_attr("messaging.header.x-api-key"), "{name}");
            assert_eq!(
                span.has_attr("messaging.header.authorization"),
                allow,
                "{name}: authorization only when allowed"
            );
        }
    }
}

#[tokio::test]
async fn error_type_is_the_lapin_error_kind() {
    let capture = capture();
    let (_conn, ch) = channel().await;
    let traced = TracedChannel::new(ch.clone(), instrumentation(&capture));
    // Publishing to an exchange that does not exist closes the channel:
    // the publish (or its confirm) fails with a lapin error.
    ch.confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    let ex = unique("missing-ex");
    let first = traced
        .basic_publish(
            ex.as_str().into(),
            "rk".into(),
            BasicPublishOptions::default(),
            b"x",
            BasicProperties::default(),
        )
        .await;
    let failed = match first {
        Err(e) => e,
        Ok(_) => {
            // The channel closes asynchronously; the next publish fails.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            traced
                .basic_publish(
                    ex.as_str().into(),
                    "rk".into(),
                    BasicPublishOptions::default(),
                    b"x",
                    BasicProperties::default(),
                )
                .await
                .expect_err("the channel is closed")
        }
    };
    let expected = otel_kit_messaging::rabbitmq::error_type(&failed);
    assert_eq!(
        expected,
        otel_kit_core::instrument::variant_error_type(failed.kind())
    );
    assert!(
        expected
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{expected}"
    );
    let spans = capture.spans_named(&format!("publish {ex}:rk"));
    let failed_span = spans
        .iter()
        .find(|s| s.attr_str("error.type").is_some())
        .expect("a failed publish span");
    failed_span.assert_error();
    assert_eq!(failed_span.attr_str("error.type"), Some(expected.as_str()));
}
