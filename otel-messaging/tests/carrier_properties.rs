//! Property tests of the three carriers over arbitrary header bytes (run by
//! `cargo test --all-features`): extraction never panics, and the message
//! reaches the handler untouched (payload, key, every header's bytes).
//! Kafka and NATS messages are built in memory and go through the
//! wrapper's `process`; RabbitMQ deliveries come from the real broker.

mod common;

use proptest::collection::vec;
use proptest::prelude::*;

/// Header names: the propagation fields and anything else.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "traceparent",
                "tracestate",
                "baggage",
                "b3",
                "uber-trace-id",
                "TraceParent"
            ][..]
        )
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

/// Header bytes: a valid traceparent, a near miss, or any bytes at all.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(common::TRACEPARENT.as_bytes().to_vec()),
        Just(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\xff".to_vec()),
        vec(any::<u8>(), 0..64),
        vec(any::<u8>(), 8190..8194),
    ]
}

fn cases() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

#[cfg(feature = "kafka")]
mod kafka {
    use otel_kit_messaging::kafka::TracedConsumer;
    use otel_kit_messaging::kafka::rdkafka::Timestamp;
    use otel_kit_messaging::kafka::rdkafka::message::{
        Header, Headers, Message, OwnedHeaders, OwnedMessage,
    };

    use super::*;

    fn headers_of(message: &OwnedMessage) -> Vec<(String, Option<Vec<u8>>)> {
        message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default()
    }

    proptest! {
        #![proptest_config(cases())]

        #[test]
        fn arbitrary_record_headers_reach_the_handler_untouched(
            headers in vec((header_name(), prop::option::of(header_bytes())), 0..8),
            payload in prop::option::of(vec(any::<u8>(), 0..64)),
            key in prop::option::of(vec(any::<u8>(), 0..16)),
        ) {
            common::propagator();
            let capture = otel_kit_core::testing::Capture::new();
            // Starting a process span needs no consumer, only the message.
            let tracing = TracedConsumer::new((), common::instrumentation(&capture));
            let mut owned = OwnedHeaders::new();
            for (name, value) in &headers {
                owned = owned.insert(Header { key: name.as_str(), value: value.as_deref() });
            }
            let message = OwnedMessage::new(
                payload.clone(), key.clone(), "topic".into(), Timestamp::NotAvailable, 0, 7, Some(owned),
            );
            let sent = headers_of(&message);
            let delivered = tracing.process(message);
            let message = delivered.end();
            prop_assert_eq!(message.payload(), payload.as_deref());
            prop_assert_eq!(message.key(), key.as_deref());
            prop_assert_eq!(message.offset(), 7);
            prop_assert_eq!(headers_of(&message), sent);
        }
    }
}

#[cfg(feature = "nats")]
mod nats {
    use std::str::FromStr;
    use std::sync::LazyLock;

    use otel_kit_messaging::nats::TracedClient;
    use otel_kit_messaging::nats::async_nats::{self, HeaderMap, HeaderName, HeaderValue, Message};

    use super::*;

    /// One client for every case (the wrapper only needs it to exist).
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    });
    static CLIENT: LazyLock<async_nats::Client> = LazyLock::new(|| {
        RUNTIME
            .block_on(async_nats::connect(common::nats_url()))
            .expect("NATS on 127.0.0.1:4222 (see TEST_INFRA.md)")
    });

    proptest! {
        #![proptest_config(cases())]

        #[test]
        fn arbitrary_nats_headers_reach_the_handler_untouched(
            headers in vec((header_name(), header_bytes()), 0..8),
            payload in vec(any::<u8>(), 0..64),
        ) {
            common::propagator();
            let capture = otel_kit_core::testing::Capture::new();
            let traced = TracedClient::new(CLIENT.clone(), common::instrumentation(&capture));
            let mut map = HeaderMap::new();
            for (name, value) in &headers {
                let value = String::from_utf8_lossy(value);
                if let (Ok(name), Ok(value)) = (HeaderName::from_str(name), HeaderValue::from_str(&value)) {
                    map.append(name, value);
                }
            }
            let message = Message {
                subject: "props.subject".into(),
                reply: None,
                payload: payload.clone().into(),
                headers: Some(map.clone()),
                status: None,
                description: None,
                length: payload.len(),
            };
            let delivered = traced.process(message, None, None);
            let message = delivered.end();
            prop_assert_eq!(&message.payload[..], &payload[..]);
            prop_assert_eq!(message.headers, Some(map));
        }
    }
}

#[cfg(feature = "rabbitmq")]
mod rabbitmq {
    use std::sync::LazyLock;

    use futures_util::StreamExt;
    use otel_kit_messaging::rabbitmq::lapin::options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
    };
    use otel_kit_messaging::rabbitmq::lapin::types::{
        AMQPValue, FieldTable, LongString, ShortString,
    };
    use otel_kit_messaging::rabbitmq::lapin::{BasicProperties, Connection, ConnectionProperties};
    use otel_kit_messaging::rabbitmq::{TracedChannel, TracedConsumer};

    use super::*;

    struct Broker {
        traced: TracedChannel,
        queue: String,
        consumer: tokio::sync::Mutex<TracedConsumer>,
        _capture: otel_kit_core::testing::Capture,
        _connection: Connection,
    }

    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    });
    static BROKER: LazyLock<Broker> = LazyLock::new(|| {
        RUNTIME.block_on(async {
            common::propagator();
            let connection =
                Connection::connect(&common::amqp_url(), ConnectionProperties::default())
                    .await
                    .expect("RabbitMQ on 127.0.0.1:5672 (see TEST_INFRA.md)");
            let channel = connection.create_channel().await.unwrap();
            let queue = common::unique("props");
            channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        auto_delete: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .unwrap();
            let capture = otel_kit_core::testing::Capture::new();
            let traced = TracedChannel::new(channel, common::instrumentation(&capture));
            let consumer = traced
                .basic_consume(
                    queue.as_str().into(),
                    ShortString::from(format!("c-{queue}")),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
            Broker {
                traced,
                queue,
                consumer: tokio::sync::Mutex::new(consumer),
                _capture: capture,
                _connection: connection,
            }
        })
    });

    proptest! {
        #![proptest_config(cases())]

        #[test]
        fn arbitrary_amqp_headers_reach_the_handler_untouched(
            headers in vec((header_name(), header_bytes()), 0..8),
            payload in vec(any::<u8>(), 0..64),
        ) {
            let broker = &*BROKER;
            let mut table = FieldTable::default();
            for (name, value) in &headers {
                if let Ok(name) = ShortString::try_new(name.clone()) {
                    table.insert(name, AMQPValue::LongString(LongString::from(value.clone())));
                }
            }
            let delivery = RUNTIME.block_on(async {
                // The raw channel publishes: the producer side adds nothing.
                broker
                    .traced
                    .channel()
                    .basic_publish(
                        "".into(),
                        broker.queue.as_str().into(),
                        BasicPublishOptions::default(),
                        &payload,
                        BasicProperties::default().with_headers(table.clone()),
                    )
                    .await
                    .unwrap();
                let mut consumer = broker.consumer.lock().await;
                tokio::time::timeout(common::DELIVERY_WAIT, consumer.next())
                    .await
                    .expect("delivery in time")
                    .expect("consumer open")
                    .expect("delivery ok")
            });
            let delivery = delivery.end();
            RUNTIME.block_on(delivery.acker.ack(BasicAckOptions::default())).unwrap();
            prop_assert_eq!(&delivery.data, &payload);
            let got = delivery.properties.headers().clone().unwrap_or_default();
            prop_assert_eq!(got, table);
        }
    }
}
