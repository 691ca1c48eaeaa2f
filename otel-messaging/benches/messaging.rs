//! Carrier inject/extract per system, and traced vs raw publish and consume
//! throughput for NATS (the real server on 127.0.0.1:4222, or
//! `OTEL_TEST_NATS_URL`) and Kafka (librdkafka's in-process mock cluster),
//! in one run.
//!
//! Consume groups (`nats_consume`, `kafka_consume`): the messages carry a
//! sampled `traceparent` (as from a traced producer) and are published
//! untimed by a raw client; the timed part is taking `BATCH` messages off
//! the subscription / consumer, and for `traced` starting and ending the
//! process span of each (`TracedSubscriber`, `TracedConsumer::recv`).
//!
//! NATS publish groups: `nats_publish` times BATCH publishes followed by a
//! server round trip (a request the server itself answers with "no
//! responders"), i.e. messages received by the server per second;
//! `nats_enqueue` times only the publish calls (handing the message to the
//! connection). Both for raw, raw with one `traceparent` header, and traced,
//! at 128 B and 1 KiB.
//!
//! `cargo bench -p otel-kit-messaging --all-features --bench messaging`
//!
//! Traced runs use an SDK tracer provider with a batch processor over an
//! exporter that drops everything and a meter provider whose reader never
//! exports during the run (hourly interval):
//! the numbers are the instrumentation's cost on the publish path, not
//! export.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use futures_util::future::join_all;
use otel_kit_core::opentelemetry::propagation::Extractor;
use otel_kit_core::opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use otel_kit_core::opentelemetry::{Context, global};
use otel_kit_core::opentelemetry_sdk::error::OTelSdkResult;
use otel_kit_core::opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
};
use otel_kit_core::opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use otel_kit_core::propagation::TraceContextPropagator;
use otel_kit_messaging::Instrumentation;
use otel_kit_messaging::kafka::rdkafka::config::ClientConfig;
use otel_kit_messaging::kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use otel_kit_messaging::kafka::rdkafka::message::{Headers, OwnedHeaders};
use otel_kit_messaging::kafka::rdkafka::mocking::MockCluster;
use otel_kit_messaging::kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use otel_kit_messaging::kafka::{
    KafkaHeaderExtractor, KafkaHeaderInjector, TracedConsumer, TracedProducer,
};
use otel_kit_messaging::nats::{NatsHeaderExtractor, NatsHeaderInjector, TracedClient, async_nats};
use otel_kit_messaging::rabbitmq::lapin::types::FieldTable;
use otel_kit_messaging::rabbitmq::{AmqpHeaderExtractor, AmqpHeaderInjector};

/// Drops every span.
#[derive(Debug)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

const BATCH: usize = 100;

fn instrumentation() -> (Instrumentation, SdkTracerProvider, SdkMeterProvider) {
    let tracer_provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(NoopExporter).build())
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let inst = Instrumentation::builder()
        .tracer_provider(&tracer_provider)
        .meter_provider(&meter_provider)
        .build();
    (inst, tracer_provider, meter_provider)
}

fn sampled_context() -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128),
        SpanId::from(0x00f0_67aa_0ba9_02b7u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

fn carriers(c: &mut Criterion) {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let cx = sampled_context();
    let mut group = c.benchmark_group("carrier");

    group.bench_function("nats/inject", |b| {
        b.iter(|| {
            let mut headers = async_nats::HeaderMap::new();
            otel_kit_core::propagation::inject(&cx, &mut NatsHeaderInjector(&mut headers));
            black_box(headers)
        })
    });
    let mut nats_headers = async_nats::HeaderMap::new();
    otel_kit_core::propagation::inject(&cx, &mut NatsHeaderInjector(&mut nats_headers));
    nats_headers.insert("x-other", "value");
    group.bench_function("nats/extract", |b| {
        b.iter(|| {
            black_box(otel_kit_core::propagation::extract_with(
                &Context::new(),
                &NatsHeaderExtractor(&nats_headers),
            ))
        })
    });

    group.bench_function("amqp/inject", |b| {
        b.iter(|| {
            let mut table = FieldTable::default();
            otel_kit_core::propagation::inject(&cx, &mut AmqpHeaderInjector(&mut table));
            black_box(table)
        })
    });
    let mut table = FieldTable::default();
    otel_kit_core::propagation::inject(&cx, &mut AmqpHeaderInjector(&mut table));
    group.bench_function("amqp/extract", |b| {
        b.iter(|| {
            black_box(otel_kit_core::propagation::extract_with(
                &Context::new(),
                &AmqpHeaderExtractor(&table),
            ))
        })
    });

    group.bench_function("kafka/inject", |b| {
        b.iter(|| {
            let mut injector = KafkaHeaderInjector::new();
            otel_kit_core::propagation::inject(&cx, &mut injector);
            black_box(injector.apply(None))
        })
    });
    let mut injector = KafkaHeaderInjector::new();
    otel_kit_core::propagation::inject(&cx, &mut injector);
    let kafka_headers: OwnedHeaders = injector.apply(None);
    assert!(kafka_headers.count() > 0);
    group.bench_function("kafka/extract", |b| {
        b.iter(|| {
            let ex = KafkaHeaderExtractor(&kafka_headers);
            black_box(ex.get("traceparent"));
            black_box(otel_kit_core::propagation::extract_with(
                &Context::new(),
                &ex,
            ))
        })
    });
    group.finish();
}

/// Payload sizes of the NATS publish groups: a small event and a 1 KiB
/// document.
const NATS_PAYLOADS: [usize; 2] = [128, 1024];

/// A server round trip on `client`'s connection: a request to a subject
/// nobody listens on, answered by the server itself with a 503 "no
/// responders" status. The server handles a connection's messages in order,
/// so when the answer arrives every message published before it has been
/// received and processed by the server (`Client::flush` only waits for the
/// socket write).
async fn server_round_trip(client: &async_nats::Client, subject: &str) {
    match client.request(subject.to_owned(), Bytes::new()).await {
        Err(e) if e.kind() == async_nats::client::RequestErrorKind::NoResponders => {}
        other => panic!("expected a no-responders answer, got {other:?}"),
    }
}

/// What one NATS publish variant does per message.
#[derive(Clone, Copy)]
enum NatsVariant {
    Raw,
    RawWithHeader,
    Traced,
}

fn nats_publish(c: &mut Criterion) {
    global::set_text_map_propagator(TraceContextPropagator::new());
    // One thread: publishing and the connection's writer task share it, so
    // the numbers are CPU cost, not cross-thread wake-up ping-pong (which
    // penalises whichever side is slower on a 2-core machine).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url =
        std::env::var("OTEL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let Ok(client) = rt.block_on(async_nats::connect(url)) else {
        eprintln!("NATS not reachable: skipping nats_publish");
        return;
    };
    let (inst, tp, mp) = instrumentation();
    let traced = TracedClient::new(client.clone(), inst);
    let subject = format!("bench.nats.{}", std::process::id());
    let barrier = format!("bench.nats.rtt.{}", std::process::id());
    // The client's own cost of carrying one traceparent header (no span).
    let mut one_header = async_nats::HeaderMap::new();
    one_header.insert("traceparent", TRACEPARENT);

    let publish_one = |variant: NatsVariant, payload: &Bytes| {
        let (client, traced, subject, one_header) = (&client, &traced, &subject, &one_header);
        let payload = payload.clone();
        async move {
            match variant {
                NatsVariant::Raw => client.publish(subject.clone(), payload).await,
                NatsVariant::RawWithHeader => {
                    client
                        .publish_with_headers(subject.clone(), one_header.clone(), payload)
                        .await
                }
                NatsVariant::Traced => traced.publish(subject.clone(), payload).await,
            }
            .unwrap()
        }
    };
    let variants = [
        ("raw", NatsVariant::Raw),
        ("raw_with_header", NatsVariant::RawWithHeader),
        ("traced", NatsVariant::Traced),
    ];

    // Throughput: BATCH publishes, then a server round trip, so the time
    // covers the messages reaching (and being processed by) the server.
    let mut group = c.benchmark_group("nats_publish");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in NATS_PAYLOADS {
        let payload = Bytes::from(vec![7u8; size]);
        for (name, variant) in variants {
            group.bench_function(format!("{name}/{size}"), |b| {
                b.iter(|| {
                    rt.block_on(async {
                        for _ in 0..BATCH {
                            publish_one(variant, &payload).await;
                        }
                        server_round_trip(&client, &barrier).await;
                    })
                })
            });
        }
    }
    // Breakdown at 128 B: spans only (metrics on the no-op meter), and an
    // unsampled tracer (metrics and headers still recorded/injected).
    let spans_only = TracedClient::new(
        client.clone(),
        Instrumentation::builder()
            .tracer_provider(&tp)
            .meter_provider(&otel_kit_core::opentelemetry::metrics::noop::NoopMeterProvider::new())
            .build(),
    );
    let unsampled_provider = SdkTracerProvider::builder()
        .with_sampler(otel_kit_core::opentelemetry_sdk::trace::Sampler::AlwaysOff)
        .build();
    let unsampled = TracedClient::new(
        client.clone(),
        Instrumentation::builder()
            .tracer_provider(&unsampled_provider)
            .meter_provider(&mp)
            .build(),
    );
    let payload = Bytes::from(vec![7u8; NATS_PAYLOADS[0]]);
    for (name, client_variant) in [
        ("traced_spans_only", &spans_only),
        ("traced_unsampled", &unsampled),
    ] {
        group.bench_function(format!("{name}/{}", NATS_PAYLOADS[0]), |b| {
            b.iter(|| {
                rt.block_on(async {
                    for _ in 0..BATCH {
                        client_variant
                            .publish(subject.clone(), payload.clone())
                            .await
                            .unwrap();
                    }
                    server_round_trip(&client, &barrier).await;
                })
            })
        });
    }
    group.finish();

    // Enqueue cost: only the BATCH publish calls are timed (the message is
    // handed to the connection's channel); the round trip that drains the
    // connection afterwards is not.
    let mut group = c.benchmark_group("nats_enqueue");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in NATS_PAYLOADS {
        let payload = Bytes::from(vec![7u8; size]);
        for (name, variant) in variants {
            group.bench_function(format!("{name}/{size}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        rt.block_on(async {
                            let start = std::time::Instant::now();
                            for _ in 0..BATCH {
                                publish_one(variant, &payload).await;
                            }
                            total += start.elapsed();
                            server_round_trip(&client, &barrier).await;
                        })
                    }
                    total
                })
            });
        }
    }
    group.finish();
}

fn kafka_send(c: &mut Criterion) {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cluster = MockCluster::new(1).unwrap();
    let topic = format!("bench-{}", std::process::id());
    cluster.create_topic(&topic, 1, 1).unwrap();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("linger.ms", "1")
        .create()
        .unwrap();
    let (inst, _tp, _mp) = instrumentation();
    let traced = TracedProducer::new(producer.clone(), inst);
    let payload = vec![7u8; 256];

    let mut group = c.benchmark_group("kafka_send");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("raw", |b| {
        b.iter(|| {
            rt.block_on(async {
                let sends = (0..BATCH).map(|_| {
                    producer.send(
                        FutureRecord::<(), [u8]>::to(&topic).payload(&payload[..]),
                        Duration::from_secs(5),
                    )
                });
                for r in join_all(sends).await {
                    r.unwrap();
                }
            })
        })
    });
    group.bench_function("traced", |b| {
        b.iter(|| {
            rt.block_on(async {
                let sends = (0..BATCH).map(|_| {
                    traced.send(
                        FutureRecord::<(), [u8]>::to(&topic).payload(&payload[..]),
                        Duration::from_secs(5),
                    )
                });
                for r in join_all(sends).await {
                    r.unwrap();
                }
            })
        })
    });
    group.finish();
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn nats_consume(c: &mut Criterion) {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url =
        std::env::var("OTEL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let Ok(client) = rt.block_on(async_nats::connect(url)) else {
        eprintln!("NATS not reachable: skipping nats_consume");
        return;
    };
    let (inst, tp, mp) = instrumentation();
    let traced = TracedClient::new(client.clone(), inst);
    let payload = Bytes::from(vec![7u8; 256]);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("traceparent", TRACEPARENT);
    let raw_subject = format!("bench.nats.consume.raw.{}", std::process::id());
    let traced_subject = format!("bench.nats.consume.traced.{}", std::process::id());
    let mut raw_sub = rt.block_on(client.subscribe(raw_subject.clone())).unwrap();
    let mut traced_sub = rt
        .block_on(traced.subscribe(traced_subject.clone()))
        .unwrap();

    // Publishes one batch (untimed), then times taking it off the subscription.
    let publish = |subject: &str| {
        rt.block_on(async {
            for _ in 0..BATCH {
                client
                    .publish_with_headers(subject.to_owned(), headers.clone(), payload.clone())
                    .await
                    .unwrap();
            }
            client.flush().await.unwrap();
        })
    };
    let mut group = c.benchmark_group("nats_consume");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                publish(&raw_subject);
                let start = std::time::Instant::now();
                rt.block_on(async {
                    for _ in 0..BATCH {
                        black_box(raw_sub.next().await.unwrap());
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });
    group.bench_function("traced", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                publish(&traced_subject);
                let start = std::time::Instant::now();
                rt.block_on(async {
                    for _ in 0..BATCH {
                        let delivered = traced_sub.next().await.unwrap();
                        black_box(delivered.end());
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
    let _ = tp.shutdown();
    let _ = mp.shutdown();
}

fn kafka_consume(c: &mut Criterion) {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let rt = tokio::runtime::Runtime::new().unwrap();
    // `StreamConsumer` creation spawns onto the current Tokio runtime.
    let _runtime = rt.enter();
    let cluster = MockCluster::new(1).unwrap();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("linger.ms", "1")
        .create()
        .unwrap();
    let (inst, tp, mp) = instrumentation();
    let payload = vec![7u8; 256];
    let headers = OwnedHeaders::new().insert(otel_kit_messaging::kafka::rdkafka::message::Header {
        key: "traceparent",
        value: Some(TRACEPARENT),
    });

    // A topic and consumer per variant: `iters * BATCH` messages are produced
    // untimed, then consuming them is timed.
    let consumer_for = |topic: &str| -> StreamConsumer {
        cluster.create_topic(topic, 1, 1).unwrap();
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("group.id", format!("bench-{topic}"))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            // The broker answers a fetch at once when it has data; without
            // this an idle fetch waits 500 ms and dominates the timing.
            .set("fetch.wait.max.ms", "5")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        consumer
    };
    let produce = |topic: &str, n: u64| {
        rt.block_on(async {
            let sends = (0..n).map(|_| {
                producer.send(
                    FutureRecord::<(), [u8]>::to(topic)
                        .payload(&payload[..])
                        .headers(headers.clone()),
                    Duration::from_secs(30),
                )
            });
            for r in join_all(sends).await {
                r.unwrap();
            }
        })
    };
    let raw_topic = format!("bench-consume-raw-{}", std::process::id());
    let traced_topic = format!("bench-consume-traced-{}", std::process::id());
    let raw_consumer = consumer_for(&raw_topic);
    // The group is read from the consumer's configuration ("bench").
    let traced_consumer = TracedConsumer::new(consumer_for(&traced_topic), inst)
        .with_config(ClientConfig::new().set("group.id", "bench"));
    // Untimed: one message each, so the group join and partition assignment
    // happen before the measurement.
    for (topic, consumer) in [
        (&raw_topic, &raw_consumer),
        (&traced_topic, traced_consumer.consumer()),
    ] {
        produce(topic, 1);
        rt.block_on(async { black_box(consumer.recv().await.unwrap()) });
    }

    let mut group = c.benchmark_group("kafka_consume");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            produce(&raw_topic, iters * BATCH as u64);
            let start = std::time::Instant::now();
            rt.block_on(async {
                for _ in 0..iters * BATCH as u64 {
                    black_box(raw_consumer.recv().await.unwrap());
                }
            });
            start.elapsed()
        })
    });
    group.bench_function("traced", |b| {
        b.iter_custom(|iters| {
            produce(&traced_topic, iters * BATCH as u64);
            let start = std::time::Instant::now();
            rt.block_on(async {
                for _ in 0..iters * BATCH as u64 {
                    let message = traced_consumer.recv().await.unwrap();
                    black_box(message.end());
                }
            });
            start.elapsed()
        })
    });
    group.finish();
    let _ = tp.shutdown();
    let _ = mp.shutdown();
}

criterion_group!(
    benches,
    carriers,
    nats_publish,
    kafka_send,
    nats_consume,
    kafka_consume
);
criterion_main!(benches);
