//! Kafka (rdkafka): header carrier, a traced [`FutureProducer`] wrapper
//! whose `send` span ends at the delivery report, consumer helpers for
//! [`StreamConsumer`](rdkafka::consumer::StreamConsumer) and
//! [`BaseConsumer`] messages (process
//! spans, a stream adaptor, batches with links, traced commits) and a
//! statistics bridge ([`StatsContext`]).
//!
//! Attributes per §4: `messaging.destination.name` = topic,
//! `messaging.destination.partition.id`, `messaging.kafka.offset`,
//! `messaging.kafka.message.key` (when it is UTF-8),
//! `messaging.kafka.message.tombstone` (only when true),
//! `messaging.consumer.group.name`, `messaging.client.id`,
//! `messaging.kafka.cluster.id` when configured with
//! [`KafkaTracing::with_cluster_id`] (or fetched from the cluster with
//! [`KafkaTracing::with_cluster_id_from`]), and `server.address` /
//! `server.port` when configured with [`KafkaTracing::with_server`].
//!
//! Batches: [`TracedProducer::send_batch`] makes a `create {topic}`
//! PRODUCER span per record (its context goes into that record's headers)
//! and one `send {topic}` CLIENT span linking them, with
//! `messaging.batch.message_count`; [`KafkaTracing::process_batch`] is the
//! consumer side (one `process` span linking every record's creation
//! context).
//!
//! `messaging.destination.subscription.name` is not recorded: the
//! conventions give Kafka's consumer group its own attribute
//! (`messaging.consumer.group.name`) and define no Kafka subscription.

mod carrier;

/// The client crate this module wraps, re-exported so versions always match.
pub use rdkafka;
mod stats;

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_util::Stream;
use otel_kit_core::instrument::{HeaderCapture, Propagation, type_error_type, variant_error_type};
use otel_kit_core::opentelemetry::context::FutureExt;
use otel_kit_core::opentelemetry::propagation::Extractor;
use otel_kit_core::opentelemetry::trace::{Link, SpanContext, TraceContextExt};
use otel_kit_core::opentelemetry::{Context, KeyValue, StringValue};
use otel_kit_core::semconv::attribute as attr;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Headers, Message, OwnedMessage, ToBytes};
use rdkafka::producer::future_producer::{Delivery, OwnedDeliveryResult};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::{AsyncRuntime, DefaultRuntime, Timeout};
use rdkafka::{ClientContext, TopicPartitionList};

pub use carrier::{KafkaHeaderExtractor, KafkaHeaderInjector};
pub use stats::{StatsContext, StatsRecorder};

use crate::common::{
    Delivered, Instrumentation, Operation, OperationSpan, OperationType, OutgoingMessage,
    settle_sync, shared_value,
};

const SYSTEM: &str = "kafka";

/// Span attribute `messaging.kafka.cluster.id` (semconv v1.44, Recommended;
/// not yet in the `opentelemetry-semantic-conventions` crate).
pub const MESSAGING_KAFKA_CLUSTER_ID: &str = "messaging.kafka.cluster.id";

/// `error.type` of a Kafka error by the family's rule: the class the
/// error names, that is the librdkafka error code name
/// (`MessageTimedOut`, `UnknownTopicOrPartition`…) when it carries one,
/// else the [`KafkaError`] variant (`Canceled`, `NoMessageReceived`…).
///
/// ```
/// use otel_kit_messaging::kafka::error_type;
/// use otel_kit_messaging::kafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
///
/// let timed_out = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
/// assert_eq!(error_type(&timed_out), "MessageTimedOut");
/// assert_eq!(error_type(&KafkaError::Canceled), "Canceled");
/// ```
pub fn error_type(e: &KafkaError) -> Cow<'static, str> {
    if let Some(code) = e.rdkafka_error_code() {
        return Cow::Owned(variant_error_type(&code));
    }
    // `KafkaError`'s `Debug` is not the derived one (`KafkaError (…)`), so
    // the variants without a code are named here.
    Cow::Borrowed(match e {
        KafkaError::AdminOpCreation(_) => "AdminOpCreation",
        KafkaError::Canceled => "Canceled",
        KafkaError::ClientConfig(..) => "ClientConfig",
        KafkaError::ClientCreation(_) => "ClientCreation",
        KafkaError::NoMessageReceived => "NoMessageReceived",
        KafkaError::Nul(_) => "Nul",
        KafkaError::PartitionEOF(_) => "PartitionEOF",
        KafkaError::PauseResume(_) => "PauseResume",
        KafkaError::Seek(_) => "Seek",
        KafkaError::Subscription(_) => "Subscription",
        _ => type_error_type::<KafkaError>(),
    })
}

/// Shared Kafka span options: instrumentation, consumer group, client id and
/// broker address. Cheap to clone.
#[derive(Clone, Debug)]
pub struct KafkaTracing {
    inst: Instrumentation,
    group: Option<String>,
    client_id: Option<String>,
    cluster_id: Option<StringValue>,
    server: Option<std::sync::Arc<(String, u16)>>,
}

impl KafkaTracing {
    /// Options with no group, client id, cluster id or server.
    pub fn new(instrumentation: Instrumentation) -> Self {
        Self {
            inst: instrumentation,
            group: None,
            client_id: None,
            cluster_id: None,
            server: None,
        }
    }

    /// `messaging.kafka.cluster.id` on every span.
    pub fn with_cluster_id(mut self, cluster_id: impl Into<String>) -> Self {
        self.cluster_id = Some(StringValue::from(std::sync::Arc::<str>::from(
            cluster_id.into(),
        )));
        self
    }

    /// `messaging.kafka.cluster.id` as the cluster reports it (a metadata
    /// request through `client`, e.g. `producer.client()` or
    /// `consumer.client()`, waiting at most `timeout`). Unchanged when the
    /// cluster does not answer in time.
    pub fn with_cluster_id_from<X: ClientContext>(
        self,
        client: &rdkafka::client::Client<X>,
        timeout: impl Into<Timeout>,
    ) -> Self {
        match client.fetch_cluster_id(timeout) {
            Some(id) => self.with_cluster_id(id),
            None => self,
        }
    }

    /// The configured `messaging.kafka.cluster.id`.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_ref().map(StringValue::as_str)
    }

    /// `messaging.consumer.group.name` on consumer spans and metrics (the
    /// consumer's `group.id`).
    pub fn with_consumer_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// `messaging.client.id` (the client's `client.id`).
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// `server.address` / `server.port` on every span and metric (a
    /// bootstrap broker). librdkafka does not tell which broker served an
    /// operation, so nothing is recorded unless this (or
    /// [`with_bootstrap_servers`](Self::with_bootstrap_servers)) is set.
    pub fn with_server(mut self, host: impl Into<String>, port: u16) -> Self {
        self.server = Some(std::sync::Arc::new((host.into(), port)));
        self
    }

    /// `server.address` / `server.port` from the client's
    /// `bootstrap.servers` list (its first entry: `host:port`,
    /// `[v6-address]:port`, optionally with a `PLAINTEXT://`-style prefix;
    /// port 9092 when none is given). Unchanged when the list holds no
    /// usable entry.
    ///
    /// ```
    /// use otel_kit_messaging::Instrumentation;
    /// use otel_kit_messaging::kafka::KafkaTracing;
    /// use otel_kit_messaging::kafka::rdkafka::config::ClientConfig;
    ///
    /// let mut config = ClientConfig::new();
    /// config.set("bootstrap.servers", "kafka-1.internal:9093,kafka-2.internal:9093");
    /// let tracing = KafkaTracing::new(Instrumentation::default())
    ///     .with_bootstrap_servers(config.get("bootstrap.servers").unwrap_or_default());
    /// assert_eq!(tracing.server(), Some(("kafka-1.internal", 9093)));
    /// ```
    pub fn with_bootstrap_servers(self, bootstrap_servers: &str) -> Self {
        match first_bootstrap_server(bootstrap_servers) {
            Some((host, port)) => self.with_server(host, port),
            None => self,
        }
    }

    /// The configured `server.address` and `server.port`.
    pub fn server(&self) -> Option<(&str, u16)> {
        self.server.as_deref().map(|(h, p)| (h.as_str(), *p))
    }

    /// The instrumentation in use.
    pub fn instrumentation(&self) -> &Instrumentation {
        &self.inst
    }

    fn op(&self, name: &'static str, op_type: OperationType, topic: &str) -> Operation {
        let mut op = Operation::new(SYSTEM, name, op_type).destination(topic);
        op.server = self.server.clone();
        if let Some(id) = &self.client_id {
            op.span_attrs
                .push(KeyValue::new(attr::MESSAGING_CLIENT_ID, id.clone()));
        }
        if let Some(id) = &self.cluster_id {
            op.span_attrs
                .push(KeyValue::new(MESSAGING_KAFKA_CLUSTER_ID, id.clone()));
        }
        if op_type != OperationType::Send {
            op.consumer_group = self.group.clone();
        }
        op
    }

    /// The `send` operation of one record: topic, partition when chosen,
    /// key, body size or tombstone.
    fn record_op<K, P>(&self, record: &FutureRecord<'_, K, P>) -> Operation
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let mut op = self.op("send", OperationType::Send, record.topic);
        if let Some(p) = record.partition {
            op.partition = Some(p.to_string());
        }
        if let Some(key) = record
            .key
            .and_then(|k| std::str::from_utf8(k.to_bytes()).ok())
        {
            op.span_attrs.push(KeyValue::new(
                attr::MESSAGING_KAFKA_MESSAGE_KEY,
                key.to_owned(),
            ));
        }
        match record.payload {
            Some(p) => op.span_attrs.push(KeyValue::new(
                attr::MESSAGING_MESSAGE_BODY_SIZE,
                p.to_bytes().len() as i64,
            )),
            None => op
                .span_attrs
                .push(KeyValue::new(attr::MESSAGING_KAFKA_MESSAGE_TOMBSTONE, true)),
        }
        op
    }

    fn consumer_op<M: Message>(&self, message: &M) -> Operation {
        let mut op = self.op("process", OperationType::Process, message.topic());
        op.partition = Some(message.partition().to_string());
        op.counts_consumed = true;
        op.span_attrs.push(KeyValue::new(
            attr::MESSAGING_KAFKA_OFFSET,
            message.offset(),
        ));
        if let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) {
            op.span_attrs.push(KeyValue::new(
                attr::MESSAGING_KAFKA_MESSAGE_KEY,
                key.to_owned(),
            ));
        }
        match message.payload() {
            Some(p) => op.span_attrs.push(KeyValue::new(
                attr::MESSAGING_MESSAGE_BODY_SIZE,
                p.len() as i64,
            )),
            None => op
                .span_attrs
                .push(KeyValue::new(attr::MESSAGING_KAFKA_MESSAGE_TOMBSTONE, true)),
        }
        op
    }

    fn headers_of<M: Message>(message: &M) -> Option<&M::Headers> {
        message.headers()
    }

    /// Starts the process span of a consumed message (from a
    /// `StreamConsumer`, a `BaseConsumer::poll`, or an [`OwnedMessage`]) and
    /// pairs them.
    pub fn process<M: Message>(&self, message: M) -> Delivered<M> {
        let op = self.consumer_op(&message);
        let extractor = Self::headers_of(&message)
            .filter(|h| h.count() > 0)
            .map(KafkaHeaderExtractor);
        let span = self
            .inst
            .start_process(&op, extractor.as_ref().map(|e| e as &dyn Extractor));
        Delivered::new(message, span, op)
    }

    /// Starts one `process {topic}` span for a batch: a link to every
    /// message's creation context (with its partition and offset as link
    /// attributes) and `messaging.batch.message_count`. The destination is
    /// set when all messages share a topic. Run the batch under
    /// [`OperationSpan::context`], then end the span.
    pub fn process_batch<M: Message>(&self, messages: &[M]) -> OperationSpan {
        let first_topic = messages.first().map(|m| m.topic()).unwrap_or("");
        let same_topic = messages.iter().all(|m| m.topic() == first_topic);
        let mut op = self.op("process", OperationType::Process, first_topic);
        if !same_topic || messages.is_empty() {
            op.destination = None;
        } else if let Some(p) = messages.first().map(|m| m.partition())
            && messages.iter().all(|m| m.partition() == p)
        {
            op.partition = Some(p.to_string());
        }
        op.batch_count = Some(messages.len());
        op.counts_consumed = true;
        let links: Vec<Link> = messages
            .iter()
            .filter_map(|m| {
                let sc = self
                    .inst
                    .creation_context(&KafkaHeaderExtractor(m.headers()?));
                sc.is_valid().then(|| {
                    Link::new(
                        sc,
                        vec![
                            KeyValue::new(
                                attr::MESSAGING_DESTINATION_PARTITION_ID,
                                m.partition().to_string(),
                            ),
                            KeyValue::new(attr::MESSAGING_KAFKA_OFFSET, m.offset()),
                        ],
                        0,
                    )
                })
            })
            .collect();
        self.inst.start(&op, &Context::current(), links, |_| {})
    }

    /// Commits the offsets in `offsets` in a `commit {topic}` settle span,
    /// child of `parent` (a batch process span, usually).
    pub fn commit<C: Consumer<X>, X: ConsumerContext>(
        &self,
        parent: &OperationSpan,
        consumer: &C,
        offsets: &TopicPartitionList,
        mode: CommitMode,
    ) -> KafkaResult<()> {
        let topics: Vec<String> = offsets
            .elements()
            .iter()
            .map(|e| e.topic().to_owned())
            .collect();
        let topic = match topics.split_first() {
            Some((first, rest)) if rest.iter().all(|t| t == first) => first.clone(),
            _ => String::new(),
        };
        let mut op = self.op("commit", OperationType::Settle, &topic);
        if topic.is_empty() {
            op.destination = None;
        }
        settle_sync(&self.inst, &op, parent.context(), "commit", || {
            consumer.commit(offsets, mode)
        })
    }

    /// Polls a [`BaseConsumer`] and, when a message arrives, records a
    /// `poll {topic}` receive span (CLIENT, from the start of the poll to
    /// its return, linked to the message's creation context) and returns the
    /// message with its process span. `None` when the poll timed out
    /// (no span); consumer errors are returned as they are, untraced.
    pub fn poll<'a, X: ConsumerContext>(
        &self,
        consumer: &'a BaseConsumer<X>,
        timeout: impl Into<Timeout>,
    ) -> Option<KafkaResult<Delivered<BorrowedMessage<'a>>>> {
        let started = (std::time::SystemTime::now(), std::time::Instant::now());
        let message = match consumer.poll(timeout)? {
            Ok(m) => m,
            Err(e) => return Some(Err(e)),
        };
        let extractor = message
            .headers()
            .filter(|h| h.count() > 0)
            .map(KafkaHeaderExtractor);
        let creation = extractor
            .as_ref()
            .and_then(|e| self.inst.extract(e).remote());
        let mut receive = self.consumer_op(&message);
        receive.name = "poll";
        receive.op_type = OperationType::Receive;
        receive
            .span_attrs
            .retain(|kv| kv.key.as_str() != attr::MESSAGING_MESSAGE_BODY_SIZE);
        let links = creation.map(Link::with_context).into_iter().collect();
        self.inst
            .start_at(&receive, &Context::current(), links, |_| {}, Some(started))
            .end();
        let mut op = self.consumer_op(&message);
        // Counted once, by the receive span.
        op.counts_consumed = false;
        let span = self
            .inst
            .start_process(&op, extractor.as_ref().map(|e| e as &dyn Extractor));
        Some(Ok(Delivered::new(message, span, op)))
    }

    /// Adapts a message stream (`StreamConsumer::stream()`) so it yields
    /// each message with its process span.
    pub fn stream<S>(&self, stream: S) -> TracedMessageStream<S> {
        TracedMessageStream {
            inner: stream,
            tracing: self.clone(),
        }
    }
}

impl<'a> Delivered<BorrowedMessage<'a>> {
    /// Commits this message's offset in a `commit {topic}` settle span,
    /// child of the process span.
    pub fn commit<C: Consumer<X>, X: ConsumerContext>(
        &self,
        consumer: &C,
        mode: CommitMode,
    ) -> KafkaResult<()> {
        self.settle_sync("commit", || consumer.commit_message(self.message(), mode))
    }
}

impl Delivered<OwnedMessage> {
    /// Commits this message's offset (+1) in a `commit {topic}` settle span.
    pub fn commit<C: Consumer<X>, X: ConsumerContext>(
        &self,
        consumer: &C,
        mode: CommitMode,
    ) -> KafkaResult<()> {
        let m = self.message();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(
            m.topic(),
            m.partition(),
            rdkafka::Offset::Offset(m.offset() + 1),
        )?;
        self.settle_sync("commit", || consumer.commit(&tpl, mode))
    }
}

/// Stream adaptor returned by [`KafkaTracing::stream`].
#[derive(Debug)]
pub struct TracedMessageStream<S> {
    inner: S,
    tracing: KafkaTracing,
}

impl<S, M> Stream for TracedMessageStream<S>
where
    S: Stream<Item = KafkaResult<M>> + Unpin,
    M: Message,
{
    type Item = KafkaResult<Delivered<M>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(m))) => Poll::Ready(Some(Ok(this.tracing.process(m)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A [`FutureProducer`] whose sends are traced.
#[derive(Clone)]
pub struct TracedProducer<C = rdkafka::client::DefaultClientContext, R = DefaultRuntime>
where
    C: ClientContext + 'static,
{
    producer: FutureProducer<C, R>,
    tracing: KafkaTracing,
}

impl<C: ClientContext + 'static, R> std::fmt::Debug for TracedProducer<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedProducer")
            .field("tracing", &self.tracing)
            .finish_non_exhaustive()
    }
}

impl<C, R> TracedProducer<C, R>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
{
    /// Wraps `producer`.
    pub fn new(producer: FutureProducer<C, R>, tracing: KafkaTracing) -> Self {
        Self { producer, tracing }
    }

    /// The wrapped producer (untraced sends, flush, transactions).
    pub fn producer(&self) -> &FutureProducer<C, R> {
        &self.producer
    }

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
        let inst = &self.tracing.inst;
        let op = self.tracing.record_op(&record);
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
}

impl<C, R> TracedProducer<C, R>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
{
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
        let inst = &self.tracing.inst;
        let topic = shared_value(records.iter().map(|r| r.topic));
        let mut op = self
            .tracing
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
                tracing: &self.tracing,
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
    tracing: &'t KafkaTracing,
    record: FutureRecord<'a, K, P>,
}

impl<K, P> OutgoingMessage for OutgoingRecord<'_, '_, K, P>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    fn create_operation(&self) -> Operation {
        self.tracing.record_op(&self.record)
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

/// The first `host:port` of a `bootstrap.servers` list (see
/// [`KafkaTracing::with_bootstrap_servers`]).
fn first_bootstrap_server(list: &str) -> Option<(&str, u16)> {
    const DEFAULT_PORT: u16 = 9092;
    let entry = list.split(',').map(str::trim).find(|e| !e.is_empty())?;
    let entry = entry.split_once("://").map_or(entry, |(_, rest)| rest);
    if let Some(v6) = entry.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if rest.is_empty() => DEFAULT_PORT,
            None => return None,
        };
        return (!host.is_empty()).then_some((host, port));
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (entry, DEFAULT_PORT),
    };
    (!host.is_empty() && !host.contains(':')).then_some((host, port))
}

/// Whether `cx` holds a valid span context (helper for users deciding to
/// link an ambient context).
pub fn has_span(cx: &Context) -> bool {
    cx.span().span_context().is_valid()
}

/// The span context a Kafka message's headers carry (invalid when none),
/// read with the global propagator by the family's extraction rule (see
/// [`Propagation`]): the remote span context the headers brought.
pub fn creation_span_context<M: Message>(message: &M) -> SpanContext {
    message
        .headers()
        .filter(|h| h.count() > 0)
        .and_then(|h| {
            Propagation::Global
                .extract(&KafkaHeaderExtractor(h))
                .remote()
        })
        .unwrap_or_else(SpanContext::empty_context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::RDKafkaErrorCode;

    #[test]
    fn bootstrap_servers_give_the_first_broker() {
        for (list, expected) in [
            ("127.0.0.1:9092", Some(("127.0.0.1", 9092))),
            (" kafka-1:9093 , kafka-2:9093", Some(("kafka-1", 9093))),
            ("kafka", Some(("kafka", 9092))),
            (
                "SASL_SSL://broker.example:9094",
                Some(("broker.example", 9094)),
            ),
            ("[::1]:29092,other:1", Some(("::1", 29092))),
            ("[fe80::1]", Some(("fe80::1", 9092))),
            ("", None),
            (",", None),
            ("host:notaport", None),
            (":9092", None),
            ("::1", None),
        ] {
            assert_eq!(first_bootstrap_server(list), expected, "{list:?}");
        }
    }

    #[test]
    fn error_type_is_the_code_name_then_the_variant() {
        assert_eq!(
            error_type(&KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut
            )),
            "MessageTimedOut"
        );
        assert_eq!(
            error_type(&KafkaError::ConsumerCommit(
                RDKafkaErrorCode::UnknownTopicOrPartition
            )),
            "UnknownTopicOrPartition"
        );
        assert_eq!(error_type(&KafkaError::Canceled), "Canceled");
        assert_eq!(
            error_type(&KafkaError::NoMessageReceived),
            "NoMessageReceived"
        );
        assert_eq!(
            error_type(&KafkaError::ClientCreation("bad config".into())),
            "ClientCreation"
        );
    }
}
