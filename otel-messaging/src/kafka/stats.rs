//! librdkafka statistics (`statistics.interval.ms`) as OpenTelemetry
//! gauges.
//!
//! | metric | unit | attributes | from |
//! | --- | --- | --- | --- |
//! | `kafka.broker.rtt` | `s` | `kafka.broker.name`, `kafka.broker.id` | broker `rtt.avg` |
//! | `kafka.consumer.lag` | `{message}` | `messaging.destination.name`, `messaging.destination.partition.id` | partition `consumer_lag` (from the committed offset), else `consumer_lag_stored` (from the stored offset); absent while neither is known |
//! | `kafka.client.queue.messages` | `{message}` | | `msg_cnt` (producer queue) |
//! | `kafka.client.queue.bytes` | `By` | | `msg_size` |
//! | `kafka.client.transmitted.bytes` | `By` | | `tx_bytes` (total since start) |
//! | `kafka.client.received.bytes` | `By` | | `rx_bytes` (total since start) |
//!
//! Every point also has `messaging.system = kafka` and `messaging.client.id`.
//! These names are this project's (no semantic convention covers them).

use otel_kit_core::opentelemetry::metrics::{Gauge, Meter, MeterProvider};
use otel_kit_core::opentelemetry::{KeyValue, global};
use otel_kit_core::semconv::attribute as attr;
use rdkafka::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::statistics::Statistics;

/// Records librdkafka statistics as gauges. Use it from your own
/// `ClientContext::stats`, or use [`StatsContext`].
///
/// ```
/// use otel_kit_messaging::kafka::StatsRecorder;
/// use otel_kit_core::opentelemetry::global;
///
/// // Gauges on a meter of your choice (the default: the global provider).
/// let recorder = StatsRecorder::new(&global::meter("kafka-stats"));
/// # let _ = recorder;
/// ```
#[derive(Clone, Debug)]
pub struct StatsRecorder {
    rtt: Gauge<f64>,
    lag: Gauge<i64>,
    queue_messages: Gauge<u64>,
    queue_bytes: Gauge<u64>,
    tx_bytes: Gauge<i64>,
    rx_bytes: Gauge<i64>,
}

impl Default for StatsRecorder {
    fn default() -> Self {
        Self::new(&global::meter_provider().meter_with_scope(crate::instrumentation::scope()))
    }
}

impl StatsRecorder {
    /// Gauges on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            rtt: meter
                .f64_gauge("kafka.broker.rtt")
                .with_unit("s")
                .with_description("Average broker round-trip time (librdkafka statistics).")
                .build(),
            lag: meter
                .i64_gauge("kafka.consumer.lag")
                .with_unit("{message}")
                .with_description("Consumer lag per partition (librdkafka statistics).")
                .build(),
            queue_messages: meter
                .u64_gauge("kafka.client.queue.messages")
                .with_unit("{message}")
                .with_description("Messages waiting in the client's producer queue.")
                .build(),
            queue_bytes: meter
                .u64_gauge("kafka.client.queue.bytes")
                .with_unit("By")
                .with_description("Bytes waiting in the client's producer queue.")
                .build(),
            tx_bytes: meter
                .i64_gauge("kafka.client.transmitted.bytes")
                .with_unit("By")
                .with_description("Bytes sent to brokers since the client started.")
                .build(),
            rx_bytes: meter
                .i64_gauge("kafka.client.received.bytes")
                .with_unit("By")
                .with_description("Bytes received from brokers since the client started.")
                .build(),
        }
    }

    /// Gauges on a meter of `provider`.
    pub fn with_provider<P: MeterProvider>(provider: &P) -> Self {
        Self::new(&provider.meter_with_scope(crate::instrumentation::scope()))
    }

    /// Records one statistics report.
    pub fn record(&self, stats: &Statistics) {
        let base = [
            KeyValue::new(attr::MESSAGING_SYSTEM, "kafka"),
            KeyValue::new(attr::MESSAGING_CLIENT_ID, stats.client_id.clone()),
        ];
        self.queue_messages.record(stats.msg_cnt, &base);
        self.queue_bytes.record(stats.msg_size, &base);
        self.tx_bytes.record(stats.tx_bytes, &base);
        self.rx_bytes.record(stats.rx_bytes, &base);
        for broker in stats.brokers.values() {
            if let Some(rtt) = &broker.rtt {
                if rtt.cnt == 0 {
                    continue;
                }
                let mut attrs = base.to_vec();
                attrs.push(KeyValue::new("kafka.broker.name", broker.name.clone()));
                attrs.push(KeyValue::new("kafka.broker.id", i64::from(broker.nodeid)));
                self.rtt.record(rtt.avg as f64 / 1_000_000.0, &attrs);
            }
        }
        for topic in stats.topics.values() {
            for partition in topic.partitions.values() {
                let lag = if partition.consumer_lag >= 0 {
                    partition.consumer_lag
                } else {
                    partition.consumer_lag_stored
                };
                if partition.partition < 0 || lag < 0 {
                    continue;
                }
                let mut attrs = base.to_vec();
                attrs.push(KeyValue::new(
                    attr::MESSAGING_DESTINATION_NAME,
                    topic.topic.clone(),
                ));
                attrs.push(KeyValue::new(
                    attr::MESSAGING_DESTINATION_PARTITION_ID,
                    partition.partition.to_string(),
                ));
                self.lag.record(lag, &attrs);
            }
        }
    }
}

/// A client and consumer context that forwards librdkafka statistics to a
/// [`StatsRecorder`]. Enable them with `statistics.interval.ms` in the
/// client configuration, then create the client with
/// `create_with_context(StatsContext::new(recorder))`. librdkafka delivers
/// statistics while the client is polled (a consumer's stream or `poll`
/// loop, a producer's background polling).
///
/// ```no_run
/// use otel_kit_messaging::Instrumentation;
/// use otel_kit_messaging::kafka::rdkafka::ClientConfig;
/// use otel_kit_messaging::kafka::rdkafka::consumer::StreamConsumer;
/// use otel_kit_messaging::kafka::{StatsContext, StatsRecorder, TracedConsumer};
///
/// # fn run() -> Result<(), otel_kit_messaging::kafka::rdkafka::error::KafkaError> {
/// let mut config = ClientConfig::new();
/// config
///     .set("bootstrap.servers", "127.0.0.1:9092")
///     .set("group.id", "billing")
///     .set("statistics.interval.ms", "5000"); // kafka.consumer.lag, kafka.broker.rtt...
/// let consumer: TracedConsumer<StreamConsumer<StatsContext>> = TracedConsumer::from_config_and_context(
///     &config,
///     StatsContext::new(StatsRecorder::default()),
///     Instrumentation::default(),
/// )?;
/// # let _ = consumer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct StatsContext {
    recorder: StatsRecorder,
}

impl StatsContext {
    /// A context recording into `recorder`.
    pub fn new(recorder: StatsRecorder) -> Self {
        Self { recorder }
    }
}

impl ClientContext for StatsContext {
    fn stats(&self, statistics: Statistics) {
        self.recorder.record(&statistics);
    }
}

impl ConsumerContext for StatsContext {}
