//! Kafka through librdkafka's in-process mock cluster (the real Kafka
//! protocol on 127.0.0.1). Consumers use `assign()` so no group join delay.
#![cfg(feature = "kafka")]

mod common;

use std::time::Duration;

use common::{DELIVERY_WAIT, TRACEPARENT, builder, capture, instrumentation, unique};
use futures_util::StreamExt;
use otel_kit_core::opentelemetry::baggage::BaggageExt;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::propagation::TextMapCompositePropagator;
use otel_kit_core::opentelemetry::trace::{SpanKind, Tracer};
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::propagation::{B3Propagator, BaggagePropagator};
use otel_kit_core::testing::{Capture, assert_linked, assert_parent, assert_root};
use otel_kit_messaging::kafka::{
    KafkaHeaderExtractor, KafkaHeaderInjector, StatsContext, StatsRecorder, TracedConsumer,
    TracedProducer,
};
use otel_kit_messaging::{Instrumentation, ProcessMode};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

struct Kafka {
    cluster: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
}

impl Kafka {
    fn new() -> Self {
        Self {
            cluster: MockCluster::new(1).expect("mock cluster"),
        }
    }

    fn topic(&self, prefix: &str, partitions: i32) -> String {
        let t = unique(prefix);
        self.cluster.create_topic(&t, partitions, 1).unwrap();
        t
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.cluster.bootstrap_servers())
            .set("message.timeout.ms", "10000");
        c
    }

    fn producer(&self) -> FutureProducer {
        self.config().create().unwrap()
    }

    fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut c = self.config();
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        c
    }

    fn assign<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(consumer: &C, topic: &str) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
    }
}

impl Kafka {
    /// A traced producer created from the cluster's configuration.
    fn traced_producer(&self, inst: &Instrumentation) -> TracedProducer {
        TracedProducer::new(self.producer(), inst.clone())
    }

    /// A traced `BaseConsumer` of `group`, assigned to `topic`, created
    /// from its configuration (so `group.id` is the recorded group).
    fn traced_consumer(
        &self,
        inst: &Instrumentation,
        group: &str,
        topic: &str,
    ) -> TracedConsumer<BaseConsumer> {
        let consumer =
            TracedConsumer::from_config(&self.consumer_config(group), inst.clone()).unwrap();
        Kafka::assign(consumer.consumer(), topic);
        consumer
    }
}

fn tracing(capture: &Capture) -> Instrumentation {
    instrumentation(capture)
}

async fn raw_send(
    producer: &FutureProducer,
    topic: &str,
    payload: &[u8],
    headers: Option<OwnedHeaders>,
) {
    let mut record = FutureRecord::<(), [u8]>::to(topic).payload(payload);
    if let Some(h) = headers {
        record = record.headers(h);
    }
    producer.send(record, Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn send_stream_process_and_commit_link_mode() {
    let capture = capture();
    let kafka = Kafka::new();
    let topic = kafka.topic("orders", 1);
    let tracing = tracing(&capture);
    let mut producer_config = kafka.config();
    producer_config.set("client.id", "svc-1");
    // `client.id` (and the bootstrap broker) read from the configuration.
    let producer: TracedProducer =
        TracedProducer::from_config(&producer_config, tracing.clone()).unwrap();

    let payload: &[u8] = b"\x00\xffpayload";
    let headers = OwnedHeaders::new().insert(Header {
        key: "x-user",
        value: Some("kept"),
    });
    let delivery: OwnedDeliveryResult = producer
        .send(
            FutureRecord::to(&topic)
                .key("k1")
                .payload(payload)
                .headers(headers),
            Duration::from_secs(5),
        )
        .await;
    let delivery = delivery.unwrap();
    assert_eq!((delivery.partition, delivery.offset), (0, 0));

    // `group.id` read from the configuration: no second group option.
    let consumer: TracedConsumer =
        TracedConsumer::from_config(&kafka.consumer_config("g1"), tracing).unwrap();
    assert_eq!(consumer.consumer_group(), Some("g1"));
    Kafka::assign(consumer.consumer(), &topic);
    let mut stream = consumer.stream();
    let delivered = tokio::time::timeout(DELIVERY_WAIT, stream.next())
        .await
        .expect("message in time")
        .unwrap()
        .unwrap();
    assert_eq!(delivered.payload(), Some(payload));
    let h = delivered.headers().unwrap();
    let keys: Vec<&str> = h.iter().map(|h| h.key).collect();
    assert!(
        keys.contains(&"x-user") && keys.contains(&"traceparent"),
        "{keys:?}"
    );
    delivered
        .commit(consumer.consumer(), CommitMode::Sync)
        .unwrap();
    drop(delivered);
    drop(stream);

    let send = capture.span(&format!("send {topic}"));
    send.assert_kind(SpanKind::Producer)
        .assert_attr("messaging.system", "kafka")
        .assert_attr("messaging.operation.type", "send")
        .assert_attr("messaging.destination.name", topic.as_str())
        .assert_attr("messaging.destination.partition.id", "0")
        .assert_attr("messaging.kafka.offset", 0i64)
        .assert_attr("messaging.kafka.message.key", "k1")
        .assert_attr("messaging.client.id", "svc-1")
        .assert_attr("messaging.message.body.size", payload.len() as i64)
        .assert_no_attr("messaging.kafka.message.tombstone")
        .assert_no_attr("messaging.consumer.group.name");
    let process = capture.span(&format!("process {topic}"));
    process
        .assert_kind(SpanKind::Consumer)
        .assert_attr("messaging.consumer.group.name", "g1")
        .assert_attr("messaging.destination.partition.id", "0")
        .assert_attr("messaging.kafka.offset", 0i64)
        .assert_attr("messaging.kafka.message.key", "k1");
    assert_root(&process);
    assert_linked(&process, &send);
    let commit = capture.span(&format!("commit {topic}"));
    commit
        .assert_kind(SpanKind::Client)
        .assert_attr("messaging.operation.type", "settle");
    assert_parent(&commit, &process);

    let metrics = capture.collect_metrics();
    let dest = KeyValue::new("messaging.destination.name", topic.clone());
    metrics
        .sum_u64("messaging.client.sent.messages")
        .assert_value(
            &[
                dest.clone(),
                KeyValue::new("messaging.destination.partition.id", "0"),
            ],
            1,
        );
    metrics
        .sum_u64("messaging.client.consumed.messages")
        .assert_value(
            &[
                dest.clone(),
                KeyValue::new("messaging.consumer.group.name", "g1"),
            ],
            1,
        );
    metrics
        .histogram("messaging.process.duration")
        .assert_count(std::slice::from_ref(&dest), 1);
    metrics
        .histogram("messaging.client.operation.duration")
        .assert_count(
            &[dest, KeyValue::new("messaging.operation.name", "commit")],
            1,
        );
}

#[tokio::test]
async fn parent_mode_tombstone_and_nested_span() {
    let capture = capture();
    let kafka = Kafka::new();
    let topic = kafka.topic("parent", 1);
    let tracing = builder(&capture).process_mode(ProcessMode::Parent).build();
    let producer = kafka.traced_producer(&tracing);
    producer
        .send(
            FutureRecord::<str, [u8]>::to(&topic).key("gone"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();

    let consumer = kafka.traced_consumer(&tracing, "g2", &topic);
    let message = poll_one(consumer.consumer()).await;
    let delivered = consumer.process(message);
    let tracer = capture.tracer("handler");
    async {
        let _s = tracer.start("handle");
    }
    .with_context(delivered.context().clone())
    .await;
    delivered.end();

    let send = capture.span(&format!("send {topic}"));
    send.assert_attr("messaging.kafka.message.tombstone", true);
    let process = capture.span(&format!("process {topic}"));
    process.assert_attr("messaging.kafka.message.tombstone", true);
    assert_parent(&process, &send);
    assert_parent(&capture.span("handle"), &process);
}

#[tokio::test]
async fn process_runs_the_handler_inside_the_span_and_ends_it_with_the_outcome() {
    let capture = capture();
    let kafka = Kafka::new();
    let topic = kafka.topic("handler", 1);
    let tracing = tracing(&capture);
    let producer = kafka.traced_producer(&tracing);
    for payload in [&b"ok"[..], &b"bad"[..]] {
        producer
            .send(
                FutureRecord::<(), [u8]>::to(&topic).payload(payload),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }
    let consumer: TracedConsumer =
        TracedConsumer::from_config(&kafka.consumer_config("gh"), tracing).unwrap();
    Kafka::assign(consumer.consumer(), &topic);
    let tracer = capture.tracer("handler");
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let message = tokio::time::timeout(DELIVERY_WAIT, consumer.recv())
            .await
            .expect("message in time")
            .unwrap();
        let outcome = message
            .process(async |m| {
                // No context named: the process span is current here.
                let _handle = tracer.start("handle");
                m.commit(consumer.consumer(), CommitMode::Sync)
                    .map_err(std::io::Error::other)?;
                match m.payload() {
                    Some(b"bad") => Err(std::io::Error::other("rejected")),
                    _ => Ok(m.offset()),
                }
            })
            .await;
        outcomes.push(outcome.map_err(|e| e.to_string()));
    }
    assert_eq!(outcomes, vec![Ok(0), Err("rejected".to_owned())]);

    let processes = capture.spans_named(&format!("process {topic}"));
    assert_eq!(processes.len(), 2);
    let handles = capture.spans_named("handle");
    let commits = capture.spans_named(&format!("commit {topic}"));
    for (offset, process) in [0i64, 1].into_iter().zip(&processes) {
        process.assert_attr("messaging.kafka.offset", offset);
        assert!(
            handles
                .iter()
                .any(|h| h.parent_span_id() == process.span_id())
        );
        assert!(
            commits
                .iter()
                .any(|c| c.parent_span_id() == process.span_id())
        );
    }
    processes[0].assert_not_error();
    processes[1]
        .assert_error()
        .assert_attr("error.type", "std::io::error::Error");
    capture
        .collect_metrics()
        .histogram("messaging.process.duration")
        .assert_count(
            &[
                KeyValue::new("messaging.destination.name", topic.clone()),
                KeyValue::new("error.type", "std::io::error::Error"),
            ],
            1,
        );
}

async fn poll_one(consumer: &BaseConsumer) -> rdkafka::message::BorrowedMessage<'_> {
    let deadline = std::time::Instant::now() + DELIVERY_WAIT;
    loop {
        if let Some(m) = consumer.poll(Duration::ZERO) {
            return m.unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no message in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn batch_process_links_every_message_and_commits() {
    let capture = capture();
    let kafka = Kafka::new();
    let topic = kafka.topic("batch", 1);
    let tracing = tracing(&capture);
    let producer = kafka.traced_producer(&tracing);
    for i in 0..3u8 {
        producer
            .send(
                FutureRecord::<(), [u8]>::to(&topic).payload(&[i][..]),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }
    let consumer = kafka.traced_consumer(&tracing, "g3", &topic);
    let mut batch = Vec::new();
    while batch.len() < 3 {
        batch.push(poll_one(consumer.consumer()).await.detach());
    }
    let span = consumer.process_batch(&batch);
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, Offset::Offset(3))
        .unwrap();
    consumer.commit(&span, &offsets, CommitMode::Sync).unwrap();
    span.end();

    let sends = capture.spans_named(&format!("send {topic}"));
    assert_eq!(sends.len(), 3);
    let process = capture.span(&format!("process {topic}"));
    process
        .assert_attr("messaging.batch.message_count", 3i64)
        .assert_attr("messaging.destination.partition.id", "0");
    assert_eq!(process.links().len(), 3);
    for s in &sends {
        assert_linked(&process, s);
    }
    assert!(process.links().iter().any(|l| {
        l.attributes
            .contains(&KeyValue::new("messaging.kafka.offset", 2i64))
    }));
    assert_parent(&capture.span(&format!("commit {topic}")), &process);
    capture
        .collect_metrics()
        .sum_u64("messaging.client.consumed.messages")
        .assert_value(
            &[KeyValue::new("messaging.destination.name", topic.clone())],
            3,
        );
}

#[tokio::test]
async fn malformed_null_binary_duplicate_and_missing_headers() {
    let capture = capture();
    let kafka = Kafka::new();
    let topic = kafka.topic("bad", 1);
    let tracing = tracing(&capture);
    let raw = kafka.producer();
    let cases = vec![
        Some(OwnedHeaders::new().insert(Header::<&[u8]> {
            key: "traceparent",
            value: None,
        })),
        Some(OwnedHeaders::new().insert(Header {
            key: "traceparent",
            value: Some(&[0xffu8, 0xfe, 0x00, 0x80][..]),
        })),
        Some(OwnedHeaders::new().insert(Header {
            key: "traceparent",
            value: Some(format!("{TRACEPARENT}{}", "0".repeat(50_000)).as_str()),
        })),
        Some(
            OwnedHeaders::new()
                .insert(Header {
                    key: "traceparent",
                    value: Some(TRACEPARENT),
                })
                .insert(Header {
                    key: "traceparent",
                    value: Some(TRACEPARENT),
                }),
        ),
        Some(OwnedHeaders::new().insert(Header {
            key: "traceparent",
            value: Some("00-zz-not-valid"),
        })),
        None,
    ];
    let n = cases.len();
    for (i, h) in cases.into_iter().enumerate() {
        raw_send(&raw, &topic, format!("m{i}").as_bytes(), h).await;
    }
    let consumer = kafka.traced_consumer(&tracing, "g4", &topic);
    for i in 0..n {
        let m = poll_one(consumer.consumer()).await;
        let expected = format!("m{i}");
        assert_eq!(m.payload(), Some(expected.as_bytes()));
        consumer.process(m).end();
    }
    let processes = capture.spans_named(&format!("process {topic}"));
    assert_eq!(processes.len(), n);
    for p in &processes {
        assert_root(p);
        assert!(p.links().is_empty(), "{:?}", p.links());
    }
}

#[tokio::test]
async fn propagation_toggle_and_existing_trace_headers_replaced() {
    common::propagator();
    // The injector replaces a stale traceparent instead of duplicating it.
    let stale = OwnedHeaders::new()
        .insert(Header {
            key: "traceparent",
            value: Some("00-11111111111111111111111111111111-2222222222222222-01"),
        })
        .insert(Header {
            key: "x-user",
            value: Some(&b"\xffbin"[..]),
        });
    let mut injector = KafkaHeaderInjector::new();
    use otel_kit_core::opentelemetry::propagation::{Extractor, Injector};
    injector.set("traceparent", TRACEPARENT.to_owned());
    let merged = injector.apply(Some(stale));
    assert_eq!(merged.count(), 2);
    let ex = KafkaHeaderExtractor(&merged);
    assert_eq!(ex.get_all("traceparent").unwrap(), vec![TRACEPARENT]);
    assert_eq!(ex.get("x-user"), None, "binary values are skipped");

    let capture = capture();
    let kafka = Kafka::new();
    let topic = kafka.topic("noprop", 1);
    let tracing = builder(&capture).propagate(false).build();
    let producer = kafka.traced_producer(&tracing);
    producer
        .send(
            FutureRecord::<(), [u8]>::to(&topic).payload(&b"x"[..]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let consumer = kafka.traced_consumer(&tracing, "g5", &topic);
    let m = poll_one(consumer.consumer()).await;
    assert!(m.headers().is_none_or(|h| h.count() == 0));
    consumer.process(m).end();
    let process = capture.span(&format!("process {topic}"));
    assert!(process.links().is_empty());
    assert_root(&process);
}

#[tokio::test]
async fn failed_send_records_error_type() {
    let capture = capture();
    let kafka = Kafka::new();
    let topic = kafka.topic("err", 1);
    let producer = kafka.traced_producer(&tracing(&capture));
    let result = producer
        .send(
            FutureRecord::<(), [u8]>::to(&topic)
                .partition(42)
                .payload(&b"x"[..]),
            Duration::from_secs(5),
        )
        .await;
    assert!(result.is_err());
    let send = capture.span(&format!("send {topic}"));
    send.assert_error();
    let error_type = send.attr_str("error.type").unwrap().to_owned();
    // The librdkafka error code name, by the family's error.type rule.
    assert_eq!(error_type, "UnknownPartition");
    capture
        .collect_metrics()
        .sum_u64("messaging.client.sent.messages")
        .assert_value(&[KeyValue::new("error.type", error_type)], 1);
}

#[tokio::test]
async fn statistics_bridge_records_gauges() {
    let capture = capture();
    let kafka = Kafka::new();
    let topic = kafka.topic("stats", 1);
    let recorder = StatsRecorder::with_provider(&capture.meter_provider());
    let producer: FutureProducer<StatsContext> = kafka
        .config()
        .set("statistics.interval.ms", "100")
        .set("client.id", "stats-client")
        .create_with_context(StatsContext::new(recorder.clone()))
        .unwrap();
    producer
        .send(
            FutureRecord::<(), [u8]>::to(&topic).payload(&b"x"[..]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let consumer: std::sync::Arc<StreamConsumer<StatsContext>> = kafka
        .consumer_config("g6")
        .set("statistics.interval.ms", "100")
        .set("client.id", "stats-consumer")
        .create_with_context(StatsContext::new(recorder))
        .map(std::sync::Arc::new)
        .unwrap();
    Kafka::assign(consumer.as_ref(), &topic);
    let m = tokio::time::timeout(DELIVERY_WAIT, consumer.recv())
        .await
        .expect("message in time")
        .unwrap();
    // librdkafka computes the lag from the committed offset.
    consumer.commit_message(&m, CommitMode::Sync).unwrap();
    drop(m);
    // Statistics are served while the consumer is polled.
    let poller = {
        let consumer = consumer.clone();
        tokio::spawn(async move {
            loop {
                let _ = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await;
            }
        })
    };

    let deadline = std::time::Instant::now() + DELIVERY_WAIT;
    loop {
        let metrics = capture.collect_metrics();
        let names = metrics.names();
        let ready = [
            "kafka.client.transmitted.bytes",
            "kafka.broker.rtt",
            "kafka.consumer.lag",
        ]
        .iter()
        .all(|n| names.contains(n));
        if ready {
            let tx = metrics.gauge_i64("kafka.client.transmitted.bytes");
            assert!(tx.value_with(&[KeyValue::new("messaging.client.id", "stats-client")]) > 0);
            metrics.gauge_i64("kafka.consumer.lag").point_with(&[
                KeyValue::new("messaging.client.id", "stats-consumer"),
                KeyValue::new("messaging.destination.name", topic.clone()),
            ]);
            metrics.gauge_u64("kafka.client.queue.messages");
            poller.abort();
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "statistics gauges missing: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn base_consumer_poll_records_receive_then_process() {
    let capture = capture();
    let kafka = Kafka::new();
    let topic = kafka.topic("poll", 1);
    let tracing = tracing(&capture);
    let producer = kafka.traced_producer(&tracing);
    producer
        .send(
            FutureRecord::<(), [u8]>::to(&topic).payload(&b"x"[..]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let consumer = kafka.traced_consumer(&tracing, "g7", &topic);
    let deadline = std::time::Instant::now() + DELIVERY_WAIT;
    let delivered = loop {
        if let Some(r) = consumer.poll(Duration::ZERO) {
            break r.unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no message in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    delivered
        .commit(consumer.consumer(), CommitMode::Sync)
        .unwrap();
    delivered.end();

    let send = capture.span(&format!("send {topic}"));
    let receive = capture.span(&format!("poll {topic}"));
    receive
        .assert_kind(SpanKind::Client)
        .assert_attr("messaging.operation.type", "receive")
        .assert_attr("messaging.kafka.offset", 0i64)
        .assert_attr("messaging.consumer.group.name", "g7");
    assert_linked(&receive, &send);
    let process = capture.span(&format!("process {topic}"));
    assert_linked(&process, &send);
    assert_parent(&capture.span(&format!("commit {topic}")), &process);
    let metrics = capture.collect_metrics();
    // Counted once (by the receive), not twice.
    assert_eq!(
        metrics
            .sum_u64("messaging.client.consumed.messages")
            .matching(&[KeyValue::new("messaging.destination.name", topic.clone())])
            .map(|p| p.value)
            .sum::<u64>(),
        1
    );
    metrics
        .histogram("messaging.client.operation.duration")
        .assert_count(
            &[
                KeyValue::new("messaging.destination.name", topic.clone()),
                KeyValue::new("messaging.operation.type", "receive"),
            ],
            1,
        );
}

/// The span id in a consumed message's `traceparent` header.
fn traceparent_span_id<M: Message>(message: &M) -> String {
    use otel_kit_core::opentelemetry::propagation::Extractor;
    let headers = message.headers().expect("headers");
    let extractor = KafkaHeaderExtractor(headers);
    let value = extractor.get("traceparent").expect("traceparent");
    value.split('-').nth(2).expect("span id").to_owned()
}

#[tokio::test]
async fn send_batch_makes_create_spans_linked_from_one_client_send_span() {
    let capture = capture();
    let kafka = Kafka::new();
    let topic = kafka.topic("sendbatch", 1);
    let producer = kafka
        .traced_producer(&tracing(&capture))
        .with_client_id("batcher")
        .with_cluster_id_from_cluster(Duration::from_secs(5));
    let cluster_id = producer.cluster_id().expect("mock cluster id").to_owned();
    assert!(!cluster_id.is_empty());

    // The third record carries a context the user created: kept, linked,
    // no create span for it.
    let user_headers = OwnedHeaders::new().insert(Header {
        key: "traceparent",
        value: Some(TRACEPARENT),
    });
    let records = vec![
        FutureRecord::<str, [u8]>::to(&topic)
            .key("k0")
            .payload(&b"zero"[..]),
        FutureRecord::<str, [u8]>::to(&topic).payload(&b"one!"[..]),
        FutureRecord::<str, [u8]>::to(&topic)
            .payload(&b"two"[..])
            .headers(user_headers),
    ];
    let results = producer.send_batch(records, Duration::from_secs(5)).await;
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(Result::is_ok));

    let creates = capture.spans_named(&format!("create {topic}"));
    assert_eq!(creates.len(), 2, "{}", capture.tree());
    for create in &creates {
        create
            .assert_kind(SpanKind::Producer)
            .assert_attr("messaging.operation.type", "create")
            .assert_attr("messaging.operation.name", "create")
            .assert_attr("messaging.destination.name", topic.as_str())
            .assert_attr("messaging.kafka.cluster.id", cluster_id.as_str())
            .assert_no_attr("messaging.client.id")
            .assert_no_attr("messaging.batch.message_count");
    }
    let keyed = creates
        .iter()
        .find(|c| c.attr_str("messaging.kafka.message.key") == Some("k0"))
        .expect("create span of the keyed record");
    keyed.assert_attr("messaging.message.body.size", 4i64);

    let send = capture.span(&format!("send {topic}"));
    send.assert_kind(SpanKind::Client)
        .assert_attr("messaging.operation.type", "send")
        .assert_attr("messaging.batch.message_count", 3i64)
        .assert_attr("messaging.destination.partition.id", "0")
        .assert_attr("messaging.client.id", "batcher")
        .assert_attr("messaging.kafka.cluster.id", cluster_id.as_str())
        .assert_no_attr("messaging.kafka.message.key")
        .assert_no_attr("messaging.message.body.size")
        .assert_not_error();
    assert_eq!(send.links().len(), 3);
    for create in &creates {
        assert_linked(&send, create);
    }
    let user_span_id = TRACEPARENT.split('-').nth(2).unwrap();
    assert!(
        send.links()
            .iter()
            .any(|l| format!("{:016x}", l.span_context.span_id()) == user_span_id)
    );

    // Each consumed record carries its own creation context.
    let consumer: BaseConsumer = kafka.consumer_config("gb").create().unwrap();
    Kafka::assign(&consumer, &topic);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(traceparent_span_id(&poll_one(&consumer).await));
    }
    let mut expected: Vec<String> = creates
        .iter()
        .map(|c| format!("{:016x}", c.span_id()))
        .collect();
    expected.push(user_span_id.to_owned());
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);

    let metrics = capture.collect_metrics();
    let dest = KeyValue::new("messaging.destination.name", topic.clone());
    metrics
        .sum_u64("messaging.client.sent.messages")
        .assert_value(
            &[
                dest.clone(),
                KeyValue::new("messaging.operation.name", "send"),
            ],
            3,
        );
    metrics
        .histogram("messaging.client.operation.duration")
        .assert_count(
            &[dest, KeyValue::new("messaging.operation.type", "create")],
            2,
        );
}

#[tokio::test]
async fn send_batch_without_create_spans_propagates_the_producer_send_span() {
    let capture = capture();
    let kafka = Kafka::new();
    let topic_a = kafka.topic("nocreate-a", 1);
    let topic_b = kafka.topic("nocreate-b", 1);
    let producer = TracedProducer::new(
        kafka.producer(),
        builder(&capture).create_spans(false).build(),
    );
    let records = vec![
        FutureRecord::<(), [u8]>::to(&topic_a).payload(&b"a"[..]),
        FutureRecord::<(), [u8]>::to(&topic_b).payload(&b"b"[..]),
    ];
    let results = producer.send_batch(records, Duration::from_secs(5)).await;
    assert!(results.iter().all(Result::is_ok));

    assert!(capture.find(|s| s.name.starts_with("create")).is_none());
    // Two topics: no destination in the name or attributes.
    let send = capture.span("send");
    send.assert_kind(SpanKind::Producer)
        .assert_attr("messaging.batch.message_count", 2i64)
        .assert_no_attr("messaging.destination.name");
    assert!(send.links().is_empty());
    let send_id = format!("{:016x}", send.span_id());
    for topic in [&topic_a, &topic_b] {
        let consumer: BaseConsumer = kafka.consumer_config("gn").create().unwrap();
        Kafka::assign(&consumer, topic);
        assert_eq!(traceparent_span_id(&poll_one(&consumer).await), send_id);
    }
}

#[tokio::test]
async fn cluster_id_is_recorded_on_consumer_and_settle_spans() {
    let capture = capture();
    let kafka = Kafka::new();
    let topic = kafka.topic("cluster", 1);
    raw_send(&kafka.producer(), &topic, b"x", None).await;
    let consumer = kafka
        .traced_consumer(&tracing(&capture), "gc", &topic)
        .with_cluster_id_from_cluster(Duration::from_secs(5));
    let cluster_id = consumer.cluster_id().expect("mock cluster id").to_owned();
    let deadline = std::time::Instant::now() + DELIVERY_WAIT;
    let delivered = loop {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            break m.unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no message in time");
    };
    delivered
        .commit(consumer.consumer(), CommitMode::Sync)
        .unwrap();
    delivered.end();
    for name in ["poll", "process", "commit"] {
        capture
            .span(&format!("{name} {topic}"))
            .assert_attr("messaging.kafka.cluster.id", cluster_id.as_str())
            .assert_attr("messaging.consumer.group.name", "gc")
            .assert_no_attr("messaging.destination.subscription.name");
    }
}

#[tokio::test]
async fn builder_propagator_carries_context_and_baggage_in_both_modes() {
    // The global propagator is W3C trace context (set by `capture()`); the
    // instrumentation uses B3 plus baggage instead.
    for mode in [ProcessMode::Link, ProcessMode::Parent] {
        let capture = capture();
        let kafka = Kafka::new();
        let topic = kafka.topic("b3", 1);
        let tracing = builder(&capture)
            .process_mode(mode)
            .propagator(TextMapCompositePropagator::new(vec![
                Box::new(B3Propagator::single()),
                Box::new(BaggagePropagator::new()),
            ]))
            .build();
        let producer = kafka.traced_producer(&tracing);
        producer
            .send(
                FutureRecord::<(), [u8]>::to(&topic).payload(&b"x"[..]),
                Duration::from_secs(5),
            )
            .with_context(Context::new().with_baggage([KeyValue::new("tenant", "acme")]))
            .await
            .unwrap();

        let consumer = kafka.traced_consumer(&tracing, "g-b3", &topic);
        let message = poll_one(consumer.consumer()).await;
        let keys: Vec<&str> = message.headers().unwrap().iter().map(|h| h.key).collect();
        assert!(
            keys.contains(&"b3") && keys.contains(&"baggage"),
            "{keys:?}"
        );
        assert!(!keys.contains(&"traceparent"), "{keys:?}");
        let delivered = consumer.process(message);
        let tenant = delivered
            .context()
            .baggage()
            .get("tenant")
            .map(|v| v.as_str().to_owned());
        assert_eq!(tenant.as_deref(), Some("acme"), "{mode:?}");
        delivered.end();

        let send = capture.span(&format!("send {topic}"));
        let process = capture.span(&format!("process {topic}"));
        common::assert_process_follows(mode, &process, &send);
    }
}
