//! [`TracedConsumer`]: a Kafka consumer ([`StreamConsumer`] or
//! [`BaseConsumer`]) whose messages come with their `process` span, pull
//! polls as `poll` receive spans, batches with links, and traced commits.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_util::Stream;
use otel_kit_core::opentelemetry::propagation::Extractor;
use otel_kit_core::opentelemetry::trace::Link;
use otel_kit_core::opentelemetry::{Context, KeyValue};
use otel_kit_core::semconv::attribute as attr;
use rdkafka::config::{FromClientConfig, FromClientConfigAndContext};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, MessageStream, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Headers, Message, OwnedMessage};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, TopicPartitionList};

use super::KafkaHeaderExtractor;
use super::client::{KafkaClient, kafka_options};
use crate::delivered::Delivered;
use crate::instrumentation::Instrumentation;
use crate::operation::OperationType;
use crate::operation_span::OperationSpan;
use crate::settle::settle_sync;

/// A Kafka consumer whose messages come with their `process` span.
///
/// `C` is the consumer: [`StreamConsumer`] (the default; [`stream`](Self::stream)
/// and [`recv`](Self::recv)) or [`BaseConsumer`] ([`poll`](Self::poll)).
/// [`from_config`](Self::from_config) creates it and records the
/// configuration's `group.id` as `messaging.consumer.group.name` (with
/// `client.id` and the first bootstrap broker).
///
/// ```no_run
/// use futures_util::StreamExt;
/// use otel_kit_messaging::Instrumentation;
/// use otel_kit_messaging::kafka::TracedConsumer;
/// use otel_kit_messaging::kafka::rdkafka::ClientConfig;
/// use otel_kit_messaging::kafka::rdkafka::consumer::{CommitMode, Consumer};
/// use otel_kit_messaging::kafka::rdkafka::message::Message;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = ClientConfig::new();
/// config
///     .set("bootstrap.servers", "127.0.0.1:9092")
///     .set("group.id", "billing") // recorded as messaging.consumer.group.name
///     .set("enable.auto.commit", "false");
/// let consumer: TracedConsumer = TracedConsumer::from_config(&config, Instrumentation::default())?;
/// consumer.consumer().subscribe(&["orders"])?;
/// let mut messages = consumer.stream();
/// while let Some(message) = messages.next().await {
///     message?
///         .process(async |message| {
///             // Runs inside `process orders`; the commit is a settle span under it.
///             bill(message.payload().unwrap_or_default()).await?;
///             message.commit(consumer.consumer(), CommitMode::Async)?;
///             Ok::<_, Box<dyn std::error::Error>>(())
///         })
///         .await?;
/// }
/// # Ok(())
/// # }
/// # async fn bill(_: &[u8]) -> Result<(), std::io::Error> { Ok(()) }
/// ```
pub struct TracedConsumer<C = StreamConsumer> {
    consumer: C,
    client: KafkaClient,
}

impl<C> std::fmt::Debug for TracedConsumer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedConsumer")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl<C> TracedConsumer<C> {
    /// Wraps `consumer`. Its `group.id`, `client.id` and bootstrap broker
    /// are not readable from a created consumer: use
    /// [`from_config`](Self::from_config) or
    /// [`with_config`](Self::with_config) to record them.
    pub fn new(consumer: C, instrumentation: Instrumentation) -> Self {
        Self {
            consumer,
            client: KafkaClient::new(instrumentation),
        }
    }

    /// Creates the consumer from `config` and wraps it, recording the
    /// configuration's `group.id`, `client.id` and first
    /// `bootstrap.servers` entry.
    pub fn from_config(config: &ClientConfig, instrumentation: Instrumentation) -> KafkaResult<Self>
    where
        C: FromClientConfig,
    {
        Ok(Self::new(config.create()?, instrumentation).with_config(config))
    }

    /// [`from_config`](Self::from_config) with a consumer context.
    pub fn from_config_and_context<X: ConsumerContext>(
        config: &ClientConfig,
        context: X,
        instrumentation: Instrumentation,
    ) -> KafkaResult<Self>
    where
        C: FromClientConfigAndContext<X>,
    {
        Ok(Self::new(config.create_with_context(context)?, instrumentation).with_config(config))
    }

    kafka_options!();

    /// `messaging.kafka.cluster.id` as the cluster reports it (a metadata
    /// request, waiting at most `timeout`). Unchanged when the cluster does
    /// not answer in time.
    pub fn with_cluster_id_from_cluster<X: ConsumerContext>(
        mut self,
        timeout: impl Into<Timeout>,
    ) -> Self
    where
        C: Consumer<X>,
    {
        if let Some(id) = self.consumer.client().fetch_cluster_id(timeout) {
            self.client.set_cluster_id(id);
        }
        self
    }

    /// The configured `messaging.consumer.group.name` (the `group.id`).
    pub fn consumer_group(&self) -> Option<&str> {
        self.client.group.as_deref()
    }

    /// The wrapped consumer (subscribe, assign, seek, untraced calls).
    pub fn consumer(&self) -> &C {
        &self.consumer
    }

    /// Starts the process span of a consumed message (from this
    /// consumer, or an [`OwnedMessage`] kept for later) and pairs them.
    pub fn process<M: Message>(&self, message: M) -> Delivered<M> {
        self.client.process(message)
    }

    /// Adapts a message stream (a partition queue's `stream()`, a stream
    /// of [`OwnedMessage`]s) so it yields each message with its process
    /// span. [`stream`](Self::stream) does this for the consumer's own
    /// stream.
    pub fn wrap_stream<S>(&self, stream: S) -> TracedMessageStream<S> {
        TracedMessageStream {
            inner: stream,
            client: self.client.clone(),
        }
    }

    /// Starts one `process {topic}` span for a batch: a link to every
    /// message's creation context (with its partition and offset as link
    /// attributes) and `messaging.batch.message_count`. The destination is
    /// set when all messages share a topic. Run the batch with
    /// [`OperationSpan::in_span`], commit with [`commit`](Self::commit),
    /// then end the span.
    pub fn process_batch<M: Message>(&self, messages: &[M]) -> OperationSpan {
        let first_topic = messages.first().map(|m| m.topic()).unwrap_or("");
        let same_topic = messages.iter().all(|m| m.topic() == first_topic);
        let mut op = self
            .client
            .op("process", OperationType::Process, first_topic);
        if !same_topic || messages.is_empty() {
            op.destination = None;
        } else if let Some(p) = messages.first().map(|m| m.partition())
            && messages.iter().all(|m| m.partition() == p)
        {
            op.partition = Some(p.to_string());
        }
        op.batch_count = Some(messages.len());
        op.counts_consumed = true;
        let inst = &self.client.inst;
        let links: Vec<Link> = messages
            .iter()
            .filter_map(|m| {
                let sc = inst.creation_context(&KafkaHeaderExtractor(m.headers()?));
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
        inst.start(&op, &Context::current(), links, |_| {})
    }

    /// Commits the offsets in `offsets` in a `commit {topic}` settle span,
    /// child of `parent` (a batch process span, usually).
    pub fn commit<X: ConsumerContext>(
        &self,
        parent: &OperationSpan,
        offsets: &TopicPartitionList,
        mode: CommitMode,
    ) -> KafkaResult<()>
    where
        C: Consumer<X>,
    {
        let topics: Vec<String> = offsets
            .elements()
            .iter()
            .map(|e| e.topic().to_owned())
            .collect();
        let topic = match topics.split_first() {
            Some((first, rest)) if rest.iter().all(|t| t == first) => first.clone(),
            _ => String::new(),
        };
        let mut op = self.client.op("commit", OperationType::Settle, &topic);
        if topic.is_empty() {
            op.destination = None;
        }
        settle_sync(&self.client.inst, &op, parent.context(), "commit", || {
            self.consumer.commit(offsets, mode)
        })
    }
}

impl<X, R> TracedConsumer<StreamConsumer<X, R>>
where
    X: ConsumerContext + 'static,
{
    /// The consumer's message stream, each message with its process span.
    pub fn stream(&self) -> TracedMessageStream<MessageStream<'_, X>> {
        self.wrap_stream(self.consumer.stream())
    }

    /// Receives the next message with its process span.
    pub async fn recv(&self) -> KafkaResult<Delivered<BorrowedMessage<'_>>> {
        let message = self.consumer.recv().await?;
        Ok(self.client.process(message))
    }
}

impl<X> TracedConsumer<BaseConsumer<X>>
where
    X: ConsumerContext + 'static,
{
    /// Polls the consumer and, when a message arrives, records a
    /// `poll {topic}` receive span (CLIENT, from the start of the poll to
    /// its return, linked to the message's creation context) and returns the
    /// message with its process span. `None` when the poll timed out
    /// (no span); consumer errors are returned as they are, untraced.
    pub fn poll(
        &self,
        timeout: impl Into<Timeout>,
    ) -> Option<KafkaResult<Delivered<BorrowedMessage<'_>>>> {
        let inst = &self.client.inst;
        let started = (std::time::SystemTime::now(), std::time::Instant::now());
        let message = match self.consumer.poll(timeout)? {
            Ok(m) => m,
            Err(e) => return Some(Err(e)),
        };
        let extractor = message
            .headers()
            .filter(|h| h.count() > 0)
            .map(KafkaHeaderExtractor);
        let creation = extractor.as_ref().and_then(|e| inst.extract(e).remote());
        let mut receive = self.client.consumer_op(&message);
        receive.name = "poll";
        receive.op_type = OperationType::Receive;
        receive
            .span_attrs
            .retain(|kv| kv.key.as_str() != attr::MESSAGING_MESSAGE_BODY_SIZE);
        let links = creation.map(Link::with_context).into_iter().collect();
        inst.start_at(&receive, &Context::current(), links, |_| {}, Some(started))
            .end();
        let mut op = self.client.consumer_op(&message);
        // Counted once, by the receive span.
        op.counts_consumed = false;
        let span = inst.start_process(&op, extractor.as_ref().map(|e| e as &dyn Extractor));
        Some(Ok(Delivered::new(message, span, op)))
    }
}

impl KafkaClient {
    /// The process span of `message`, paired with it.
    fn process<M: Message>(&self, message: M) -> Delivered<M> {
        let op = self.consumer_op(&message);
        let extractor = message
            .headers()
            .filter(|h| h.count() > 0)
            .map(KafkaHeaderExtractor);
        let span = self
            .inst
            .start_process(&op, extractor.as_ref().map(|e| e as &dyn Extractor));
        Delivered::new(message, span, op)
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

/// Stream adaptor returned by [`TracedConsumer::stream`] and
/// [`TracedConsumer::wrap_stream`]: each message with its process span.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use otel_kit_messaging::kafka::TracedConsumer;
///
/// # async fn run(consumer: TracedConsumer) -> Result<(), otel_kit_messaging::kafka::rdkafka::error::KafkaError> {
/// let mut messages = consumer.stream();
/// while let Some(message) = messages.next().await {
///     let message = message?;
///     message.in_span(async { /* spans started here are children */ }).await;
///     message.end();
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TracedMessageStream<S> {
    inner: S,
    client: KafkaClient,
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
            Poll::Ready(Some(Ok(m))) => Poll::Ready(Some(Ok(this.client.process(m)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
