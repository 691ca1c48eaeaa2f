//! [`TracedProducer`]: a [`FutureProducer`] whose sends are `send` spans
//! ending at the delivery report, single records and batches.

use otel_kit_core::instrument::HeaderCapture;
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::trace::SpanContext;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::semconv::attribute as attr;
use rdkafka::config::{FromClientConfig, FromClientConfigAndContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::{Headers, ToBytes};
use rdkafka::producer::future_producer::{Delivery, OwnedDeliveryResult};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::{AsyncRuntime, DefaultRuntime, Timeout};
use rdkafka::{ClientConfig, ClientContext};

use super::client::{KafkaClient, kafka_options};
use super::{KafkaHeaderExtractor, KafkaHeaderInjector, error_type};
use crate::instrumentation::Instrumentation;
use crate::operation::{OperationType, shared_value};
use crate::span_start::OutgoingMessage;

/// A [`FutureProducer`] whose sends are traced: each `send` is a
/// `send {topic}` PRODUCER span whose context travels in the record
/// headers, ending at the delivery report. Cheap to clone.
///
/// ```no_run
/// use otel_kit_messaging::Instrumentation;
/// use otel_kit_messaging::kafka::TracedProducer;
/// use otel_kit_messaging::kafka::rdkafka::ClientConfig;
/// use otel_kit_messaging::kafka::rdkafka::producer::FutureRecord;
/// use std::time::Duration;
///
/// # async fn run() -> Result<(), otel_kit_messaging::kafka::rdkafka::error::KafkaError> {
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092").set("client.id", "checkout");
/// // `client.id` and the first bootstrap broker become span attributes.
/// let producer: TracedProducer = TracedProducer::from_config(&config, Instrumentation::default())?;
/// producer
///     .send(
///         FutureRecord::to("orders").key("order-1").payload("{\"total\":42}"),
///         Duration::from_secs(5),
///     )
///     .await
///     .map_err(|(e, _)| e)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TracedProducer<C = rdkafka::client::DefaultClientContext, R = DefaultRuntime>
where
    C: ClientContext + 'static,
{
    producer: FutureProducer<C, R>,
    client: KafkaClient,
}

impl<C: ClientContext + 'static, R> std::fmt::Debug for TracedProducer<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedProducer")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl<C, R> TracedProducer<C, R>
where
    C: ClientContext + 'static,
{
    /// Wraps `producer`. Its `client.id` and bootstrap broker are not
    /// readable from a created producer: use
    /// [`from_config`](Self::from_config) or
    /// [`with_config`](Self::with_config) to record them.
    pub fn new(producer: FutureProducer<C, R>, instrumentation: Instrumentation) -> Self {
        Self {
            producer,
            client: KafkaClient::new(instrumentation),
        }
    }

    /// Creates the producer from `config` and wraps it, recording the
    /// configuration's `client.id` and first `bootstrap.servers` entry.
    pub fn from_config(config: &ClientConfig, instrumentation: Instrumentation) -> KafkaResult<Self>
    where
        FutureProducer<C, R>: FromClientConfig,
    {
        Ok(Self::new(config.create()?, instrumentation).with_config(config))
    }

    /// [`from_config`](Self::from_config) with a client context.
    pub fn from_config_and_context(
        config: &ClientConfig,
        context: C,
        instrumentation: Instrumentation,
    ) -> KafkaResult<Self>
    where
        FutureProducer<C, R>: FromClientConfigAndContext<C>,
    {
        Ok(Self::new(config.create_with_context(context)?, instrumentation).with_config(config))
    }

    kafka_options!();

    /// `messaging.kafka.cluster.id` as the cluster reports it (a metadata
    /// request, waiting at most `timeout`). Unchanged when the cluster does
    /// not answer in time.
    pub fn with_cluster_id_from_cluster(mut self, timeout: impl Into<Timeout>) -> Self
    where
        R: AsyncRuntime,
    {
        use rdkafka::producer::Producer as _;
        if let Some(id) = self.producer.client().fetch_cluster_id(timeout) {
            self.client.set_cluster_id(id);
        }
        self
    }

    /// The wrapped producer (untraced sends, flush, transactions).
    pub fn producer(&self) -> &FutureProducer<C, R> {
        &self.producer
    }
}

impl<C, R> TracedProducer<C, R>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
{
    /// Sends `record` in a `send {topic}` PRODUCER span whose context is
    /// added to the record headers (existing headers kept). The span ends
    /// when the delivery report arrives and records the partition and
    /// offset, or the error (`error.type` = librdkafka error code).
    /// Payload and key are passed through by reference, never copied.
    pub async fn send<K, P, T>(
        &self,
        mut record: FutureRecord<'_, K, P>,
        queue_timeout: T,
    ) -> OwnedDeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        T: Into<Timeout>,
    {
        let inst = &self.client.inst;
        let op = self.client.record_op(&record);
        let mut span = inst.start(&op, &Context::current(), Vec::new(), |late| {
            if let Some(h) = &record.headers {
                inst.capture_from(&KafkaHeaderExtractor(h))(late);
            }
        });
        if inst.propagates() {
            let mut injector = KafkaHeaderInjector::new();
            inst.inject(span.context(), &mut injector);
            if !injector.is_empty() {
                record.headers = Some(injector.apply(record.headers.take()));
            }
        }
        let result = self
            .producer
            .send(record, queue_timeout)
            .with_context(span.context().clone())
            .await;
        match &result {
            Ok(Delivery {
                partition, offset, ..
            }) => {
                if op.partition.is_none() {
                    span.set_shared_attribute(KeyValue::new(
                        attr::MESSAGING_DESTINATION_PARTITION_ID,
                        partition.to_string(),
                    ));
                }
                span.set_attribute(KeyValue::new(attr::MESSAGING_KAFKA_OFFSET, *offset));
                span.end();
            }
            Err((e, _)) => span.end_with_error(&error_type(e), &e.to_string()),
        }
        result
    }

    /// Sends a batch of records and waits for all their delivery reports,
    /// returning them in order.
    ///
    /// Spans (semconv batch sending): a `create {topic}` PRODUCER span per
    /// record whose context goes into that record's headers (a record that
    /// already carries a trace context keeps it and gets no create span),
    /// then one `send {topic}` CLIENT span with
    /// `messaging.batch.message_count` and a link to every record's
    /// creation context, ending when the last delivery report arrives.
    /// `{topic}` is omitted when the records go to several topics; the
    /// partition is recorded when it is the same for all. The first failed
    /// delivery sets `error.type`. With
    /// [`InstrumentationBuilder::create_spans(false)`](crate::InstrumentationBuilder::create_spans)
    /// there are no create spans and the send span is a PRODUCER span whose
    /// context every record carries.
    pub async fn send_batch<K, P, T>(
        &self,
        records: Vec<FutureRecord<'_, K, P>>,
        queue_timeout: T,
    ) -> Vec<OwnedDeliveryResult>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        T: Into<Timeout>,
    {
        let timeout: Timeout = queue_timeout.into();
        let inst = &self.client.inst;
        let topic = shared_value(records.iter().map(|r| r.topic));
        let mut op = self
            .client
            .op("send", OperationType::Send, topic.unwrap_or(""));
        if topic.is_none() {
            op.destination = None;
        }
        op.partition = shared_value(records.iter().map(|r| r.partition))
            .flatten()
            .map(|p| p.to_string());
        let chosen_partition = op.partition.is_some();
        let mut outgoing: Vec<OutgoingRecord<'_, '_, K, P>> = records
            .into_iter()
            .map(|record| OutgoingRecord {
                client: &self.client,
                record,
            })
            .collect();
        let mut span = inst.start_batch_send(op, &mut outgoing);
        let sends = outgoing
            .into_iter()
            .map(|o| self.producer.send(o.record, timeout));
        let results = futures_util::future::join_all(sends)
            .with_context(span.context().clone())
            .await;
        if let Some((e, _)) = results.iter().find_map(|r| r.as_ref().err()) {
            span.end_with_error(&error_type(e), &e.to_string());
        } else {
            let delivered = results.iter().filter_map(|r| r.as_ref().ok());
            if !chosen_partition && let Some(p) = shared_value(delivered.map(|d| d.partition)) {
                span.set_shared_attribute(KeyValue::new(
                    attr::MESSAGING_DESTINATION_PARTITION_ID,
                    p.to_string(),
                ));
            }
            span.end();
        }
        results
    }
}

/// One record of a batch send, for the shared batch span logic.
struct OutgoingRecord<'t, 'a, K: ToBytes + ?Sized, P: ToBytes + ?Sized> {
    client: &'t KafkaClient,
    record: FutureRecord<'a, K, P>,
}

impl<K, P> OutgoingMessage for OutgoingRecord<'_, '_, K, P>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    fn create_operation(&self) -> crate::operation::Operation {
        self.client.record_op(&self.record)
    }

    fn existing_context(&self, inst: &Instrumentation) -> SpanContext {
        match &self.record.headers {
            Some(h) if h.count() > 0 => inst.creation_context(&KafkaHeaderExtractor(h)),
            _ => SpanContext::empty_context(),
        }
    }

    fn capture_headers(&self, capture: &HeaderCapture, out: &mut Vec<KeyValue>) {
        if let Some(h) = &self.record.headers {
            capture.capture_from(&KafkaHeaderExtractor(h), out);
        }
    }

    fn inject(&mut self, inst: &Instrumentation, cx: &Context) {
        let mut injector = KafkaHeaderInjector::new();
        inst.inject(cx, &mut injector);
        if !injector.is_empty() {
            self.record.headers = Some(injector.apply(self.record.headers.take()));
        }
    }
}
